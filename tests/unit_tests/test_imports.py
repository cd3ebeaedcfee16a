"""The public names of langchain_niche are a contract: this pins them."""

import langchain_niche
import langchain_niche.compression as compression
import langchain_niche.pearl as pearl
import langchain_niche.routing as routing

EXPECTED_ALL = [
    "ENGLISH_STOPWORDS",
    "CompressionError",
    "DuplicateIdError",
    "EntityCompressor",
    "EntityGraph",
    "ExampleNotFoundError",
    "FallbackWarning",
    "HybridExampleSelector",
    "ExtractionParseError",
    "IndexFormatError",
    "InvalidDocumentError",
    "InvalidExampleError",
    "InvalidParameterError",
    "JaccardExampleSelector",
    "KeyMismatchError",
    "LexicalExampleSelector",
    "MissingKeyError",
    "NicheError",
    "ScoredExample",
    "TextAnalyzer",
    "TokenizerError",
    "VectorStoreError",
    "__version__",
    "approximate_token_count",
    "default_tokenizer",
    "jaccard",
]

# MinHash-LSH (issue 3)
EXPECTED_ALL += [
    "MinHashExampleSelector",
    "MinHasher",
    "MissingDependencyError",
    "RedisUrlError",
    "StoreUnavailableError",
    "dedupe_examples",
    "optimal_bands",
]

# datasketch interop (issue 11)
EXPECTED_ALL += [
    "add_datasketch_examples",
    "from_datasketch",
    "to_lean_minhash",
    "to_lean_minhashes",
]

# PEARL (issue 4)
EXPECTED_ALL += [
    "DEFAULT_ACTIONS",
    "PEARL",
    "SEED_ACTIONS",
    "Action",
    "ActionSet",
    "ContextBudgetError",
    "Demonstration",
    "PEARLBatchError",
    "PEARLEvent",
    "PEARLResult",
    "Plan",
    "PlanParseError",
    "PlanStep",
    "RetryPolicy",
    "StepExecutionError",
    "evaluate",
    "load_demonstrations",
    "load_quality_jsonl",
    "mine_actions",
    "parse_plan",
    "refine_demonstrations",
    "save_demonstrations",
    "simplify_actions",
]

# Teacher -> student routing (issue 13)
EXPECTED_ALL += [
    "AgreementPolicy",
    "AnswerFormatError",
    "CalibrationReport",
    "RouterStats",
    "SimilarityPolicy",
    "TeacherError",
    "TeacherStudentRouter",
    "acollect_examples",
    "collect_examples",
]

PEARL_ALL = [
    "DEFAULT_ACTIONS",
    "DEFAULT_DEMONSTRATIONS",
    "PEARL",
    "SEED_ACTIONS",
    "Action",
    "ActionFormatError",
    "ActionSet",
    "Argument",
    "ContextBudgetError",
    "Demonstration",
    "EvaluationItem",
    "EvaluationReport",
    "PEARLBatchError",
    "PEARLEvent",
    "PEARLInput",
    "PEARLResult",
    "Plan",
    "PlanAttempt",
    "PlanParseError",
    "PlanStep",
    "RetryPolicy",
    "SavedFileError",
    "StepExecutionError",
    "StepRecord",
    "Usage",
    "ZeroShotQA",
    "aevaluate",
    "agrade",
    "amine_actions",
    "arefine_demonstrations",
    "asimplify_actions",
    "bootstrap_interval",
    "compare",
    "evaluate",
    "format_reports",
    "grade",
    "llm_judge",
    "load_demonstrations",
    "load_quality_jsonl",
    "mine_actions",
    "parse_action",
    "parse_plan",
    "refine_demonstrations",
    "save_demonstrations",
    "simplify_actions",
    "split_text",
]


def test_all_is_pinned() -> None:
    assert sorted(langchain_niche.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in langchain_niche.__all__:
        assert getattr(langchain_niche, name) is not None, name


def test_pearl_all_is_pinned() -> None:
    assert sorted(pearl.__all__) == sorted(PEARL_ALL)
    for name in pearl.__all__:
        assert getattr(pearl, name) is not None, name


COMPRESSION_ALL = [
    "CompressionError",
    "CompressionResult",
    "Entity",
    "EntityCompressor",
    "EntityGraph",
    "Evidence",
    "ExtractedEntity",
    "ExtractedRelation",
    "Extraction",
    "ExtractionParseError",
    "InvalidDocumentError",
    "PropertyValue",
    "Relation",
    "parse_json_loosely",
    "render_graph",
]


def test_compression_all_is_pinned() -> None:
    assert sorted(compression.__all__) == sorted(COMPRESSION_ALL)
    for name in compression.__all__:
        assert getattr(compression, name) is not None, name


ROUTING_ALL = [
    "DEFAULT_SYSTEM_PROMPT",
    "AgreementPolicy",
    "AnswerFormatError",
    "CalibrationPoint",
    "CalibrationReport",
    "CollectFailure",
    "CollectReport",
    "Price",
    "PriceTable",
    "RouteDecision",
    "RouteStats",
    "RouterStats",
    "RoutingError",
    "SimilarityPolicy",
    "TeacherError",
    "TeacherStudentRouter",
    "acollect_examples",
    "collect_examples",
    "default_student_prompt",
    "exact_match",
    "normalize_answer",
    "sweep",
]


def test_routing_all_is_pinned() -> None:
    assert sorted(routing.__all__) == sorted(ROUTING_ALL)
    for name in routing.__all__:
        assert getattr(routing, name) is not None, name
