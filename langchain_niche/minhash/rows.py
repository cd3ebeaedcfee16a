"""Row storage of the in-memory MinHash-LSH index (re-exported by :mod:`~langchain_niche.minhash.index`).

:class:`TokenSet` (one example's token ids with fast membership),
:class:`TokenRows` (every row's distinct token ids in one flat array with
offsets, re-ranked by exact Jaccard) and :class:`SketchRows` (pre-filter
sketches), plus the numpy helpers they share.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "SketchRows",
    "TokenRows",
    "TokenSet",
    "gather_ranges",
    "jaccard_of_rows",
]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
RowArray = npt.NDArray[np.int32]

_ROW_DTYPE = np.int32
_MAX_ROWS = int(np.iinfo(_ROW_DTYPE).max)
_SEARCH_MAX = 1 << 14  # membership tests by binary search up to this many values
_HASH_SET_MAX = 64  # sets up to this size get a collision-free hash table
_HASH_MULTIPLIERS = tuple(
    np.uint64(m)
    for m in (
        0x9E3779B97F4A7C15,
        0xBF58476D1CE4E5B9,
        0x94D049BB133111EB,
        0xD6E8FEB86659FD93,
        0xA0761D6478BD642F,
        0xE7037ED1A0B428DB,
        0x8EBC6AF09C88C6E3,
        0x589965CC75374CC3,
    )
)
_GROWTH = 1.25
_GATHER_READS = 4
"""A token gathered from scattered rows costs up to this many tokens of a contiguous
scan (measured at 1M rows of 5-25 tokens: 2.2x for every 100th row, 3.6x for every 5th,
3.9x for every 2nd; every 5th took 63 ms, the full scan 89 ms, every 3rd 112 ms)."""


_ARANGE = np.arange(_SEARCH_MAX, dtype=np.int64)
_ARANGE.flags.writeable = False


def _arange(n: int) -> IntArray:
    """``np.arange(n)`` (a view of a shared array when small enough; never write to it)."""
    if n <= _ARANGE.shape[0]:
        return _ARANGE[:n]
    return np.arange(n, dtype=np.int64)


def gather_ranges(values: npt.NDArray[Any], starts: IntArray, ends: IntArray) -> npt.NDArray[Any]:
    """Concatenate ``values[starts[i]:ends[i]]`` for every ``i`` (vectorized).

    Args:
        values: A 1-d array.
        starts: Range starts.
        ends: Range ends (``>= starts``).

    Returns:
        The concatenated slices.
    """
    lengths = ends - starts
    firsts = lengths.cumsum() - lengths  # where each range starts once gathered
    total = int(firsts[-1] + lengths[-1]) if lengths.shape[0] else 0
    if total == 0:
        return values[:0]
    positions = np.repeat(starts - firsts, lengths)
    positions += _arange(total)
    gathered: npt.NDArray[Any] = values.take(positions)
    return gathered


def _check_keep(keep: npt.NDArray[np.bool_], n_rows: int) -> None:
    """Check that a compaction mask has one entry per row."""
    if keep.shape != (n_rows,):
        msg = f"keep must have one entry per row ({n_rows}), got shape {keep.shape}"
        raise ValueError(msg)


def _grown(array: npt.NDArray[Any], used: int, needed: int) -> npt.NDArray[Any]:
    if needed <= array.shape[0]:
        return array
    capacity = max(needed, int(array.shape[0] * _GROWTH), 1024)
    grown = np.zeros(capacity, dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


class TokenSet:
    """Membership in a small set of token ids with a collision-free hash table.

    A binary search costs ~35 ns per id through branch mispredictions; with a
    table where every id of the set has its own slot, a test is a multiply, a
    shift, a gather and a comparison, whatever the id. Empty slots repeat an id
    of the set, so an equal slot always means membership. Sets of more than
    :data:`_HASH_SET_MAX` ids (or whose ids no multiplier separates) fall back
    to a binary search.

    Example:
        ```python
        members = TokenSet(np.array([3, 17, 99], dtype=np.uint64))
        members.contains(np.array([17, 4], dtype=np.uint64))  # array([ True, False])
        ```
    """

    def __init__(self, tokens: U64Array) -> None:
        self.tokens = np.sort(tokens)
        self._table: U64Array | None = None
        self._multiplier = np.uint64(0)
        self._shift = np.uint64(0)
        n = int(self.tokens.shape[0])
        if not 0 < n <= _HASH_SET_MAX:
            return
        bits = max(6, (n * n).bit_length())
        shift = np.uint64(64 - bits)
        for multiplier in _HASH_MULTIPLIERS:
            slots = (self.tokens * multiplier) >> shift
            if len(set(slots.tolist())) == n:
                table = np.full(1 << bits, self.tokens[0], dtype=np.uint64)
                table[slots] = self.tokens
                self._table, self._multiplier, self._shift = table, multiplier, shift
                return

    def contains(
        self, values: U64Array, out: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.bool_]:
        """``values[i] in self`` for every ``i``.

        Args:
            values: Token ids.
            out: Where to write the result (``values``' length), if given.

        Returns:
            The membership flags.
        """
        if self._table is None:
            found = _member(values, self.tokens)
            if out is None:
                return found
            out[...] = found
            return out
        slots = values * self._multiplier
        slots >>= self._shift
        flags: npt.NDArray[np.bool_] = np.equal(self._table.take(slots), values, out=out)
        return flags


class _Rows:
    """Rows appended so far (removed rows included until ``compact``)."""

    _n_rows: int

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return self._n_rows


class TokenRows(_Rows):
    """The distinct token ids of every row, in one flat array with offsets.

    Example:
        ```python
        rows = TokenRows()
        rows.append(np.array([1, 2, 3, 3, 4], dtype=np.uint64), np.array([3, 2]))
        rows.jaccard(np.array([0, 1]), np.array([3, 4], dtype=np.uint64))
        # array([0.25, 1.  ])
        ```
    """

    def __init__(self) -> None:
        self._tokens = np.zeros(0, dtype=np.uint64)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._n_rows = 0  # rows appended, removed ones included until compact()

    @property
    def nbytes(self) -> int:
        """Bytes allocated (spare capacity included)."""
        return int(self._tokens.nbytes + self._offsets.nbytes)

    @property
    def n_tokens(self) -> int:
        """Token ids held by all rows (removed ones included until ``compact``)."""
        return int(self._offsets[self._n_rows])

    def append(self, tokens: U64Array, lens: IntArray) -> None:
        """Append rows.

        Args:
            tokens: Token ids of the new rows, row after row (distinct per row).
            lens: Number of ids of each new row.

        Raises:
            ValueError: ``lens`` does not add up to the number of tokens.
        """
        count = int(lens.shape[0])
        if int(lens.sum()) != tokens.shape[0]:
            msg = (
                f"row sizes add up to {int(lens.sum())}, but {tokens.shape[0]} token ids were given"
            )
            raise ValueError(msg)
        used = int(self._offsets[self._n_rows])
        self._tokens = _grown(self._tokens, used, used + tokens.shape[0])
        self._offsets = _grown(self._offsets, self._n_rows + 1, self._n_rows + 1 + count)
        self._tokens[used : used + tokens.shape[0]] = tokens
        np.cumsum(lens, out=self._offsets[self._n_rows + 1 : self._n_rows + 1 + count])
        self._offsets[self._n_rows + 1 : self._n_rows + 1 + count] += used
        self._n_rows += count

    def lens(self, rows: IntArray) -> IntArray:
        """Number of token ids of each row.

        Args:
            rows: Row numbers.

        Returns:
            The sizes.
        """
        sizes: IntArray = self._offsets[rows + 1] - self._offsets[rows]
        return sizes

    def gather(self, rows: npt.NDArray[np.integer[Any]]) -> tuple[U64Array, IntArray]:
        """Token ids of some rows.

        Args:
            rows: Row numbers.

        Returns:
            ``(tokens, lens)``: the rows' ids, row after row, and their sizes.
        """
        starts = self._offsets[rows]
        ends = self._offsets[1:][rows]
        return gather_ranges(self._tokens, starts, ends), ends - starts

    def jaccard(
        self, rows: npt.NDArray[np.integer[Any]], query: U64Array | TokenSet
    ) -> npt.NDArray[np.float64]:
        """Exact Jaccard similarity of some rows with a query set.

        Args:
            rows: Row numbers.
            query: The query's *distinct* token ids (or a :class:`TokenSet` of them).

        Returns:
            One similarity per row.
        """
        tokens, lens = self.gather(rows)
        return jaccard_of_rows(tokens, lens, query)

    def scan(self, query: U64Array, within: IntArray | None = None) -> tuple[IntArray, IntArray]:
        """Intersection sizes of rows with a query set (a full scan, or the rows ``within``).

        Args:
            query: The query's *distinct* token ids.
            within: Optional ascending rows (a scope): only they are read and
                returned, so the cost follows their tokens, not the whole index's
                (unless they hold most of the tokens: then one contiguous scan
                and a filter read less).

        Returns:
            ``(rows, counts)`` for the rows sharing at least one token, ascending.
        """
        used = int(self._offsets[self._n_rows])
        if within is not None:
            lens = self.lens(within)
            if int(lens.sum()) * _GATHER_READS < used:
                return self._scan_rows(query, within, lens)
            rows, counts = self.scan(query)
            keep = np.isin(rows, within, assume_unique=True)
            return rows[keep], counts[keep]
        hit = _member(self._tokens[:used], query)
        row_of_token = np.repeat(
            np.arange(self._n_rows, dtype=np.int64), np.diff(self._offsets[: self._n_rows + 1])
        )
        counts = np.bincount(row_of_token[hit], minlength=self._n_rows).astype(np.int64)
        rows = np.flatnonzero(counts).astype(np.int64)
        return rows, counts[rows]

    def _scan_rows(
        self, query: U64Array, rows: IntArray, lens: IntArray
    ) -> tuple[IntArray, IntArray]:
        """:meth:`scan` of some rows only (``lens`` their sizes): a gather of their tokens."""
        tokens = gather_ranges(self._tokens, self._offsets[rows], self._offsets[rows] + lens)
        if tokens.shape[0] == 0:
            return rows[:0], rows[:0]
        hits = np.zeros(tokens.shape[0] + 1, dtype=np.bool_)  # a trailing False, as in jaccard
        TokenSet(query).contains(tokens, out=hits[:-1])
        counts = np.add.reduceat(hits, lens.cumsum() - lens, dtype=np.int64)
        counts[lens == 0] = 0
        found = np.flatnonzero(counts)
        return rows[found], counts[found]

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the rows where ``keep`` is false and renumber the rest in order.

        Args:
            keep: One boolean per row.

        Raises:
            ValueError: ``keep`` does not have one entry per row.
        """
        _check_keep(keep, self._n_rows)
        rows = np.flatnonzero(keep).astype(np.int64)
        tokens, lens = self.gather(rows)
        self._tokens = tokens.copy()
        self._offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(lens, out=self._offsets[1:])
        self._n_rows = int(rows.shape[0])

    def arrays(self) -> tuple[U64Array, IntArray]:
        """``(tokens, lens)`` of all rows (exact-size copies, for saving)."""
        used = int(self._offsets[self._n_rows])
        return self._tokens[:used].copy(), np.diff(self._offsets[: self._n_rows + 1])


class SketchRows(_Rows):
    """A fixed-width byte sketch per row (the pre-filter's), in one 2-d array.

    Example:
        ```python
        sketches = SketchRows(width=8)
        sketches.append(np.zeros((3, 8), dtype=np.uint8))
        sketches.gather(np.array([0, 2])).shape  # (2, 8)
        ```
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._data = np.zeros((0, width), dtype=np.uint8)
        self._n_rows = 0

    @property
    def nbytes(self) -> int:
        """Bytes allocated (spare capacity included)."""
        return int(self._data.nbytes)

    def append(self, sketches: npt.NDArray[np.uint8]) -> None:
        """Append rows.

        Args:
            sketches: ``(n, width)`` sketches.

        Raises:
            ValueError: The sketches are not ``width`` bytes wide.
        """
        if sketches.ndim != 2 or sketches.shape[1] != self.width:
            msg = f"expected sketches of shape (n, {self.width}), got {sketches.shape}"
            raise ValueError(msg)
        count = sketches.shape[0]
        needed = self._n_rows + count
        if needed > self._data.shape[0]:
            capacity = max(needed, int(self._data.shape[0] * _GROWTH), 1024)
            grown = np.zeros((capacity, self.width), dtype=np.uint8)
            grown[: self._n_rows] = self._data[: self._n_rows]
            self._data = grown
        self._data[self._n_rows : needed] = sketches
        self._n_rows = needed

    def gather(self, rows: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint8]:
        """Sketches of some rows.

        Args:
            rows: Row numbers.

        Returns:
            ``(len(rows), width)`` sketches.
        """
        # one fixed-size record per row: a 1-d take copies each with one memcpy
        records = self._data.view(np.dtype((np.void, self.width))).reshape(-1)
        gathered: npt.NDArray[np.uint8] = records.take(rows).view(np.uint8).reshape(-1, self.width)
        return gathered

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the rows where ``keep`` is false, as :meth:`TokenRows.compact` does."""
        _check_keep(keep, self._n_rows)
        self._data = self._data[: self._n_rows][keep]
        self._n_rows = int(self._data.shape[0])

    def arrays(self) -> npt.NDArray[np.uint8]:
        """All rows' sketches (an exact-size array, for saving)."""
        return self._data[: self._n_rows]


def _member(values: U64Array, query: U64Array) -> npt.NDArray[np.bool_]:
    """``values[i] in query`` for every ``i`` (``query`` distinct and small).

    Up to :data:`_SEARCH_MAX` values, a binary search in the sorted query (few
    numpy calls). Beyond, a 65,536-entry table of the query's low 16 bits rules
    out almost every value with one gather (binary search costs ~15 ns per value
    through branch mispredictions); the few values that pass are checked exactly.
    """
    if query.shape[0] == 0 or values.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=np.bool_)
    ordered = np.sort(query)
    if values.shape[0] <= _SEARCH_MAX:
        pos = np.searchsorted(ordered, values)
        np.minimum(pos, ordered.shape[0] - 1, out=pos)
        found: npt.NDArray[np.bool_] = ordered[pos] == values
        return found
    out = np.zeros(values.shape[0], dtype=np.bool_)
    table = np.zeros(1 << 16, dtype=np.bool_)
    table[(query & np.uint64(0xFFFF)).astype(np.intp)] = True
    maybe = np.flatnonzero(table[_low16(values)])
    if maybe.shape[0]:
        candidates = values[maybe]
        pos = np.minimum(np.searchsorted(ordered, candidates), ordered.shape[0] - 1)
        out[maybe] = ordered[pos] == candidates
    return out


def _low16(values: U64Array) -> npt.NDArray[np.intp] | npt.NDArray[np.uint16]:
    """The low 16 bits of every value (a strided view when possible)."""
    if sys.byteorder == "little" and values.flags.c_contiguous and values.dtype == np.uint64:
        low: npt.NDArray[np.uint16] = values.view(np.uint16)[::4]
        return low
    masked: npt.NDArray[np.intp] = (values & np.uint64(0xFFFF)).astype(np.intp)
    return masked


def jaccard_of_rows(
    tokens: U64Array, lens: IntArray, query: U64Array | TokenSet
) -> npt.NDArray[np.float64]:
    """Exact Jaccard similarity of rows given flat (tokens, lens) with a query set.

    Args:
        tokens: Token ids of the rows, row after row (distinct per row).
        lens: Size of each row.
        query: The query's *distinct* token ids (or a :class:`TokenSet` of them).

    Returns:
        One similarity per row (0.0 for two empty sets).
    """
    members = query if isinstance(query, TokenSet) else TokenSet(query)
    n = int(lens.shape[0])
    total = int(tokens.shape[0])
    if n == 0 or total == 0:
        return np.zeros(n, dtype=np.float64)
    # intersection sizes: member tokens added up per row; a trailing False makes
    # every start a valid index, and empty rows (which read their successor) are zeroed
    hits = np.zeros(total + 1, dtype=np.bool_)
    members.contains(tokens, out=hits[:total])
    inter = np.add.reduceat(hits, lens.cumsum() - lens, dtype=np.int64)
    if int(lens.min()) == 0:
        inter[lens == 0] = 0
    union = (members.tokens.shape[0] + lens) - inter
    if members.tokens.shape[0] == 0:
        scores: npt.NDArray[np.float64] = np.divide(
            inter, union, out=np.zeros(n, dtype=np.float64), where=union > 0
        )
        return scores
    exact: npt.NDArray[np.float64] = inter / union
    return exact
