"""Where a MinHash-LSH selector keeps its examples and index: the storage contract.

A storage answers four lookups for a query (:class:`LshStorage`): the rows
sharing a whole band (``banded``), the rows sharing a band *prefix* ranked by
how many prefixes they share (``probed``), every row sharing a token
(``scanned``) and the examples of some rows (``records``). Rows are integers
in insertion order (ties between equal scores are broken by them).

Every operation is written once as a generator that yields low-level *calls*
(for Redis: a script or a command) and receives their replies; :func:`run_sync`
and :func:`run_async` drive it with a blocking or an asyncio client. The
in-memory storage never yields, so its operations run to completion at once;
the Redis storage gets native async without a second copy of its logic.

:class:`MemoryLshStorage` is the embedded default: an
:class:`~langchain_niche.selectors.example_store.ExampleStore` of the examples
plus, per set of compared fields, a :class:`TokenRows` and a :class:`BandTable`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import InvalidExampleError, MissingKeyError
from langchain_niche.selectors.example_store import ExampleStore
from langchain_niche.selectors.lsh_encoding import EncodedBatch, LshEncoder, LshQuery
from langchain_niche.selectors.lsh_index import BandTable, TokenRows

__all__ = [
    "AnyRows",
    "Call",
    "LshStorage",
    "MemoryLshStorage",
    "Plan",
    "RowTokens",
    "run_async",
    "run_sync",
    "top_probe_rows",
]

IntArray = npt.NDArray[np.int64]
AnyRows = npt.NDArray[np.integer[Any]]
U64Array = npt.NDArray[np.uint64]
T = TypeVar("T")

Call = tuple[Any, ...]
"""A low-level operation of a storage (its own format), yielded by a plan."""

Plan = Generator[Call, Any, T]
"""An operation written as a generator of calls that returns a ``T``."""

_COMPACT_MIN_DEAD = 1024


def run_sync(plan: Plan[T], execute: Callable[[Call], Any]) -> T:
    """Run a plan, executing each call with a blocking function.

    Args:
        plan: The operation.
        execute: Executes one call and returns its reply.

    Returns:
        The plan's result.
    """
    try:
        call = next(plan)
        while True:
            call = plan.send(execute(call))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def run_async(plan: Plan[T], execute: Callable[[Call], Awaitable[Any]]) -> T:
    """Run a plan, awaiting each call.

    Args:
        plan: The operation.
        execute: Executes one call and returns an awaitable of its reply.

    Returns:
        The plan's result.
    """
    try:
        call = next(plan)
        while True:
            call = plan.send(await execute(call))
    except StopIteration as stop:
        result: T = stop.value
        return result


@dataclass(frozen=True)
class RowTokens:
    """Some rows (ascending) with their token ids."""

    rows: IntArray
    """Row numbers, ascending, distinct."""
    tokens: U64Array
    """Token ids of the rows, row after row."""
    lens: IntArray
    """Number of token ids of each row."""
    docs: Mapping[int, Any] | None = None
    """Stored documents already fetched with the rows (storage-specific), if any."""

    @classmethod
    def empty(cls) -> RowTokens:
        """No rows."""
        return cls(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        )


def top_probe_rows(hits: AnyRows, exclude: IntArray, limit: int) -> IntArray:
    """The rows a probe found most often, at most ``limit`` of them.

    Rows are taken by hit count, highest first, one whole count level at a time,
    while the level fits in what is left of ``limit``; the first level that does
    not fit ends the choice (rows hit as often are equally promising, and a
    level is never cut arbitrarily). Only when the top level alone exceeds
    ``limit`` are its lowest rows taken. At scale this drops the long tail of
    rows sharing a single band prefix by chance.

    Args:
        hits: Rows found by the probe, one entry per matching band prefix.
        exclude: Rows to leave out (already candidates), ascending.
        limit: Maximum number of rows.

    Returns:
        The chosen rows, ascending.
    """
    if hits.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    rows, counts = np.unique(hits, return_counts=True)  # rows ascending
    if exclude.shape[0]:
        pos = np.minimum(np.searchsorted(rows, exclude), rows.shape[0] - 1)
        keep = np.ones(rows.shape[0], dtype=np.bool_)
        keep[pos[rows[pos] == exclude]] = False
        rows, counts = rows[keep], counts[keep]
    if rows.shape[0] > limit:
        per_level = np.bincount(counts)[::-1]  # rows per count, highest count first
        top = int(np.flatnonzero(per_level)[0])
        fits = np.flatnonzero(np.cumsum(per_level) <= limit)
        if fits.shape[0]:
            rows = rows[counts >= per_level.shape[0] - 1 - int(fits[-1])]
        else:  # the top level alone is too large: its lowest rows
            rows = rows[counts == per_level.shape[0] - 1 - top][:limit]
    return rows.astype(np.int64, copy=False)


class LshStorage(ABC):
    """What a MinHash-LSH selector needs from its storage (memory or Redis)."""

    #: Whether :meth:`scanned` is available (a full scan of every example).
    supports_scan: bool = False

    @abstractmethod
    def banded(
        self, compared: tuple[str, ...], query: LshQuery, *, probe_limit: int | None = None
    ) -> Plan[tuple[RowTokens, RowTokens | None]]:
        """Rows sharing at least one whole band with the query, with their token ids.

        With ``probe_limit`` a storage may also run the probe (:meth:`probed`,
        leaving out the banded rows) in the same step to save a round trip, and
        return its rows as the second item; ``None`` otherwise.
        """

    @abstractmethod
    def probed(
        self, compared: tuple[str, ...], query: LshQuery, exclude: IntArray, limit: int
    ) -> Plan[RowTokens]:
        """Rows sharing band prefixes with the query, chosen by :func:`top_probe_rows`.

        ``exclude`` (ascending) are left out.
        """

    def scanned(self, compared: tuple[str, ...], query: LshQuery) -> Plan[RowTokens]:
        """Every row sharing at least one token with the query."""
        msg = f"{type(self).__name__} cannot scan every example"
        raise NotImplementedError(msg)

    @abstractmethod
    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> Plan[list[tuple[str, dict[str, Any]] | None]]:
        """``(id, example)`` of each row (``None`` for a row removed meanwhile).

        ``known`` holds documents already fetched (:attr:`RowTokens.docs`).
        """

    @abstractmethod
    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> Plan[list[str]]:
        """Add validated copies of examples; returns their ids."""

    @abstractmethod
    def remove(self, target: str | Mapping[str, Any]) -> Plan[list[str]]:
        """Remove an example by id, or every example equal to a dict; returns the ids."""

    @abstractmethod
    def count(self) -> Plan[int]:
        """Number of stored examples."""

    @abstractmethod
    def all_records(self) -> Plan[list[tuple[str, dict[str, Any]]]]:
        """Every ``(id, example)``, in insertion order."""

    @abstractmethod
    def known_keys(self) -> Plan[list[str]]:
        """Every field name seen in an example."""


class _KeyIndex:
    """The index of one set of compared fields."""

    def __init__(self) -> None:
        self.tokens = TokenRows()
        self.bands = BandTable()

    @property
    def nbytes(self) -> int:
        return self.tokens.nbytes + self.bands.nbytes

    def append(self, encoded: EncodedBatch, rows: IntArray) -> None:
        self.tokens.append(encoded.tokens, encoded.lens)
        self.bands.append(encoded.keys, rows)

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        self.tokens.compact(keep)
        self.bands.compact(keep)


def _nothing() -> Generator[Call, Any, None]:
    """Makes a function a generator that never yields (in-memory plans)."""
    if False:  # pragma: no cover
        yield ()


class MemoryLshStorage(LshStorage):
    """Examples and LSH indexes in this process's memory (numpy arrays).

    Thread-safe: writers and readers take :attr:`lock`; a selection runs under it
    from its first lookup to its last, so rows never change under its feet.

    Args:
        encoder: Computes token ids and band keys.
        fixed_keys: The compared fields when fixed up front (``input_keys``);
            otherwise an index per set of compared fields is built on first use.
    """

    supports_scan = True

    def __init__(self, encoder: LshEncoder, fixed_keys: tuple[str, ...] | None) -> None:
        self.encoder = encoder
        self.lock = threading.RLock()
        self.store = ExampleStore()
        self.indexes: dict[tuple[str, ...], _KeyIndex] = {}
        if fixed_keys is not None:
            self.indexes[fixed_keys] = _KeyIndex()

    # -- reads ------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes of the index arrays and the example store's arrays (not the dicts)."""
        with self.lock:
            store_bytes = self.store.n_rows * (8 + 1 + 8)  # seq, alive flag, list slot
            return store_bytes + sum(index.nbytes for index in self.indexes.values())

    def index_for(self, compared: tuple[str, ...]) -> _KeyIndex:
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
                encoded = self.encoder.encode_examples([example for _, example in live], compared)
            except (MissingKeyError, InvalidExampleError) as exc:
                bad = live[exc.index][0] if exc.index is not None else None
                where = f"example {self.store.id_of(bad)!r}" if bad is not None else "an example"
                msg = f"cannot compare on fields {list(compared)}: {where}: {exc}"
                raise type(exc)(msg, index=exc.index, key=exc.key) from exc  # type: ignore[arg-type]
            rows = np.array([row for row, _ in live], dtype=np.int64)
            all_lens = np.zeros(self.store.n_rows, dtype=np.int64)
            all_lens[rows] = encoded.lens
            index = _KeyIndex()
            index.tokens.append(encoded.tokens, all_lens)
            index.bands.append(encoded.keys, rows)
            self.indexes[compared] = index
            return index

    def _alive(self, rows: AnyRows) -> AnyRows:
        if self.store.n_dead == 0:
            return rows
        kept: AnyRows = rows[self.store.alive[rows]]
        return kept

    def _row_tokens(self, index: _KeyIndex, rows: IntArray) -> RowTokens:
        tokens, lens = index.tokens.gather(rows)
        return RowTokens(rows, tokens, lens)

    def banded(
        self, compared: tuple[str, ...], query: LshQuery, *, probe_limit: int | None = None
    ) -> Plan[tuple[RowTokens, RowTokens | None]]:
        """Rows sharing a band with the query (see :class:`LshStorage`).

        In memory the probe costs no round trip: it runs only when asked for.
        """
        yield from _nothing()
        index = self.index_for(compared)
        rows = self._alive(np.unique(index.bands.lookup(query.keys))).astype(np.int64)
        return self._row_tokens(index, rows), None

    def probed(
        self, compared: tuple[str, ...], query: LshQuery, exclude: IntArray, limit: int
    ) -> Plan[RowTokens]:
        """Rows sharing the most band prefixes (see :class:`LshStorage`)."""
        yield from _nothing()
        index = self.index_for(compared)
        hits = self._alive(index.bands.probe(query.probe_lo, query.probe_hi))
        return self._row_tokens(index, top_probe_rows(hits, exclude, limit))

    def scanned(self, compared: tuple[str, ...], query: LshQuery) -> Plan[RowTokens]:
        """Every live row sharing a token with the query (a full scan)."""
        yield from _nothing()
        index = self.index_for(compared)
        rows, _ = index.tokens.scan(query.tokens)
        return self._row_tokens(index, self._alive(rows).astype(np.int64))

    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> Plan[list[tuple[str, dict[str, Any]] | None]]:
        """Ids and examples of live rows."""
        yield from _nothing()
        store = self.store
        return [(store.id_of(row), store.get(row)) for row in rows.tolist()]

    def count(self) -> Plan[int]:
        """Number of stored examples."""
        yield from _nothing()
        return len(self.store)

    def all_records(self) -> Plan[list[tuple[str, dict[str, Any]]]]:
        """Every ``(id, example)`` in insertion order."""
        yield from _nothing()
        with self.lock:
            store = self.store
            return [(store.id_of(row), example) for row, example in store.iter_live()]

    def known_keys(self) -> Plan[list[str]]:
        """Field names seen in the examples."""
        yield from _nothing()
        return self.store.keys

    # -- writes -----------------------------------------------------------------
    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> Plan[list[str]]:
        """Add examples: all of them, or none (validation runs before any change)."""
        yield from _nothing()
        with self.lock:
            self.store.plan_ids(len(examples), ids)
            key_sets = list(self.indexes)
        encoded = {keys: self.encoder.encode_examples(examples, keys) for keys in key_sets}
        with self.lock:
            for keys in self.indexes:
                if keys not in encoded:  # built by a concurrent query meanwhile
                    encoded[keys] = self.encoder.encode_examples(examples, keys)
            planned = self.store.plan_ids(len(examples), ids)
            first = self.store.n_rows
            new_ids = self.store.append(examples, planned)
            rows = np.arange(first, first + len(examples), dtype=np.int64)
            for keys, index in self.indexes.items():
                index.append(encoded[keys], rows)
        return new_ids

    def remove(self, target: str | Mapping[str, Any]) -> Plan[list[str]]:
        """Remove by id or by equality (see :class:`LshStorage`)."""
        yield from _nothing()
        with self.lock:
            rows = self.store.rows_for(target)
            removed = self.store.remove_rows(rows)
            store = self.store
            if store.n_dead >= max(_COMPACT_MIN_DEAD, store.n_rows // 4):
                keep = store.compact()
                for index in self.indexes.values():
                    index.compact(keep)
        return removed

    # -- persistence --------------------------------------------------------------
    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The index arrays of every set of compared fields (live rows only)."""
        with self.lock:
            store = self.store
            keep = store.alive.copy()
            if not keep.all():
                store.compact()
                for index in self.indexes.values():
                    index.compact(keep)
            out: dict[str, npt.NDArray[Any]] = {}
            for n, index in enumerate(self.indexes.values()):
                tokens, lens = index.tokens.arrays()
                keys, rows = index.bands.arrays()
                out.update(
                    {
                        f"tokens_{n}": tokens,
                        f"lens_{n}": lens,
                        f"band_keys_{n}": keys,
                        f"band_rows_{n}": rows,
                    }
                )
            return out

    def restore_index(
        self,
        compared: tuple[str, ...],
        tokens: U64Array,
        lens: IntArray,
        band_keys: U64Array,
        band_rows: npt.NDArray[np.int32],
    ) -> None:
        """Install a saved index for a set of compared fields.

        Args:
            compared: The compared fields.
            tokens: Token ids of every row.
            lens: Size of every row.
            band_keys: Sorted band keys.
            band_rows: Row of every band key.

        Raises:
            ValueError: The arrays do not fit the stored examples.
        """
        n_rows = self.store.n_rows
        bands = self.encoder.banding.bands
        if lens.shape != (n_rows,) or int(lens.sum()) != tokens.shape[0]:
            msg = f"token arrays do not describe {n_rows} examples"
            raise ValueError(msg)
        if band_keys.shape != (n_rows * bands,) or (
            n_rows and (int(band_rows.min()) < 0 or int(band_rows.max()) >= n_rows)
        ):
            msg = f"band arrays do not describe {n_rows} examples of {bands} bands"
            raise ValueError(msg)
        index = _KeyIndex()
        index.tokens.append(tokens.astype(np.uint64), lens.astype(np.int64))
        index.bands.restore(band_keys, band_rows)
        self.indexes[compared] = index
