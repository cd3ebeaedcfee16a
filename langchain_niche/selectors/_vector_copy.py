"""Copying and pickling a selector that holds a vector store, with a clear error when it cannot be.

The store is pickled on its own, inside the selector's pickle, so that a store
that cannot be pickled (an open client, a local embedding function) is named
in a :class:`~langchain_niche.errors.VectorStoreError` rather than surfacing as
pickle's bare error about some attribute deep inside it.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from langchain_core.vectorstores import VectorStore

from langchain_niche.errors import VectorStoreError

__all__ = ["PickledStore", "deepcopy_store", "pickle_store_field", "unpickle_store_field"]


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
