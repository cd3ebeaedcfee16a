"""Examples plus one index per set of compared fields, in this process: shared by every in-memory selector.

:class:`IndexedStore` is the part the Jaccard selector and the in-memory MinHash
backend have in common: an :class:`~langchain_niche.selectors.example_store.ExampleStore`
of the examples and, per set of compared fields, an index built on first use;
adds that encode outside the lock and re-encode for an index built meanwhile,
removals with compaction, byte accounting, and the snapshot that ``save`` writes
and ``load`` restores (through :mod:`langchain_niche.persistence`). A subclass
says how examples are encoded and how an index takes rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from langchain_core.runnables.config import run_in_executor

from langchain_niche._copying import PicklableRLock
from langchain_niche.errors import InvalidExampleError, MissingKeyError
from langchain_niche.persistence import IndexReader
from langchain_niche.selectors.example_store import ExampleStore
from langchain_niche.selectors.examples import Record, SavedState

__all__ = ["IndexedStore"]

IntArray = npt.NDArray[np.int64]
_COMPACT_MIN_DEAD = 1024
_ASYNC_INLINE_BATCH = 256


class _Index(Protocol):
    @property
    def nbytes(self) -> int: ...

    def compact(self, keep: npt.NDArray[np.bool_]) -> None: ...


IndexT = TypeVar("IndexT", bound=_Index)
EncodedT = TypeVar("EncodedT")


class IndexedStore(ABC, Generic[IndexT, EncodedT]):
    """Examples and their indexes (one per set of compared fields) under one lock.

    Thread-safe: writers and readers take :attr:`lock`; an add encodes outside
    it, so selections go on meanwhile.

    Args:
        fixed_keys: The compared fields when fixed up front (``input_keys``);
            otherwise an index per set of compared fields is built on first use.
    """

    def __init__(self, fixed_keys: tuple[str, ...] | None) -> None:
        self.lock = PicklableRLock()  # a copy or an unpickled store gets a new lock
        self.store = ExampleStore()
        self.indexes: dict[tuple[str, ...], IndexT] = {}
        if fixed_keys is not None:
            self.indexes[fixed_keys] = self._new_index()

    # -- what a subclass provides ---------------------------------------------------
    @abstractmethod
    def _new_index(self) -> IndexT:
        """An empty index."""

    @abstractmethod
    def _encode(self, examples: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> EncodedT:
        """Encode the compared fields of examples (raises ``MissingKeyError``/``InvalidExampleError``)."""

    @abstractmethod
    def _append(self, index: IndexT, encoded: EncodedT, rows: IntArray, n_rows: int) -> None:
        """Grow ``index`` to ``n_rows`` rows: ``encoded`` at ``rows`` (ascending), empty rows elsewhere."""

    def _built(self, index: IndexT) -> None:
        """Called once an index was built over the stored examples (e.g. to merge segments)."""

    # -- reads ------------------------------------------------------------------------
    def state_lock(self) -> AbstractContextManager[Any]:
        """:attr:`lock`: selections, copies and pickles hold it."""
        return self.lock

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Whether a selection may run on the event loop: its index is built."""
        return compared is None or compared in self.indexes

    @property
    def nbytes(self) -> int:
        """Bytes of the index arrays and the example store's arrays (not the dicts)."""
        with self.lock:
            store_bytes = self.store.n_rows * (8 + 1 + 8)  # seq, alive flag, list slot
            return store_bytes + sum(index.nbytes for index in self.indexes.values())

    def count(self) -> int:
        """Number of stored examples."""
        return len(self.store)

    def known_keys(self) -> list[str]:
        """Field names seen in the examples."""
        return self.store.keys

    def all_records(self) -> list[Record]:
        """Every ``(id, example)`` in insertion order."""
        with self.lock:
            store = self.store
            return [(store.id_of(row), example) for row, example in store.iter_live()]

    def index_for(self, compared: tuple[str, ...]) -> IndexT:
        """The index of a set of compared fields, built on first use.

        Args:
            compared: The compared fields (sorted).

        Returns:
            The index.

        Raises:
            MissingKeyError: A stored example lacks a compared field.
            InvalidExampleError: A compared field of a stored example is not text.
        """
        with self.lock:
            index = self.indexes.get(compared)
            if index is not None:
                return index
            live = list(self.store.iter_live())
            try:
                encoded = self._encode([example for _, example in live], compared)
            except (MissingKeyError, InvalidExampleError) as exc:
                bad = live[exc.index][0] if exc.index is not None else None
                where = f"example {self.store.id_of(bad)!r}" if bad is not None else "an example"
                msg = f"cannot compare on fields {list(compared)}: {where}: {exc}"
                raise type(exc)(msg, index=exc.index, key=exc.key) from exc  # type: ignore[arg-type]
            index = self._new_index()
            rows = np.array([row for row, _ in live], dtype=np.int64)
            self._append(index, encoded, rows, self.store.n_rows)
            self._built(index)
            self.indexes[compared] = index
            return index

    # -- writes -------------------------------------------------------------------------
    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Add examples: all of them, or none (validation runs before any change)."""
        with self.lock:
            self.store.plan_ids(len(examples), ids)
            key_sets = list(self.indexes)
        encoded = {keys: self._encode(examples, keys) for keys in key_sets}
        with self.lock:
            for keys in self.indexes:
                if keys not in encoded:  # built by a concurrent query meanwhile
                    encoded[keys] = self._encode(examples, keys)
            planned = self.store.plan_ids(len(examples), ids)
            first = self.store.n_rows
            new_ids = self.store.append(examples, planned)
            rows = np.arange(first, self.store.n_rows, dtype=np.int64)
            for keys, index in self.indexes.items():
                self._append(index, encoded[keys], rows, self.store.n_rows)
        return new_ids

    async def aadd(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """As :meth:`add`; a large batch is encoded in the default executor."""
        if len(examples) <= _ASYNC_INLINE_BATCH:
            return self.add(examples, ids)
        return await run_in_executor(None, self.add, examples, ids)

    async def aremove(self, target: str | Mapping[str, Any]) -> list[str]:
        """As :meth:`remove` (quick: it runs inline)."""
        return self.remove(target)

    def remove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Remove an example by id, or every example equal to a dict; returns the ids.

        Raises:
            ExampleNotFoundError: Nothing matches.
            InvalidParameterError: ``target`` is neither a string nor a dict.
        """
        with self.lock:
            removed = self.store.remove_rows(self.store.rows_for(target))
            store = self.store
            if store.n_dead >= max(_COMPACT_MIN_DEAD, store.n_rows // 4):
                self._compact()
        return removed

    def _compact(self) -> None:
        keep = self.store.compact()
        for index in self.indexes.values():
            index.compact(keep)

    # -- persistence ----------------------------------------------------------------------
    def _saved_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Index arrays a saved file holds (none: the indexes are rebuilt on load)."""
        return {}

    def saved_state(self) -> SavedState:
        """A consistent snapshot of the examples (and index arrays) to write to a file."""
        with self.lock:
            arrays = self._saved_arrays()
            store = self.store
            return SavedState(
                records=self.all_records(),
                arrays={**arrays, "seq": store.live_seqs()},
                next_seq=store.next_seq,
                compared_keys=[list(keys) for keys in self.indexes],
            )

    def restore_records(self, reader: IndexReader) -> list[tuple[str, ...]]:
        """Refill this empty store with a saved file's examples and ids.

        Args:
            reader: The open file.

        Returns:
            The saved sets of compared fields (their indexes are dropped: the
            caller rebuilds or restores them).

        Raises:
            IndexFormatError: The ids or insertion numbers are inconsistent.
        """
        next_seq = reader.integer("next_seq", default=0)
        compared = reader.compared_keys()
        records = reader.records()
        seqs = reader.array("seq", kinds="iu", shape=(len(records),))
        try:
            self.store.restore(
                [example for _, example in records],
                [example_id for example_id, _ in records],
                seqs.astype(np.int64),
                next_seq,
            )
        except ValueError as exc:
            msg = f"inconsistent ids: {exc}"
            raise reader.error(msg, "seq.npy") from exc
        self.indexes.clear()
        return compared
