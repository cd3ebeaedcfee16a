"""The in-memory MinHash-LSH storage: the embedded default backend.

An :class:`~langchain_niche.selectors.memory_store.IndexedStore` (the examples, and
one index per set of compared fields, shared with the Jaccard selector) whose
index is, per set of compared fields, a :class:`~langchain_niche.minhash.rows.TokenRows`,
a :class:`~langchain_niche.minhash.index.BandTable` and pre-filter sketches. It
implements :class:`~langchain_niche.minhash.storage.LshStorage` with plain calls
(its async twins are the contract's defaults: nothing here waits for I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import sorted_member, unique_sorted
from langchain_niche.minhash.encoding import (
    EncodedBatch,
    LshEncoder,
    partition_salts,
    salted,
    scope_salts,
)
from langchain_niche.minhash.index import BandTable, SketchRows, TokenRows
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    PROBE_READS_PER_ROW,
    AnyRows,
    Lookup,
    LshStorage,
    RowTokens,
    SelectionRequest,
    rerank_keep,
    top_probe_rows,
)
from langchain_niche.persistence import IndexReader
from langchain_niche.scope import Scope
from langchain_niche.selectors.examples import Record
from langchain_niche.selectors.memory_store import IndexedStore

__all__ = ["MemoryLshStorage"]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]

_TOKEN_READS = 2
"""A token of a scope's rows scored directly costs about this many band entries
read by a scoped probe (measured on ``bench_scoped.py``'s corpus at 200,000 and
1,000,000 examples over 100 scopes: about 10 ns per token, 5 ns per entry)."""
_MASK_ROWS_PER_READ = 64
"""Writing the scoped probe's row mask costs about one entry read per this many rows."""
_CAP_FACTOR = 2
"""A scoped probe reads at most this many times ``budget * rows / scope rows`` entries
(what holds its share of the budget on average), smallest ranges first."""
_MAX_PARTITIONS = 64
"""A scope leaving a filter key unrestricted looks up the band keys of every partition
its rows are in while there are at most this many; beyond, its rows are scored directly."""


class _KeyIndex:
    """The index of one set of compared fields."""

    def __init__(self, sketch_width: int | None, *, salted: bool = False) -> None:
        self.tokens = TokenRows()
        self.bands = BandTable()
        self.sketches = SketchRows(sketch_width) if sketch_width else None
        self._salts: U64Array | None = np.zeros(0, dtype=np.uint64) if salted else None
        self._n_salts = 0

    @property
    def nbytes(self) -> int:
        sketch_bytes = self.sketches.nbytes if self.sketches is not None else 0
        salt_bytes = 8 * self._n_salts if self._salts is not None else 0
        return self.tokens.nbytes + self.bands.nbytes + sketch_bytes + salt_bytes

    @property
    def salts(self) -> U64Array | None:
        """The partition salt of every row (``None``: unsalted, no ``filter_keys``)."""
        if self._salts is None:
            return None
        return self._salts[: self._n_salts]

    def salts_from(self, salts: U64Array) -> None:
        """Install the salts of a restored index's rows."""
        self._salts, self._n_salts = salts, salts.shape[0]

    def _append_salts(self, salts: U64Array, rows: IntArray, n_rows: int) -> None:
        if self._salts is None:
            return
        start = self._n_salts
        if n_rows > self._salts.shape[0]:  # grow by doubling: single adds stay cheap
            grown = np.zeros(max(n_rows, 2 * self._salts.shape[0]), dtype=np.uint64)
            grown[:start] = self._salts[:start]
            self._salts = grown
        self._salts[start:n_rows] = 0
        self._salts[rows] = salts
        self._n_salts = n_rows

    def append(self, encoded: EncodedBatch, rows: IntArray, n_rows: int) -> None:
        """Grow to ``n_rows`` rows: ``encoded`` at ``rows``, empty rows elsewhere."""
        start = self.tokens.n_rows
        if rows.shape[0] == n_rows - start:  # no gaps (an add, or a build without removals)
            self.tokens.append(encoded.tokens, encoded.lens)
        else:
            lens = np.zeros(n_rows - start, dtype=np.int64)
            lens[rows - start] = encoded.lens
            self.tokens.append(encoded.tokens, lens)
        self.bands.append(encoded.keys, rows)
        if encoded.salts is not None:
            self._append_salts(encoded.salts, rows, n_rows)
        if self.sketches is not None and encoded.sketches is not None:
            sketches = encoded.sketches
            if rows.shape[0] != n_rows - start:
                sketches = np.zeros((n_rows - start, self.sketches.width), np.uint8)
                sketches[rows - start] = encoded.sketches
            self.sketches.append(sketches)

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        self.tokens.compact(keep)
        self.bands.compact(keep)
        if self._salts is not None:
            self._salts = self._salts[: self._n_salts][keep]
            self._n_salts = self._salts.shape[0]
        if self.sketches is not None:
            self.sketches.compact(keep)

    def row_tokens(self, rows: IntArray) -> RowTokens:
        tokens, lens = self.tokens.gather(rows)
        return RowTokens(rows, tokens, lens)


class MemoryLshStorage(IndexedStore[_KeyIndex, EncodedBatch], LshStorage):
    """Examples and LSH indexes in this process's memory (numpy arrays).

    Thread-safe: writers and readers take :attr:`lock`; a selection holds it
    (:meth:`state_lock`) from its lookup to its records, so rows never change
    under its feet.

    Args:
        encoder: Computes token ids and band keys.
        fixed_keys: The compared fields when fixed up front (``input_keys``);
            otherwise an index per set of compared fields is built on first use.
        filter_keys: The selector's ``filter_keys``: every example's band keys are
            then salted by its partition (its values of these fields), as in Redis
            (:func:`~langchain_niche.minhash.encoding.partition_salts`), so a scoped
            selection looks up and probes only its partitions' keys.
    """

    supports_scope = True
    kind = "memory"

    def __init__(
        self,
        encoder: LshEncoder,
        fixed_keys: tuple[str, ...] | None,
        filter_keys: tuple[str, ...] = (),
    ) -> None:
        self.encoder = encoder
        self.filter_keys = filter_keys
        self._sketch_width = encoder.prefilter.width if encoder.prefilter is not None else None
        super().__init__(fixed_keys)

    def _new_index(self) -> _KeyIndex:
        return _KeyIndex(self._sketch_width, salted=bool(self.filter_keys))

    def _encode(self, examples: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> EncodedBatch:
        encoded = self.encoder.encode_examples(list(examples), keys)
        if not self.filter_keys:
            return encoded
        salts = partition_salts(self.encoder.banding, self.filter_keys, examples)
        return replace(encoded, keys=encoded.keys ^ salts[:, None], salts=salts)

    def _append(self, index: _KeyIndex, encoded: EncodedBatch, rows: IntArray, n_rows: int) -> None:
        index.append(encoded, rows, n_rows)

    @property
    def hasher(self) -> MinHasher:
        """The MinHash signatures of this index."""
        return self.encoder.hasher

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Not when an exact scan of a large corpus or a new index may be needed."""
        if exact_fallback and len(self.store) > 50_000:
            return False
        return IndexedStore.is_cheap(self, compared, exact_fallback=exact_fallback)

    def audit(self) -> dict[str, Any]:
        """Consistent by construction: the number of examples and of cached token ids."""
        return {
            "examples": len(self.store),
            "problems": [],
            "token_cache": self.encoder.cached_tokens,
        }

    # -- lookups ------------------------------------------------------------------------
    def _visible(self, rows: AnyRows, scope: Scope | None) -> AnyRows:
        """The live rows among ``rows`` (ascending) that ``scope`` matches."""
        store = self.store
        if scope is not None:
            scoped: AnyRows = rows[sorted_member(rows, store.scope_rows(scope))]
            return scoped
        if store.n_dead == 0:
            return rows
        kept: AnyRows = rows[store.alive[rows]]
        return kept

    def _query_keys(self, index: _KeyIndex, request: SelectionRequest) -> U64Array | None:
        """The query's band keys salted for every partition its scope may reach.

        Unsalted without ``filter_keys``; ``None`` when the scope leaves a filter
        key unrestricted and its rows span more than :data:`_MAX_PARTITIONS`
        partitions (the caller then scores the scope's rows directly).
        """
        keys, scope = request.query.keys, request.scope
        if index.salts is None:
            return keys
        salts = None
        if scope is not None:
            salts = scope_salts(self.encoder.banding, self.filter_keys, scope)
        if salts is None:  # every partition of the (live, in scope) rows
            salts = np.unique(index.salts[self._scope_rows(scope)])
            if salts.shape[0] > _MAX_PARTITIONS:
                return None
        return salted(keys, salts)

    def _scope_rows(self, scope: Scope | None) -> IntArray:
        """The live rows ``scope`` matches (every live row without a scope), ascending."""
        if scope is not None:
            return self.store.scope_rows(scope)
        rows: IntArray = np.flatnonzero(self.store.alive).astype(np.int64)
        return rows

    def lookup(self, request: SelectionRequest) -> Lookup:
        """Rows sharing a band with the query, pre-filtered by sketches (see :class:`LshStorage`)."""
        with self.lock:
            index, query = self.index_for(request.compared), request.query
            keys = self._query_keys(index, request)
            if keys is None:
                scope_rows = self._scope_rows(request.scope)
                exclude = np.zeros(0, dtype=np.int64)
                return Lookup(self._score_scope(index, request, scope_rows, exclude))
            rows = self._visible(unique_sorted(index.bands.lookup(keys)), request.scope)
            keep = rerank_keep(request)
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
            return Lookup(index.row_tokens(rows.astype(np.int64, copy=False)))

    def probe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        """Rows sharing the most band prefixes (see :class:`LshStorage`).

        With ``filter_keys`` the query's keys are salted for the scope's
        partitions, so the probe's prefix ranges hold (almost only) the scope's
        rows and it costs what an unscoped probe costs. Otherwise, scoped,
        whichever reads less by :data:`_TOKEN_READS`: the probe of the scope's
        rows only (:meth:`BandTable.probe_within`), or every row of the scope
        sharing a token with the query (scored directly: exact). The latter also
        when the probe leaves fewer than ``request.limit`` candidates, so a scope
        holding ``limit`` rows that share a token with the query never comes
        back short of them.
        """
        with self.lock:
            index = self.index_for(request.compared)
            keys, scope = self._query_keys(index, request), request.scope
            if keys is None:
                return self._score_scope(index, request, self._scope_rows(scope), exclude)
            lo, hi = self.encoder.banding.prefix_range(keys)
            limit, budget = request.probe_limit, PROBE_READS_PER_ROW * request.probe_limit
            if scope is None:
                hits = self._visible(index.bands.probe(lo, hi, budget), None)
                return index.row_tokens(top_probe_rows(hits, exclude, limit))
            scope_rows = self.store.scope_rows(scope)
            if index.salts is not None:  # the ranges hold the scope's partitions
                hits = index.bands.probe(lo, hi, budget)
                hits = hits[sorted_member(hits, scope_rows)]  # other partitions' collisions
                rows = top_probe_rows(hits, exclude, limit)
                if rows.shape[0] + exclude.shape[0] >= request.limit:
                    return index.row_tokens(rows)
                return self._score_scope(index, request, scope_rows, exclude)
            n_rows = self.store.n_rows
            # tokens of the scope's rows, estimated from the average row (reading
            # every scope row's size would cost a cache miss each)
            direct = scope_rows.shape[0] * index.tokens.n_tokens * _TOKEN_READS // max(1, n_rows)
            # the scope's share of the budget is found in about budget * n_rows / scope entries
            cap = _CAP_FACTOR * budget * n_rows // max(1, scope_rows.shape[0])
            ranges = index.bands.ranges(lo, hi)
            reads = min(ranges.entries, cap) + n_rows // _MASK_ROWS_PER_READ
            if reads < direct:
                inside = np.zeros(n_rows, dtype=np.bool_)
                inside[scope_rows] = True
                hits = index.bands.probe_within(ranges, budget, inside, cap)
                rows = top_probe_rows(hits, exclude, limit)
                if rows.shape[0] + exclude.shape[0] >= request.limit:
                    return index.row_tokens(rows)
            return self._score_scope(index, request, scope_rows, exclude)

    @staticmethod
    def _score_scope(
        index: _KeyIndex, request: SelectionRequest, scope_rows: IntArray, exclude: IntArray
    ) -> RowTokens:
        """The scope's rows (not in ``exclude``) with the best exact Jaccard similarity.

        As many as the probe may return (``probe_limit``, at least ``limit``), ties
        at the cut broken by row as the selection breaks them: with
        ``rerank="jaccard"`` the selection's result is then the exact scan's.
        """
        rows, inter = index.tokens.scan(request.query.tokens, within=scope_rows)
        fresh = ~sorted_member(rows, exclude)
        rows, inter = rows[fresh], inter[fresh]
        keep = max(request.limit, request.probe_limit)
        if rows.shape[0] > keep:
            union = index.tokens.lens(rows) + request.query.tokens.shape[0] - inter
            rows = np.sort(rows[np.lexsort((rows, -(inter / union)))[:keep]])
        return index.row_tokens(rows)

    def scan(self, request: SelectionRequest) -> RowTokens:
        """Every live row sharing a token with the query (scoped: only the scope's rows are read)."""
        with self.lock:
            index, scope = self.index_for(request.compared), request.scope
            within = None if scope is None else self.store.scope_rows(scope)
            rows, _ = index.tokens.scan(request.query.tokens, within)
            if scope is None:
                rows = self._visible(rows, None).astype(np.int64, copy=False)
            return index.row_tokens(rows)

    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        """Ids and examples of live rows."""
        with self.lock:
            store = self.store
            return [(store.id_of(row), store.get(row)) for row in rows.tolist()]

    # -- persistence --------------------------------------------------------------
    def _saved_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The index arrays of every set of compared fields (removed rows compacted away)."""
        if self.store.n_dead:
            self._compact()
        out: dict[str, npt.NDArray[Any]] = {}
        for n, index in enumerate(self.indexes.values()):
            tokens, lens = index.tokens.arrays()
            keys, rows = index.bands.arrays()
            if index.salts is not None:  # saved unsalted: the format has no salts
                keys, rows = _sorted_pairs(keys ^ index.salts[rows], rows)
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

    def restore_saved(self, reader: IndexReader) -> None:
        """Fill this empty storage from a saved file, checking every array."""
        from langchain_niche.minhash.saved import restore_saved  # noqa: PLC0415

        restore_saved(reader, self)

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
        index = self._new_index()
        index.tokens.append(tokens.astype(np.uint64), lens.astype(np.int64))
        if self.filter_keys:  # salts derived from the stored examples (saved unsalted)
            store = self.store
            examples = [store.get(row) for row in range(n_rows)]
            salts = partition_salts(self.encoder.banding, self.filter_keys, examples)
            band_keys, band_rows = _sorted_pairs(band_keys ^ salts[band_rows], band_rows)
            index.salts_from(salts)
        index.bands.restore(band_keys, band_rows)
        if index.sketches is not None:
            if sketches is None:
                sketches = self.encoder.sketches_of_rows(tokens.astype(np.uint64), lens)
            if sketches.shape != (n_rows, index.sketches.width):
                msg = f"sketch array of shape {sketches.shape} does not describe {n_rows} examples"
                raise ValueError(msg)
            index.sketches.append(sketches.astype(np.uint8, copy=False))
        self.indexes[compared] = index


def _sorted_pairs(
    keys: U64Array, rows: npt.NDArray[np.int32]
) -> tuple[U64Array, npt.NDArray[np.int32]]:
    """``(key, row)`` pairs sorted by key, then row (as a band table keeps them)."""
    order = np.lexsort((rows, keys))
    return keys[order], rows[order]
