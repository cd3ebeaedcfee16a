"""The public names of langchain_niche are a contract: this pins them."""

import langchain_niche

EXPECTED_ALL = [
    "DuplicateIdError",
    "ExampleNotFoundError",
    "IndexFormatError",
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
    "ScoredExample",
    "StoreUnavailableError",
    "TextAnalyzer",
    "TokenizerError",
    "__version__",
    "approximate_token_count",
    "dedupe_examples",
    "default_tokenizer",
    "jaccard",
    "optimal_bands",
]


def test_all_is_pinned() -> None:
    assert sorted(langchain_niche.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in langchain_niche.__all__:
        assert getattr(langchain_niche, name) is not None, name
