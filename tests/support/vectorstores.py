"""A vector store with the minimal interface: ``add_texts``, ``similarity_search``, ``from_texts``.

``VectorStore`` makes everything else optional (``similarity_search_with_score``
raises ``NotImplementedError`` in the base class); langchain-core's
``SemanticSimilarityExampleSelector`` needs nothing more. The vectors live in an
``InMemoryVectorStore``, so the store pickles when its embedding model does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore


class MinimalVectorStore(VectorStore):
    def __init__(self, embedding: Embeddings) -> None:
        self._inner = InMemoryVectorStore(embedding)
        self.searches = 0

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        return self._inner.add_texts(list(texts), metadatas, ids=ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return self._inner.delete(ids)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        self.searches += 1
        return self._inner.similarity_search(query, k=k, **kwargs)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> MinimalVectorStore:
        store = cls(embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store
