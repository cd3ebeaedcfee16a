"""langchain-niche: make a language model better at a niche task without fine-tuning.

Drop-in LangChain parts:

* :class:`JaccardExampleSelector`: exact, fast lexical few-shot example selection
  (Jaccard or BM25 over token sets, optional stop words).
* :class:`HybridExampleSelector`: embedding candidates fused with lexical scores.
"""

from langchain_niche._version import __version__
from langchain_niche.errors import (
    DuplicateIdError,
    ExampleNotFoundError,
    IndexFormatError,
    InvalidExampleError,
    InvalidParameterError,
    KeyMismatchError,
    MissingKeyError,
    NicheError,
    TokenizerError,
    VectorStoreError,
)
from langchain_niche.selectors import (
    FallbackWarning,
    HybridExampleSelector,
    JaccardExampleSelector,
    LexicalExampleSelector,
    ScoredExample,
    jaccard,
)
from langchain_niche.stopwords import ENGLISH_STOPWORDS
from langchain_niche.text import TextAnalyzer, default_tokenizer
from langchain_niche.tokens import approximate_token_count

__all__ = [
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
