"""Score fusion of :class:`~langchain_niche.selectors.hybrid.HybridExampleSelector` (pure functions).

The vector side arrives as ``(Document, score)`` pairs in the store's order;
the lexical side as exact scores or a ranking. Nothing here touches a store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.documents import Document

__all__ = [
    "ID_KEY",
    "kept_candidates",
    "rank_scores",
    "rrf_scores",
    "vector_candidates",
    "weighted_order",
]

ID_KEY = "niche_id"
"""Metadata key holding the example id in vector-store documents."""


def rank_scores(documents: Sequence[Document]) -> list[tuple[Document, float]]:
    """Scores for a store without scores: the rank rescaled to [0, 1] (best 1, last 0).

    Args:
        documents: The store's ranking, best first.

    Returns:
        ``(document, score)`` pairs in the same order.
    """
    last = len(documents) - 1
    return [(doc, 1.0 - i / last if last else 1.0) for i, doc in enumerate(documents)]


def vector_candidates(
    hits: Sequence[tuple[Document, float]], *, may_be_distances: bool
) -> tuple[list[str], list[float]]:
    """Example ids in vector order, with scores oriented so that higher is better.

    Args:
        hits: The store's ``(document, score)`` pairs, best first.
        may_be_distances: The scores are raw store scores (no relevance
            function): when they grow down the ranking they are distances and are
            rescaled to [0, 1], best 1.

    Returns:
        The ids (first occurrence of each; documents without a string id are
        skipped) and their scores.
    """
    ids: list[str] = []
    scores: list[float] = []
    seen: set[str] = set()
    for document, score in hits:
        example_id = document.metadata.get(ID_KEY, document.id)
        if isinstance(example_id, str) and example_id not in seen:
            seen.add(example_id)
            ids.append(example_id)
            scores.append(float(score))
    if may_be_distances and len(scores) > 1 and scores[-1] > scores[0]:
        lo, hi = scores[0], scores[-1]
        scores = [(hi - s) / (hi - lo) for s in scores]
    return ids, scores


def kept_candidates(
    ids: Sequence[str], scores: Sequence[float], keep: Callable[[str], bool]
) -> tuple[list[str], list[float]]:
    """The vector candidates ``keep`` accepts, with their scores, in the same order."""
    kept = [n for n, example_id in enumerate(ids) if keep(example_id)]
    return [ids[n] for n in kept], [scores[n] for n in kept]


def weighted_order(fused: Sequence[float]) -> list[int]:
    """Positions of ``fused`` by decreasing score, ties by position (the vector rank).

    Args:
        fused: One fused score per vector candidate.

    Returns:
        The positions, best first.
    """
    return sorted(range(len(fused)), key=lambda i: (-fused[i], i))


def rrf_scores(
    rankings: Sequence[tuple[Sequence[str], float]], rrf_k: int
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: ``sum(weight / (rrf_k + rank))`` over the rankings (rank 1 = best).

    Args:
        rankings: ``(ids best first, weight)`` per source.
        rrf_k: The rank offset.

    Returns:
        Every id of any ranking with its fused score, best first; ties in
        order of first appearance (first ranking first).
    """
    fused: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, example_id in enumerate(ids, start=1):
            fused[example_id] = fused.get(example_id, 0.0) + weight / (rrf_k + rank)
    first_seen = {example_id: n for n, example_id in enumerate(fused)}
    order = sorted(fused, key=lambda i: (-fused[i], first_seen[i]))
    return [(example_id, fused[example_id]) for example_id in order]
