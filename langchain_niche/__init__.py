"""langchain-niche: make a language model better at a niche task without fine-tuning.

Drop-in LangChain parts:

* :class:`JaccardExampleSelector`: exact, fast few-shot example selection.
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
)
from langchain_niche.selectors import (
    JaccardExampleSelector,
    LexicalExampleSelector,
    ScoredExample,
    jaccard,
)
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
    "MissingKeyError",
    "NicheError",
    "ScoredExample",
    "TextAnalyzer",
    "TokenizerError",
    "__version__",
    "approximate_token_count",
    "default_tokenizer",
    "jaccard",
]
