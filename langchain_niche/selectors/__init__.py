"""Example selectors: drop-in ``BaseExampleSelector`` implementations."""

from langchain_niche.selectors import base
from langchain_niche.selectors.base import LexicalExampleSelector, ScoredExample, jaccard
from langchain_niche.selectors.hybrid import FallbackWarning, HybridExampleSelector
from langchain_niche.selectors.jaccard import JaccardExampleSelector
from langchain_niche.selectors.minhash import MinHashExampleSelector

# Importing the submodule ``selectors.jaccard`` above rebinds the package attribute
# ``jaccard`` to that module; the public name is the similarity function.
jaccard = base.jaccard  # noqa: F811

__all__ = [
    "FallbackWarning",
    "HybridExampleSelector",
    "JaccardExampleSelector",
    "LexicalExampleSelector",
    "MinHashExampleSelector",
    "ScoredExample",
    "jaccard",
]
