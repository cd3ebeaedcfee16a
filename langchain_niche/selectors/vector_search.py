"""The vector side of :class:`~langchain_niche.selectors.hybrid.HybridExampleSelector`.

Any LangChain ``VectorStore`` works: one with relevance scores, one with raw
scores (similarities or distances), or one that implements only
``similarity_search`` (its ranking then stands in for scores). What a store can
do is found out once and remembered in :class:`StoreAbilities`.

Also here: what a document holds (the example's text, its id and filter-key
values in the metadata) and how a selection's scope becomes the store's own
filter (``InMemoryVectorStore``: a callable; Chroma: a ``where`` dict).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

from langchain_niche._sansio import Call
from langchain_niche.errors import InvalidParameterError
from langchain_niche.scope import Scope
from langchain_niche.selectors.fusion import ID_KEY, rank_scores
from langchain_niche.text import example_fields

__all__ = [
    "StoreAbilities",
    "embedded_text",
    "example_documents",
    "example_metadata",
    "native_filter",
    "scoped_search_kwargs",
    "searching_vectors",
]

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


def searching_vectors(
    store: VectorStore, text: str, k: int, kwargs: dict[str, Any], abilities: StoreAbilities
) -> Generator[Call, Any, list[tuple[Document, float]]]:
    """The ``k`` nearest documents with the best scores the store offers (sans I/O).

    Args:
        store: The vector store.
        text: The query text.
        k: Number of documents.
        kwargs: Extra arguments of the search (e.g. a filter).
        abilities: What the store supports (updated).

    Returns:
        ``(document, score)`` pairs, best first (the searches are the requests:
        the store's sync methods, or their native async twins).
    """
    if "k" in kwargs:  # as calling the search with k=k, **kwargs would
        msg = "the similarity search got multiple values for keyword argument 'k'"
        raise TypeError(msg)
    options = {"k": k, **kwargs}
    name = _scored_search(store, abilities)
    if name is not None:
        try:
            hits: list[tuple[Document, float]] = yield Call(
                getattr(store, name), getattr(store, f"a{name}"), (text,), options
            )
        except NotImplementedError:
            abilities.no_scores(store)
        else:
            return hits
    documents = yield Call(store.similarity_search, store.asimilarity_search, (text,), options)
    return rank_scores(documents)


def embedded_text(variables: Mapping[str, Any], input_keys: Sequence[str]) -> str:
    """The text embedded for an example or an input: its ``input_keys`` fields, joined."""
    return " ".join(example_fields(variables, sorted(input_keys)))


def example_documents(
    ids: Sequence[str],
    examples: Sequence[Mapping[str, Any]],
    input_keys: Sequence[str],
    filter_keys: Sequence[str] | None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The vector store's documents for examples: their texts and their metadata."""
    texts = [embedded_text(example, input_keys) for example in examples]
    return texts, [example_metadata(i, e, filter_keys) for i, e in zip(ids, examples, strict=True)]


def example_metadata(
    example_id: str, example: Mapping[str, Any], filter_keys: Sequence[str] | None
) -> dict[str, Any]:
    """A document's metadata: the example id and its filter-key values (scalars, not None)."""
    metadata: dict[str, Any] = {ID_KEY: example_id}
    for key in filter_keys or ():
        value = example.get(key)
        if isinstance(value, str | int | bool):
            metadata[key] = value
    return metadata


def native_filter(store: VectorStore, scope: Scope) -> Any:
    """The scope in the store's own filter format, or ``None`` when it has none we know."""
    if isinstance(store, InMemoryVectorStore):
        return scope.to_callable()
    if any(cls.__module__.startswith("langchain_chroma") for cls in type(store).__mro__):
        try:
            return scope.to_chroma_where()
        except InvalidParameterError:  # None values: enforced on our side only
            return None
    return None


def scoped_search_kwargs(
    store: VectorStore,
    vectorstore_kwargs: dict[str, Any],
    filter_keys: Sequence[str] | None,
    scope: Scope,
) -> dict[str, Any]:
    """The search's arguments: ``vectorstore_kwargs`` plus the scope as the store's filter.

    Only the conditions on ``filter_keys`` (the fields kept in the metadata) go
    to the store; the selector checks every hit against the whole scope anyway.

    Raises:
        InvalidParameterError: ``vectorstore_kwargs`` sets a ``filter`` of its own
            and the selection is scoped.
    """
    keys = set(filter_keys or ())
    in_metadata = Scope(tuple((name, ok) for name, ok in scope.conditions if name in keys))
    if in_metadata.is_unrestricted():
        return vectorstore_kwargs
    native = native_filter(store, in_metadata)
    if native is None:
        return vectorstore_kwargs
    if "filter" in vectorstore_kwargs:
        msg = (
            "vectorstore_kwargs sets 'filter' and the selection is scoped; pass the scope "
            "as filter_keys / filter= only"
        )
        raise InvalidParameterError(msg, name="vectorstore_kwargs", value="filter")
    return {**vectorstore_kwargs, "filter": native}
