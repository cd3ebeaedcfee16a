"""Copying and pickling a selector that holds a vector store, with a clear error when it cannot be.

The store is pickled on its own, inside the selector's pickle, so that a store
that cannot be pickled (an open client, a local embedding function) is named
in a :class:`~langchain_niche.errors.VectorStoreError` rather than surfacing as
pickle's bare error about some attribute deep inside it.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from typing import Any, ClassVar

from langchain_core.vectorstores import VectorStore
from pydantic import BaseModel
from typing_extensions import Self

from langchain_niche.errors import VectorStoreError

__all__ = [
    "PickledStore",
    "VectorStoreCopies",
    "deepcopy_store",
    "pickle_store_field",
    "unpickle_store_field",
]


class PickledStore:
    """The vector store of a pickled selector, pickled on its own."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def _copy_error(store: VectorStore, exc: Exception, *, pickling: bool) -> VectorStoreError:
    what, done = ("pickle", "pickled") if pickling else ("copy", "copied")
    msg = (
        f"cannot {what} HybridExampleSelector: its vector store {type(store).__name__} cannot be "
        f"{done} ({type(exc).__name__}: {exc}); use a store "
        "that can (e.g. InMemoryVectorStore with a picklable embedding model) or rebuild the "
        "selector with from_examples()"
    )
    return VectorStoreError(msg)


def pickle_store_field(state: dict[Any, Any], name: str) -> dict[Any, Any]:
    """A pydantic ``__getstate__`` result with the store field ``name`` pickled on its own.

    Raises:
        VectorStoreError: The store cannot be pickled.
    """
    fields = dict(state["__dict__"])
    store = fields[name]
    try:
        fields[name] = PickledStore(pickle.dumps(store, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        raise _copy_error(store, exc, pickling=True) from exc
    return {**state, "__dict__": fields}


def unpickle_store_field(state: dict[Any, Any], name: str) -> dict[Any, Any]:
    """Undo :func:`pickle_store_field` (the bytes come from the very pickle being loaded)."""
    fields = dict(state["__dict__"])
    stored = fields.get(name)
    if isinstance(stored, PickledStore):
        fields[name] = pickle.loads(stored.data)  # noqa: S301 - written by pickle_store_field
    return {**state, "__dict__": fields}


def deepcopy_store(store: VectorStore, memo: dict[int, Any]) -> None:
    """Deep-copy ``store`` into ``memo`` (the field copy that follows reuses it).

    Raises:
        VectorStoreError: The store cannot be copied.
    """
    try:
        copy.deepcopy(store, memo)
    except Exception as exc:
        raise _copy_error(store, exc, pickling=False) from exc


class VectorStoreCopies(BaseModel):
    """Copies and pickles of a pydantic selector holding a vector store in a field.

    ``copy.deepcopy``, ``pickle`` and ``model_copy(deep=True)`` give an
    independent selector when the store can be copied or pickled, and raise
    :class:`~langchain_niche.errors.VectorStoreError` naming the store otherwise.
    """

    _store_field: ClassVar[str] = "vectorstore"

    def __getstate__(self) -> dict[Any, Any]:
        return pickle_store_field(super().__getstate__(), self._store_field)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(unpickle_store_field(state, self._store_field))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        memo = {} if memo is None else memo
        deepcopy_store(getattr(self, self._store_field), memo)  # a clear error if it cannot
        return super().__deepcopy__(memo)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy the selector, optionally with other settings.

        Args:
            update: Settings of the copy (``{"k": 2}``), checked like an assignment.
            deep: ``True``: an independent selector, as ``copy.deepcopy`` gives.
                ``False``: a view of the same indexes and vector store.

        Returns:
            The copy.

        Raises:
            InvalidParameterError: An update is invalid.
        """
        copied = self.__deepcopy__() if deep else self.__copy__()
        for name, value in (update or {}).items():
            setattr(copied, name, value)
        return copied
