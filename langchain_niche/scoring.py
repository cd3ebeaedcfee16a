"""BM25 over token *sets*: the one formula every BM25 score of the package comes from.

With sets every term frequency is 1, so a row's score is the sum of the
inverse document frequencies of the query tokens it holds times a length
factor::

    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    gain(len) = (k1 + 1) / (1 + k1 * (1 - b + b * len / avg_len))
    score = sum(idf(t) for t in query & row) * gain(len(row)) / upper
    upper = sum(idf(t) for t in query) * gain(0)

``upper`` is the score of an ideal (empty-length) row holding every query token,
so normalised scores lie in [0, 1]. They are rounded to
:data:`BM25_DECIMALS` decimals so that equal sums added in another order tie
exactly (and then fall back to insertion order).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["BM25_DECIMALS", "average_length", "bm25_gain", "bm25_idf", "bm25_scores"]

BM25_DECIMALS = 12
"""Decimals normalised BM25 scores are rounded to."""

FloatArray = npt.NDArray[np.float64]
_Length = TypeVar("_Length", float, FloatArray)


def bm25_idf(n_rows: int, df: npt.ArrayLike) -> FloatArray:
    """Inverse document frequency of tokens found in ``df`` of ``n_rows`` rows.

    Args:
        n_rows: Number of rows (documents).
        df: Number of rows holding each token.

    Returns:
        ``ln(1 + (N - df + 0.5) / (df + 0.5))`` per token (always > 0).
    """
    freq = np.asarray(df, dtype=np.float64)
    idf: FloatArray = np.log1p((n_rows - freq + 0.5) / (freq + 0.5))
    return idf


def average_length(total: float, n_rows: int) -> float:
    """The average row length BM25 normalises by (1.0 for an empty corpus).

    Args:
        total: Sum of the row lengths.
        n_rows: Number of rows.

    Returns:
        ``total / n_rows``, or 1.0 when either is 0.
    """
    return total / n_rows if n_rows and total else 1.0


def bm25_gain(length: _Length, *, k1: float, b: float, avg_len: float) -> _Length:
    """The length factor of rows of ``length`` tokens.

    Args:
        length: A row length, or an array of them.
        k1: Saturation (with sets it only scales the length normalisation).
        b: Length normalisation in [0, 1] (0: ignore the length).
        avg_len: Average row length (:func:`average_length`).

    Returns:
        ``(k1 + 1) / (1 + k1 * (1 - b + b * length / avg_len))``, shaped like ``length``.
    """
    return (k1 + 1) / (1 + k1 * (1 - b + b * length / avg_len))


def bm25_scores(
    matched_idf: npt.ArrayLike,
    lengths: npt.ArrayLike,
    *,
    query_idf: float,
    k1: float,
    b: float,
    avg_len: float,
) -> FloatArray:
    """Normalised BM25 scores of rows, in [0, 1], rounded to :data:`BM25_DECIMALS`.

    Args:
        matched_idf: Per row, the summed idf of the query tokens it holds.
        lengths: Per row, its number of tokens.
        query_idf: The summed idf of all query tokens.
        k1: Saturation.
        b: Length normalisation.
        avg_len: Average row length.

    Returns:
        One score per row (all 0.0 when the query has no weight).
    """
    sums = np.asarray(matched_idf, dtype=np.float64)
    upper = query_idf * bm25_gain(0.0, k1=k1, b=b, avg_len=avg_len)
    if upper <= 0:
        return np.zeros(sums.shape, dtype=np.float64)
    gain = bm25_gain(np.asarray(lengths, dtype=np.float64), k1=k1, b=b, avg_len=avg_len)
    scores: FloatArray = np.round(sums * gain / upper, BM25_DECIMALS)
    return scores
