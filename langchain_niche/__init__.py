"""langchain-niche: make a language model better at a niche task without fine-tuning.

Drop-in LangChain parts:

* :class:`JaccardExampleSelector`: exact, fast few-shot example selection.
* :class:`MinHashExampleSelector`: MinHash-LSH selection for millions of examples,
  in memory or shared through Redis; :func:`dedupe_examples` removes near-duplicates.
"""

from langchain_niche._version import __version__
from langchain_niche.banding import optimal_bands
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
    StoreUnavailableError,
    TokenizerError,
)
from langchain_niche.selectors import (
    JaccardExampleSelector,
    LexicalExampleSelector,
    MinHashExampleSelector,
    ScoredExample,
    jaccard,
)
from langchain_niche.sketches import MinHasher
from langchain_niche.text import TextAnalyzer, default_tokenizer
from langchain_niche.tokens import approximate_token_count

__all__ = [
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
