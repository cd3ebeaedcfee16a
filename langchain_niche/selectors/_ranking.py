"""Exact top-k of scored rows, shared by :class:`~langchain_niche.selectors.token_index.TokenSetIndex`'s queries.

Ties are broken by row number (insertion order) everywhere, so the Jaccard and
BM25 queries and their two passes (ordinary tokens, then frequent tokens only)
rank the same way.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["EPS", "best", "rank_by_jaccard"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

EPS = 1e-12
"""Relative slack of the score bounds (floating-point rounding never drops a tie)."""


def best(
    rows: IntArray, scores: FloatArray, limit: int, threshold: float
) -> tuple[IntArray, FloatArray]:
    """The best ``limit`` (row, score) pairs with score >= threshold (ties: lower row first)."""
    if threshold > 0:
        keep = scores >= threshold
        rows, scores = rows[keep], scores[keep]
    if rows.shape[0] > limit:
        cutoff = -np.partition(-scores, limit - 1)[limit - 1]
        keep = scores >= cutoff  # keeps every tie of the last place
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:limit]
    return rows[order], scores[order]


def rank_by_jaccard(
    rows: IntArray,
    shared: IntArray,
    q: int,
    lens: npt.NDArray[np.int32],
    *,
    limit: int,
    threshold: float,
) -> tuple[IntArray, FloatArray]:
    """Score rows exactly by Jaccard and keep the best ``limit`` (see :func:`best`).

    Args:
        rows: Candidate rows.
        shared: Tokens each shares with the query.
        q: The query's number of distinct tokens.
        lens: Every row's number of tokens.
        limit: How many rows to keep at most.
        threshold: Minimum similarity.

    Returns:
        ``(rows, scores)``, best first.
    """
    if rows.shape[0] == 0:
        return rows, np.empty(0, dtype=np.float64)
    if rows.shape[0] > 4 * limit:
        # The rows sharing the most tokens give a lower bound on the k-th score;
        # a row sharing c tokens scores at most c / q, so fewer cannot compete.
        top_shared = int(-np.partition(-shared, limit - 1)[limit - 1])
        head = shared >= top_shared
        head_shared = shared[head]
        head_scores = head_shared / (q + lens[rows[head]] - head_shared)
        kth = float(-np.partition(-head_scores, limit - 1)[limit - 1])
        floor_count = max(1, math.floor(max(kth, threshold) * q * (1 - EPS)))
        keep = shared >= floor_count
        rows, shared = rows[keep], shared[keep]
    return best(rows, shared / (q + lens[rows] - shared), limit, threshold)
