"""The in-memory MinHash-LSH storage: the embedded default backend.

An :class:`~langchain_niche.selectors.example_store.ExampleStore` of the examples
plus, per set of compared fields, a :class:`~langchain_niche.minhash.index.TokenRows`,
a :class:`~langchain_niche.minhash.index.BandTable` and pre-filter sketches.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_sorted
from langchain_niche._copying import PicklableRLock
from langchain_niche.errors import InvalidExampleError, MissingKeyError
from langchain_niche.minhash.encoding import EncodedBatch, LshEncoder, LshQuery
from langchain_niche.minhash.index import BandTable, SketchRows, TokenRows
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    PROBE_READS_PER_ROW,
    AnyRows,
    Banded,
    Call,
    LshStorage,
    Plan,
    Ranked,
    RowTokens,
    Scored,
    SelectionRequest,
    rerank_keep,
    run_sync,
    top_probe_rows,
)
from langchain_niche.selectors.example_store import ExampleStore

__all__ = ["MemoryLshStorage"]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
T = TypeVar("T")

_COMPACT_MIN_DEAD = 1024


def _no_calls(call: Call) -> Any:  # pragma: no cover - the memory storage never yields
    msg = f"unexpected storage call {call[:1]!r}"
    raise RuntimeError(msg)


class _KeyIndex:
    """The index of one set of compared fields."""

    def __init__(self, sketch_width: int | None) -> None:
        self.tokens = TokenRows()
        self.bands = BandTable()
        self.sketches = SketchRows(sketch_width) if sketch_width else None

    @property
    def nbytes(self) -> int:
        sketch_bytes = self.sketches.nbytes if self.sketches is not None else 0
        return self.tokens.nbytes + self.bands.nbytes + sketch_bytes

    def append(self, encoded: EncodedBatch, rows: IntArray) -> None:
        self.tokens.append(encoded.tokens, encoded.lens)
        self.bands.append(encoded.keys, rows)
        if self.sketches is not None and encoded.sketches is not None:
            self.sketches.append(encoded.sketches)

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        self.tokens.compact(keep)
        self.bands.compact(keep)
        if self.sketches is not None:
            self.sketches.compact(keep)


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
    supports_scope = True
    kind = "memory"

    def __init__(self, encoder: LshEncoder, fixed_keys: tuple[str, ...] | None) -> None:
        self.encoder = encoder
        self.lock = PicklableRLock()  # a copy or an unpickled index gets a new lock
        self.store = ExampleStore()
        self.indexes: dict[tuple[str, ...], _KeyIndex] = {}
        self._sketch_width = encoder.prefilter.width if encoder.prefilter is not None else None
        # rows the running selection may see (its scope, live rows only); set by ranked()
        self._scope_mask: npt.NDArray[np.bool_] | None = None
        if fixed_keys is not None:
            self.indexes[fixed_keys] = _KeyIndex(self._sketch_width)

    @property
    def hasher(self) -> MinHasher:
        """The MinHash signatures of this index."""
        return self.encoder.hasher

    # -- running plans ----------------------------------------------------------
    def run(self, plan: Plan[T], *, whole: bool = True) -> T:
        """Run a plan to completion (it never yields), under :attr:`lock` if ``whole``."""
        if not whole:
            return run_sync(plan, _no_calls)
        with self.lock:
            return run_sync(plan, _no_calls)

    async def arun(self, plan: Plan[T]) -> T:
        """As :meth:`run`: an in-memory plan never waits for I/O."""
        return self.run(plan)

    def state_lock(self) -> AbstractContextManager[Any]:
        """:attr:`lock`: copies and pickles snapshot the index under it."""
        return self.lock

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Not when an exact scan of a large corpus or a new index may be needed."""
        if exact_fallback and len(self.store) > 50_000:
            return False
        return compared is None or compared in self.indexes

    def audit(self) -> Plan[dict[str, Any]]:
        """Consistent by construction: the number of examples and of cached token ids."""
        yield from _nothing()
        return {
            "examples": len(self.store),
            "problems": [],
            "token_cache": self.encoder.cached_tokens,
        }

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
            index = _KeyIndex(self._sketch_width)
            index.tokens.append(encoded.tokens, all_lens)
            index.bands.append(encoded.keys, rows)
            if index.sketches is not None and encoded.sketches is not None:
                all_sketches = np.zeros((self.store.n_rows, index.sketches.width), np.uint8)
                all_sketches[rows] = encoded.sketches
                index.sketches.append(all_sketches)
            self.indexes[compared] = index
            return index

    def ranked(
        self, compared: tuple[str, ...], query: LshQuery, request: SelectionRequest
    ) -> Plan[Ranked]:
        """As :meth:`LshStorage.ranked`; a scope restricts every candidate source first.

        The scope's mask filters banded rows before the pre-filter, probe hits
        before they are counted and scanned rows, so a scoped selection ranks
        exactly what an index of the scope's examples alone would.
        """
        if request.scope is None:
            return (yield from super().ranked(compared, query, request))
        with self.lock:  # held for the whole selection: the mask stays this selection's
            self._scope_mask = self.store.scope_mask(request.scope)
            try:
                return (yield from super().ranked(compared, query, request))
            finally:
                self._scope_mask = None

    def _alive(self, rows: AnyRows) -> AnyRows:
        if self._scope_mask is not None:
            scoped: AnyRows = rows[self._scope_mask[rows]]
            return scoped
        if self.store.n_dead == 0:
            return rows
        kept: AnyRows = rows[self.store.alive[rows]]
        return kept

    def _row_tokens(self, index: _KeyIndex, rows: IntArray) -> RowTokens:
        tokens, lens = index.tokens.gather(rows)
        return RowTokens(rows, tokens, lens)

    def _banded_rows(self, index: _KeyIndex, query: LshQuery, keep: int | None) -> AnyRows:
        """Distinct live rows sharing a band, ascending, pre-filtered by sketches."""
        rows = self._alive(unique_sorted(index.bands.lookup(query.keys)))
        prefilter = self.encoder.prefilter
        if (
            keep is not None
            and rows.shape[0] > keep
            and prefilter is not None
            and index.sketches is not None
            and query.sketch is not None
        ):
            unequal = prefilter.mismatches(query.sketch, index.sketches.gather(rows))
            rows = rows[prefilter.survivors(unequal, keep)]
        return rows

    def banded(
        self, compared: tuple[str, ...], query: LshQuery, *, keep: int | None = None
    ) -> Plan[RowTokens]:
        """Rows sharing a band with the query, pre-filtered by sketches (see :class:`LshStorage`)."""
        yield from _nothing()
        index = self.index_for(compared)
        return self._row_tokens(index, self._banded_rows(index, query, keep).astype(np.int64))

    def _scored_banded(
        self, compared: tuple[str, ...], query: LshQuery, request: SelectionRequest
    ) -> Plan[Banded]:
        """Banded candidates and their scores (exact ones straight from the index)."""
        if request.rerank != "jaccard":
            return (yield from super()._scored_banded(compared, query, request))
        yield from _nothing()
        index = self.index_for(compared)
        rows = self._banded_rows(index, query, rerank_keep(request))
        return Banded(rows, index.tokens.jaccard(rows, query.token_set()))

    def _scored_probed(
        self,
        compared: tuple[str, ...],
        query: LshQuery,
        exclude: AnyRows,
        request: SelectionRequest,
    ) -> Plan[Scored]:
        """The probe's rows and their scores (exact ones straight from the index)."""
        if request.rerank != "jaccard":
            return (yield from super()._scored_probed(compared, query, exclude, request))
        yield from _nothing()
        index = self.index_for(compared)
        rows = self._probe_rows(index, query, exclude.astype(np.int64), request.probe_limit)
        return rows, index.tokens.jaccard(rows, query.token_set())

    def _probe_rows(
        self, index: _KeyIndex, query: LshQuery, exclude: IntArray, limit: int
    ) -> IntArray:
        lo, hi = self.encoder.banding.prefix_range(query.keys)
        hits = self._alive(index.bands.probe(lo, hi, PROBE_READS_PER_ROW * limit))
        return top_probe_rows(hits, exclude, limit)

    def probed(
        self, compared: tuple[str, ...], query: LshQuery, exclude: IntArray, limit: int
    ) -> Plan[RowTokens]:
        """Rows sharing the most band prefixes (see :class:`LshStorage`)."""
        yield from _nothing()
        index = self.index_for(compared)
        return self._row_tokens(index, self._probe_rows(index, query, exclude, limit))

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
                if index.sketches is not None:
                    out[f"sketches_{n}"] = index.sketches.arrays()
            return out

    def restore_index(
        self,
        compared: tuple[str, ...],
        tokens: U64Array,
        lens: IntArray,
        band_keys: U64Array,
        band_rows: npt.NDArray[np.int32],
        *,
        sketches: npt.NDArray[np.uint8] | None = None,
    ) -> None:
        """Install a saved index for a set of compared fields.

        Args:
            compared: The compared fields.
            tokens: Token ids of every row.
            lens: Size of every row.
            band_keys: Sorted band keys.
            band_rows: Row of every band key.
            sketches: Pre-filter sketches of every row (``None``: recomputed from
                the token ids, for files saved without them).

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
        index = _KeyIndex(self._sketch_width)
        index.tokens.append(tokens.astype(np.uint64), lens.astype(np.int64))
        index.bands.restore(band_keys, band_rows)
        if index.sketches is not None:
            if sketches is None:
                sketches = self.encoder.sketches_of_rows(tokens.astype(np.uint64), lens)
            if sketches.shape != (n_rows, index.sketches.width):
                msg = f"sketch array of shape {sketches.shape} does not describe {n_rows} examples"
                raise ValueError(msg)
            index.sketches.append(sketches.astype(np.uint8, copy=False))
        self.indexes[compared] = index
