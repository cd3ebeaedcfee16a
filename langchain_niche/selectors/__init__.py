"""Example selectors: drop-in ``BaseExampleSelector`` implementations."""

from langchain_niche.selectors.base import LexicalExampleSelector, ScoredExample, jaccard
from langchain_niche.selectors.hybrid import FallbackWarning, HybridExampleSelector
from langchain_niche.selectors.jaccard import JaccardExampleSelector

__all__ = [
    "FallbackWarning",
    "HybridExampleSelector",
    "JaccardExampleSelector",
    "LexicalExampleSelector",
    "ScoredExample",
    "jaccard",
]
