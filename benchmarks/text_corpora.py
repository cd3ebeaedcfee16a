"""Reproducible corpora of short texts built from real English words, offline.

The words and their frequencies come from the prose shipped with every Python
installation (``pydoc_data.topics``, the Language Reference, and the docstrings
of the standard-library modules in ``langchain_niche.datasets.STDLIB_MODULES``:
about 8,000 distinct words, 345,000 occurrences). Sampling texts of 5-30 words
from that empirical distribution gives a realistic, heavy-tailed vocabulary
(frequent function words, many rare words) at any corpus size, with no download.
A vocabulary this small is the *hard* case for an inverted index (long posting
lists). The same seed gives the same corpus on every machine with the same
Python version.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

__all__ = ["make_queries", "make_texts", "word_distribution"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@lru_cache(maxsize=1)
def word_distribution() -> tuple[list[str], list[int]]:
    """Words of Python's own documentation with their counts (most frequent first)."""
    import importlib
    import inspect
    import warnings
    from collections import Counter
    from pydoc_data.topics import topics

    from langchain_niche.datasets import STDLIB_MODULES

    counts = Counter(w.lower() for text in topics.values() for w in _WORD.findall(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in STDLIB_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            objects = [module, *vars(module).values()]
            for obj in objects:
                if not (inspect.ismodule(obj) or inspect.isroutine(obj) or inspect.isclass(obj)):
                    continue
                docs = [inspect.getdoc(obj)]
                if inspect.isclass(obj):
                    docs.extend(inspect.getdoc(f) for f in vars(obj).values() if callable(f))
                for doc in docs:
                    if doc:
                        counts.update(w.lower() for w in _WORD.findall(doc))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [w for w, _ in ranked], [c for _, c in ranked]


def make_texts(n: int, seed: int = 0, min_words: int = 5, max_words: int = 30) -> list[str]:
    """``n`` texts of ``min_words``-``max_words`` words drawn from the real word distribution."""
    words, weights = word_distribution()
    rng = random.Random(seed)
    cum = list(_accumulate(weights))
    out = []
    for _ in range(n):
        length = rng.randint(min_words, max_words)
        out.append(" ".join(rng.choices(words, cum_weights=cum, k=length)))
    return out


def make_queries(n: int, seed: int = 10_000) -> list[str]:
    """Queries from the same distribution (a different seed: they are not corpus members)."""
    return make_texts(n, seed=seed)


def _accumulate(weights: list[int]) -> list[int]:
    total = 0
    out = []
    for w in weights:
        total += w
        out.append(total)
    return out
