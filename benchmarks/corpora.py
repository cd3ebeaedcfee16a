"""Reproducible corpora of short texts for the selection benchmarks (no download).

:func:`zipf_texts` draws texts of 5-30 words from the real words of this Python's
documentation (``pydoc_data.topics``) and standard-library docstrings
(:func:`langchain_niche.datasets.python_api_examples`), ranked by their real
frequency and sampled with a seeded Zipf law (exponent 1.0, like natural text):
common words ("the", "a", "of") appear in most texts, as in real corpora, which
is what makes short texts hard for LSH.

:func:`planted_neighbours` adds, for a set of query texts, variants at chosen
Jaccard similarities (tokens of the query replaced by other words), so the
recall of a selector can be measured per similarity band, including the low
bands where MinHash-LSH is weak.

Everything is a pure function of ``seed`` (for a given Python version).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pydoc_data.topics import topics

import numpy as np

from langchain_niche.datasets import python_api_examples

__all__ = ["planted_neighbours", "vocabulary", "zipf_texts"]

_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Real words, most frequent first (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for text in topics.values():
        counts.update(_WORD.findall(text.lower()))
    for example in python_api_examples():
        counts.update(_WORD.findall(example["description"].lower()))
    return tuple(sorted(counts, key=lambda w: (-counts[w], w)))


def _zipf_weights(size: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return weights / weights.sum()


def zipf_texts(count: int, seed: int = 0, min_words: int = 5, max_words: int = 30) -> list[str]:
    """``count`` texts of ``min_words``-``max_words`` Zipf-distributed real words.

    Args:
        count: Number of texts.
        seed: Random seed.
        min_words: Fewest words per text.
        max_words: Most words per text.

    Returns:
        The texts.
    """
    words = np.array(vocabulary())
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_words, max_words + 1, size=count)
    draws = rng.choice(words.shape[0], size=int(lengths.sum()), p=_zipf_weights(words.shape[0]))
    tokens = words[draws]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return [" ".join(tokens[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def planted_neighbours(queries: list[str], per_query: int, seed: int = 1) -> list[tuple[int, str]]:
    """Variants of each query at similarities spread over (0, 1].

    A variant keeps the query's distinct words and replaces ``m`` of them with
    words absent from the query (similarity ``(n - m) / (n + m)``); ``m`` is drawn
    uniformly from 0 to ``n - 1``, so variants cover the whole range.

    Args:
        queries: Query texts.
        per_query: Variants per query.
        seed: Random seed.

    Returns:
        ``(query index, variant text)`` pairs.
    """
    words = vocabulary()
    rng = np.random.default_rng(seed)
    out: list[tuple[int, str]] = []
    for q, text in enumerate(queries):
        distinct = list(dict.fromkeys(text.split()))
        present = set(distinct)
        for _ in range(per_query):
            m = int(rng.integers(0, len(distinct)))
            replaced = set(rng.choice(len(distinct), size=m, replace=False).tolist())
            variant = []
            for i, word in enumerate(distinct):
                if i in replaced:
                    while (new := words[int(rng.integers(len(words)))]) in present:
                        pass
                    variant.append(new)
                else:
                    variant.append(word)
            out.append((q, " ".join(variant)))
    return out
