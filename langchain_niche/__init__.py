"""langchain-niche: make a language model better at a niche task without fine-tuning.

Drop-in LangChain parts:

* :class:`JaccardExampleSelector`: exact, fast lexical few-shot example selection
  (Jaccard or BM25 over token sets, optional stop words).
* :class:`HybridExampleSelector`: embedding candidates fused with lexical scores.
* :class:`PEARL`: plan-and-execute over long documents (``langchain_niche.pearl``).
* :class:`EntityCompressor`: replace long documents by the entities a task needs
  (schema and graph types in :mod:`langchain_niche.compression`).
* :class:`MinHashExampleSelector`: MinHash-LSH selection for millions of examples,
  in memory or shared through Redis; :func:`dedupe_examples` removes near-duplicates;
  :func:`from_datasketch` / :func:`to_lean_minhash` exchange signatures with datasketch.
* :class:`TeacherStudentRouter`: a cheap student answers with a strong teacher's
  past answers as examples; the teacher answers what they do not cover
  (``langchain_niche.routing``).
"""

from langchain_niche._version import __version__
from langchain_niche.compression import (
    CompressionError,
    EntityCompressor,
    EntityGraph,
    ExtractionParseError,
    InvalidDocumentError,
)
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.errors import (
    DuplicateIdError,
    ExampleNotFoundError,
    IndexFormatError,
    InvalidExampleError,
    InvalidParameterError,
    KeyMismatchError,
    MissingDependencyError,
    MissingKeyError,
    NicheError,
    RedisUrlError,
    StoreUnavailableError,
    TokenizerError,
    VectorStoreError,
)
from langchain_niche.minhash.banding import optimal_bands
from langchain_niche.minhash.datasketch_interop import (
    add_datasketch_examples,
    from_datasketch,
    to_lean_minhash,
    to_lean_minhashes,
)
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.pearl import (
    DEFAULT_ACTIONS,
    PEARL,
    SEED_ACTIONS,
    Action,
    ActionSet,
    ContextBudgetError,
    Demonstration,
    PEARLBatchError,
    PEARLEvent,
    PEARLResult,
    Plan,
    PlanParseError,
    PlanStep,
    RetryPolicy,
    StepExecutionError,
    evaluate,
    load_demonstrations,
    load_quality_jsonl,
    mine_actions,
    parse_plan,
    refine_demonstrations,
    save_demonstrations,
    simplify_actions,
)
from langchain_niche.routing import (
    AgreementPolicy,
    AnswerFormatError,
    CalibrationReport,
    RouterStats,
    SimilarityPolicy,
    TeacherError,
    TeacherStudentRouter,
    acollect_examples,
    collect_examples,
)
from langchain_niche.selectors import (
    FallbackWarning,
    HybridExampleSelector,
    JaccardExampleSelector,
    LexicalExampleSelector,
    MinHashExampleSelector,
    ScoredExample,
)
from langchain_niche.stopwords import ENGLISH_STOPWORDS
from langchain_niche.text import TextAnalyzer, default_tokenizer, jaccard
from langchain_niche.tokens import approximate_token_count

__all__ = [
    "DEFAULT_ACTIONS",
    "ENGLISH_STOPWORDS",
    "PEARL",
    "SEED_ACTIONS",
    "Action",
    "ActionSet",
    "AgreementPolicy",
    "AnswerFormatError",
    "CalibrationReport",
    "CompressionError",
    "ContextBudgetError",
    "Demonstration",
    "DuplicateIdError",
    "EntityCompressor",
    "EntityGraph",
    "ExampleNotFoundError",
    "ExtractionParseError",
    "FallbackWarning",
    "HybridExampleSelector",
    "IndexFormatError",
    "InvalidDocumentError",
    "InvalidExampleError",
    "InvalidParameterError",
    "JaccardExampleSelector",
    "KeyMismatchError",
    "LexicalExampleSelector",
    "MinHashExampleSelector",
    "MinHasher",
    "MissingDependencyError",
    "MissingKeyError",
    "NicheError",
    "PEARLBatchError",
    "PEARLEvent",
    "PEARLResult",
    "Plan",
    "PlanParseError",
    "PlanStep",
    "RedisUrlError",
    "RetryPolicy",
    "RouterStats",
    "ScoredExample",
    "SimilarityPolicy",
    "StepExecutionError",
    "StoreUnavailableError",
    "TeacherError",
    "TeacherStudentRouter",
    "TextAnalyzer",
    "TokenizerError",
    "VectorStoreError",
    "__version__",
    "acollect_examples",
    "add_datasketch_examples",
    "approximate_token_count",
    "collect_examples",
    "dedupe_examples",
    "default_tokenizer",
    "evaluate",
    "from_datasketch",
    "jaccard",
    "load_demonstrations",
    "load_quality_jsonl",
    "mine_actions",
    "optimal_bands",
    "parse_plan",
    "refine_demonstrations",
    "save_demonstrations",
    "simplify_actions",
    "to_lean_minhash",
    "to_lean_minhashes",
]
