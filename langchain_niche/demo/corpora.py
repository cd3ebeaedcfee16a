"""The demo's corpora: one real corpus, and one large corpus shared by every section.

Both the selection section's speed table and the MinHash section index the same
large corpus (:func:`large_corpus`), so their "100,000 examples" are the same
examples and :func:`describe` says what they are.
"""

from __future__ import annotations

import random
from functools import lru_cache

from langchain_niche.datasets import python_api_examples

__all__ = ["LARGE_SIZE", "describe", "large_corpus"]

LARGE_SIZE = 100_000
"""Size of the large corpus the demo times selections on."""

_SEED = 11


@lru_cache(maxsize=2)
def _large(size: int) -> tuple[tuple[str, str], ...]:
    real = python_api_examples()
    rng = random.Random(_SEED)  # noqa: S311 - reproducible sampling, not security
    words = [w for e in real for w in e["description"].split()]
    extra = tuple(
        (" ".join(rng.choices(words, k=rng.randint(5, 30))), f"x.f{i}")
        for i in range(max(0, size - len(real)))
    )
    return tuple((e["description"], e["function"]) for e in real) + extra


def large_corpus(size: int = LARGE_SIZE) -> list[dict[str, str]]:
    """The real examples first, then texts of 5-30 words recombined from theirs (seeded).

    Args:
        size: Examples in all (at least the real ones are always included).

    Returns:
        Fresh ``{"description", "function"}`` dicts; recombined ones are named ``x.f<i>``.
    """
    return [{"description": d, "function": f} for d, f in _large(size)]


def describe(size: int = LARGE_SIZE) -> str:
    """What the large corpus of ``size`` examples is made of, for a caption."""
    real = len(python_api_examples())
    return (
        f"{max(size, real):,} examples = {real:,} stdlib docstrings + "
        f"{max(0, size - real):,} texts of 5-30 words recombined from their words (seeded)"
    )
