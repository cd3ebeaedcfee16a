"""The public names of langchain_niche are a contract: this pins them."""

import langchain_niche

EXPECTED_ALL = [
    "ENGLISH_STOPWORDS",
    "DuplicateIdError",
    "ExampleNotFoundError",
    "FallbackWarning",
    "HybridExampleSelector",
    "IndexFormatError",
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


def test_all_is_pinned() -> None:
    assert sorted(langchain_niche.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in langchain_niche.__all__:
        assert getattr(langchain_niche, name) is not None, name
