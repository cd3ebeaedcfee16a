"""The vector side of :class:`~langchain_niche.selectors.hybrid.HybridExampleSelector`.

Any LangChain ``VectorStore`` works: one with relevance scores, one with raw
scores (similarities or distances), or one that implements only
``similarity_search`` (its ranking then stands in for scores). What a store can
do is found out once and remembered in :class:`StoreAbilities`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from langchain_niche.selectors.fusion import rank_scores

__all__ = ["StoreAbilities", "asearch_vectors", "search_vectors"]

logger = logging.getLogger("langchain_niche.selectors.hybrid")


@dataclass
class StoreAbilities:
    """What a vector store was found to support (``None``: not checked yet)."""

    scores: bool | None = None
    relevance: bool | None = None

    @property
    def may_return_distances(self) -> bool:
        """Its scores are raw store scores (no relevance function), perhaps distances."""
        return bool(self.scores) and not self.relevance

    def has_scores(self, store: VectorStore) -> bool:
        """Whether the store returns scores (a minimal one implements only ``similarity_search``)."""
        if self.scores is None:
            cls = type(store)
            self.scores = (
                cls.similarity_search_with_score is not VectorStore.similarity_search_with_score
                or cls.asimilarity_search_with_score
                is not VectorStore.asimilarity_search_with_score
            )
        return self.scores

    def has_relevance(self, store: VectorStore) -> bool:
        """Whether the store maps its scores to [0, 1] relevance (langchain-core's hook)."""
        if self.relevance is None:
            try:
                store._select_relevance_score_fn()  # langchain-core's hook
            except NotImplementedError:
                self.relevance = False
            else:
                self.relevance = True
        return self.relevance

    def no_scores(self, store: VectorStore) -> None:
        """Remember that the store has no scores (it raised ``NotImplementedError``)."""
        self.scores = False
        logger.info(
            "HybridExampleSelector: %s returns no scores; its ranking is used",
            type(store).__name__,
        )


def _scored_search(store: VectorStore, abilities: StoreAbilities) -> str | None:
    """The name of the store's best scored search, or ``None`` for its ranking only."""
    if not abilities.has_scores(store):
        return None
    if abilities.has_relevance(store):
        return "similarity_search_with_relevance_scores"
    return "similarity_search_with_score"


def search_vectors(
    store: VectorStore, text: str, k: int, kwargs: dict[str, Any], abilities: StoreAbilities
) -> list[tuple[Document, float]]:
    """The ``k`` nearest documents with the best scores the store offers.

    Args:
        store: The vector store.
        text: The query text.
        k: Number of documents.
        kwargs: Extra arguments of the search (e.g. a filter).
        abilities: What the store supports (updated).

    Returns:
        ``(document, score)`` pairs, best first.
    """
    name = _scored_search(store, abilities)
    if name is not None:
        try:
            hits: list[tuple[Document, float]] = getattr(store, name)(text, k=k, **kwargs)
        except NotImplementedError:
            abilities.no_scores(store)
        else:
            return hits
    return rank_scores(store.similarity_search(text, k=k, **kwargs))


async def asearch_vectors(
    store: VectorStore, text: str, k: int, kwargs: dict[str, Any], abilities: StoreAbilities
) -> list[tuple[Document, float]]:
    """Async twin of :func:`search_vectors` (the store's native async searches)."""
    name = _scored_search(store, abilities)
    if name is not None:
        try:
            hits: list[tuple[Document, float]] = await getattr(store, f"a{name}")(
                text, k=k, **kwargs
            )
        except NotImplementedError:
            abilities.no_scores(store)
        else:
            return hits
    return rank_scores(await store.asimilarity_search(text, k=k, **kwargs))
