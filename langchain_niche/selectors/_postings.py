"""Posting-list storage of :class:`~langchain_niche.selectors.token_index.TokenSetIndex`.

Compressed sparse rows (sorted token ids, offsets, row postings) for ordinary
tokens, and the *main* segment that keeps frequent tokens as row bitsets
instead. Pure functions over immutable tuples; the index owns the policy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_inverse
from langchain_niche.errors import InvalidParameterError, preview

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
RowArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]

_ROW_DTYPE = np.int32


class _Csr(NamedTuple):
    vocab: U64Array  # sorted distinct token ids
    offsets: IntArray  # len(vocab) + 1
    postings: RowArray  # rows, grouped by token, ascending per token

    @property
    def pairs(self) -> int:
        return int(self.postings.shape[0])

    def lists(self, query: U64Array) -> list[RowArray]:
        """Posting lists (views) of the query tokens present here."""
        return self.lists_with_positions(query)[0]

    def lists_with_positions(self, query: U64Array) -> tuple[list[RowArray], IntArray]:
        """Posting lists of the query tokens present here, and those tokens' query positions."""
        size = self.vocab.shape[0]
        if size == 0 or query.shape[0] == 0:
            return [], np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.vocab, query), size - 1)
        found = np.flatnonzero(self.vocab[pos] == query)
        pos = pos[found]
        postings = self.postings
        lists = [
            postings[start:end]
            for start, end in zip(
                self.offsets[pos].tolist(), self.offsets[pos + 1].tolist(), strict=True
            )
        ]
        return lists, found.astype(np.int64)

    def frequencies(self, query: U64Array) -> IntArray:
        """Number of rows containing each query token (0 when absent)."""
        out = np.zeros(query.shape[0], dtype=np.int64)
        size = self.vocab.shape[0]
        if size == 0 or query.shape[0] == 0:
            return out
        pos = np.minimum(np.searchsorted(self.vocab, query), size - 1)
        found = self.vocab[pos] == query
        out[found] = self.offsets[pos[found] + 1] - self.offsets[pos[found]]
        return out


def _empty_csr() -> _Csr:
    return _Csr(
        np.empty(0, dtype=np.uint64), np.zeros(1, dtype=np.int64), np.empty(0, dtype=_ROW_DTYPE)
    )


def _csr_from_pairs(tokens: U64Array, rows: RowArray) -> _Csr:
    """Build a CSR from (token, row) pairs whose rows are non-decreasing."""
    if tokens.shape[0] == 0:
        return _empty_csr()
    vocab, inverse = unique_inverse(tokens)
    # A stable sort of the small token ranks keeps rows ascending within each token;
    # numpy sorts 16-bit keys with a linear-time radix sort.
    ranks = inverse.astype(np.uint16 if vocab.shape[0] <= 0xFFFF else np.int32)
    order = np.argsort(ranks, kind="stable")
    offsets = np.zeros(vocab.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(inverse, minlength=vocab.shape[0]), out=offsets[1:])
    return _Csr(vocab, offsets, rows[order])


def _merge(main: _Csr, extra: _Csr) -> _Csr:
    """Merge two CSRs where every row of ``extra`` comes after every row of ``main``.

    Linear in the number of pairs: within each token, ``extra``'s rows are placed
    after ``main``'s, which keeps each posting list sorted without a sort.
    """
    if extra.pairs == 0:
        return main
    if main.pairs == 0:
        return extra
    vocab = np.union1d(main.vocab, extra.vocab)
    size = vocab.shape[0]
    main_rank = np.searchsorted(vocab, main.vocab)
    extra_rank = np.searchsorted(vocab, extra.vocab)
    main_counts = np.zeros(size, dtype=np.int64)
    main_counts[main_rank] = np.diff(main.offsets)
    extra_counts = np.zeros(size, dtype=np.int64)
    extra_counts[extra_rank] = np.diff(extra.offsets)
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(main_counts + extra_counts, out=offsets[1:])
    postings = np.empty(int(offsets[-1]), dtype=_ROW_DTYPE)
    main_shift = offsets[main_rank] - main.offsets[:-1]
    postings[np.arange(main.pairs) + np.repeat(main_shift, np.diff(main.offsets))] = main.postings
    extra_shift = offsets[extra_rank] + main_counts[extra_rank] - extra.offsets[:-1]
    extra_dest = np.arange(extra.pairs) + np.repeat(extra_shift, np.diff(extra.offsets))
    postings[extra_dest] = extra.postings
    return _Csr(vocab, offsets, postings)


class _Main(NamedTuple):
    """The merged rows: posting lists for ordinary tokens, bitsets for frequent ones."""

    sparse: _Csr
    dense_vocab: U64Array  # sorted ids of the frequent tokens
    bits: npt.NDArray[np.uint8]  # (len(dense_vocab), ceil(rows / 8)), little bit order
    rows: int
    dense_df: IntArray  # rows containing each frequent token

    def dense_lookup(self, query: U64Array) -> tuple[IntArray, IntArray]:
        """Bitset rows of the frequent query tokens, and those tokens' query positions."""
        size = self.dense_vocab.shape[0]
        if size == 0 or query.shape[0] == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        pos = np.minimum(np.searchsorted(self.dense_vocab, query), size - 1)
        found = np.flatnonzero(self.dense_vocab[pos] == query)
        return pos[found].astype(np.int64), found.astype(np.int64)

    def dense_weights_at(
        self, positions: IntArray, weights: FloatArray, rows: IntArray
    ) -> FloatArray:
        """Weighted count of the given frequent tokens in each row (< self.rows)."""
        out = np.zeros(rows.shape[0], dtype=np.float64)
        inside = rows < self.rows
        sel = rows[inside]
        byte, shift = sel >> 3, (sel & 7).astype(np.uint8)
        total = np.zeros(sel.shape[0], dtype=np.float64)
        for p, weight in zip(positions.tolist(), weights.tolist(), strict=True):
            total += ((self.bits[p, byte] >> shift) & 1) * weight
        out[inside] = total
        return out

    def dense_weights(self, positions: IntArray, weights: FloatArray) -> FloatArray:
        """Weighted count of the given frequent tokens in every row."""
        total = np.zeros(self.rows, dtype=np.float64)
        for p, weight in zip(positions.tolist(), weights.tolist(), strict=True):
            total += np.unpackbits(self.bits[p], count=self.rows, bitorder="little") * weight
        return total

    def dense_positions(self, query: U64Array) -> IntArray:
        """Bitset rows of the query tokens that are frequent."""
        size = self.dense_vocab.shape[0]
        if size == 0:
            return np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.dense_vocab, query), size - 1)
        found: IntArray = pos[self.dense_vocab[pos] == query].astype(np.int64)
        return found

    def dense_counts_at(self, positions: IntArray, rows: IntArray) -> IntArray:
        """How many of the given frequent tokens each row (< self.rows) contains."""
        out = np.zeros(rows.shape[0], dtype=np.int64)
        inside = rows < self.rows
        sel = rows[inside]
        byte, shift = sel >> 3, (sel & 7).astype(np.uint8)
        total = np.zeros(sel.shape[0], dtype=np.int64)
        for p in positions.tolist():
            total += (self.bits[p, byte] >> shift) & 1
        out[inside] = total
        return out

    def dense_df_at(self, positions: IntArray, rows: IntArray) -> IntArray:
        """How many of the given rows (< self.rows) hold each of the given frequent tokens."""
        byte, shift = rows >> 3, (rows & 7).astype(np.uint8)
        return np.array(
            [int(np.count_nonzero((self.bits[p, byte] >> shift) & 1)) for p in positions.tolist()],
            dtype=np.int64,
        )

    def dense_counts(self, positions: IntArray) -> npt.NDArray[np.uint8]:
        """How many of the given frequent tokens every row contains (one byte per row)."""
        total = np.zeros(self.rows, dtype=np.uint8)
        for p in positions.tolist():
            total += np.unpackbits(self.bits[p], count=self.rows, bitorder="little")
        return total


class _Subset:
    """A sorted set of rows (a scope) that queries are restricted to before counting.

    Posting lists are cut down to the subset either by a lookup in a row mask
    (one read per posting, plus building the mask once) or by a binary search of
    every subset row in every list, whichever reads less: a small scope costs
    time in proportion to its size, not to the postings of the whole index.
    """

    def __init__(self, rows: IntArray, n_rows: int) -> None:
        self.rows = rows  # sorted, distinct, < n_rows
        self._rows32 = rows.astype(_ROW_DTYPE)  # searched in int32 postings without a copy
        self._n_rows = n_rows
        self._mask: npt.NDArray[np.bool_] | None = None

    @classmethod
    def of(
        cls, within: npt.ArrayLike | None, alive: npt.NDArray[np.bool_] | None, n_rows: int
    ) -> _Subset | None:
        """The rows a scoped query may see (``within`` AND ``alive``), or ``None`` unscoped.

        Raises:
            InvalidParameterError: ``within`` is not ascending, or holds a row out
                of ``[0, n_rows)``.
        """
        if within is None:
            return None
        rows = np.asarray(within, dtype=np.int64).reshape(-1)
        if rows.shape[0] > 1 and not bool(np.all(rows[1:] > rows[:-1])):
            msg = f"within must hold distinct rows in ascending order, got {preview(rows.tolist())}"
            raise InvalidParameterError(msg, name="within", value=rows.tolist())
        if rows.shape[0] and (int(rows[0]) < 0 or int(rows[-1]) >= n_rows):
            bad = int(rows[0]) if int(rows[0]) < 0 else int(rows[-1])
            msg = f"within must hold rows in [0, {n_rows}), got row {bad}"
            raise InvalidParameterError(msg, name="within", value=bad)
        if alive is not None:
            rows = rows[alive[rows]]
        return cls(rows, n_rows)

    @property
    def size(self) -> int:
        return int(self.rows.shape[0])

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        """One boolean per row of the index: in the subset."""
        if self._mask is None:
            self._mask = np.zeros(self._n_rows, dtype=np.bool_)
            self._mask[self.rows] = True
        return self._mask

    def restrict(self, lists: list[RowArray]) -> list[RowArray]:
        """Each posting list cut down to the subset's rows (still ascending)."""
        if not lists:
            return lists
        size = self.size
        total = sum(p.shape[0] for p in lists)
        # binary search: ~log2(len) reads per subset row and list, plus a call per list;
        # mask: one read per posting, and writing the mask (n_rows bytes) once
        search = sum(size * (int(p.shape[0]).bit_length() + 1) + _SEARCH_CALL for p in lists)
        if search * _SEARCH_READ <= total + self._n_rows // _MASK_BYTES_PER_READ + size:
            return [self._search(p) for p in lists]
        mask = self.mask
        return [p[mask[p]] for p in lists]

    def _search(self, postings: RowArray) -> RowArray:
        length = postings.shape[0]
        if length == 0 or self.size == 0:
            return postings[:0]
        pos = np.minimum(np.searchsorted(postings, self._rows32), length - 1)
        found: RowArray = self._rows32[postings[pos] == self._rows32]
        return found

    def outside(self, hit: IntArray, below: int) -> IntArray:
        """The subset's rows below ``below`` that are not in ``hit`` (sorted)."""
        rows = self.rows[: int(np.searchsorted(self.rows, below))]
        if hit.shape[0] == 0 or rows.shape[0] == 0:
            return rows
        pos = np.minimum(np.searchsorted(hit, rows), hit.shape[0] - 1)
        left: IntArray = rows[hit[pos] != rows]
        return left


# Costs in units of one random read (~2 ns), measured at 1M rows with 10 lists of
# 1,000-30,000 postings and scopes of 100-100,000 rows (numpy 2.4, Xeon):
_MASK_BYTES_PER_READ = 64  # zeroing and setting the mask: ~30 us per 1M rows
_SEARCH_CALL = 1_000  # a searchsorted call on a list: ~2 us besides its reads
_SEARCH_READ = 1  # a binary-search step costs about one random read


def _split(full: _Csr, rows: int, *, dense_fraction: int, dense_min_rows: int) -> _Main:
    """Move the frequent tokens of a full CSR into bitsets.

    A token in at least ``1 / dense_fraction`` of the rows becomes a bitset, once
    there are at least ``dense_min_rows`` rows.
    """
    counts = np.diff(full.offsets)
    dense = (
        counts * dense_fraction >= rows
        if rows >= dense_min_rows
        else np.zeros(counts.shape[0], dtype=np.bool_)
    )
    nbytes = (rows + 7) // 8
    dense_idx = np.flatnonzero(dense)
    bits = np.zeros((dense_idx.shape[0], nbytes), dtype=np.uint8)
    for i, token in enumerate(dense_idx.tolist()):
        column = np.zeros(rows, dtype=np.bool_)
        column[full.postings[full.offsets[token] : full.offsets[token + 1]]] = True
        bits[i] = np.packbits(column, bitorder="little")
    if dense_idx.shape[0] == 0:
        return _Main(full, np.empty(0, dtype=np.uint64), bits, rows, np.empty(0, dtype=np.int64))
    keep = ~dense
    kept_counts = counts[keep]
    pair_keep = np.repeat(keep, counts)
    offsets = np.zeros(kept_counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=offsets[1:])
    sparse = _Csr(full.vocab[keep], offsets, full.postings[pair_keep])
    return _Main(sparse, full.vocab[dense], bits, rows, counts[dense].astype(np.int64))


def _join(main: _Main) -> _Csr:
    """The full CSR of the main segment (bitsets turned back into posting lists)."""
    if main.dense_vocab.shape[0] == 0:
        return main.sparse
    dense_lists = [
        np.flatnonzero(np.unpackbits(main.bits[i], count=main.rows, bitorder="little")).astype(
            _ROW_DTYPE
        )
        for i in range(main.dense_vocab.shape[0])
    ]
    dense_counts = np.array([lst.shape[0] for lst in dense_lists], dtype=np.int64)
    dense_offsets = np.zeros(len(dense_lists) + 1, dtype=np.int64)
    np.cumsum(dense_counts, out=dense_offsets[1:])
    dense = _Csr(main.dense_vocab, dense_offsets, np.concatenate(dense_lists))
    # Interleave the two vocabularies by rebuilding from pairs (both are sorted by row).
    tokens = np.concatenate(
        [
            np.repeat(main.sparse.vocab, np.diff(main.sparse.offsets)),
            np.repeat(dense.vocab, dense_counts),
        ]
    )
    rows = np.concatenate([main.sparse.postings, dense.postings])
    order = np.lexsort((rows, tokens))
    vocab, counts = np.unique(tokens[order], return_counts=True)
    offsets = np.zeros(vocab.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return _Csr(vocab, offsets, rows[order])


def _empty_main() -> _Main:
    return _Main(
        _empty_csr(),
        np.empty(0, dtype=np.uint64),
        np.zeros((0, 0), dtype=np.uint8),
        0,
        np.empty(0, dtype=np.int64),
    )
