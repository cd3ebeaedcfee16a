"""The in-memory MinHash-LSH index: sorted band keys plus each example's token ids.

Two numpy structures, both addressed by row (the selector's insertion order):

* :class:`TokenRows`, every row's distinct token ids (``uint64``, the ids of
  :func:`langchain_niche.text.stable_token_hashes`) in one flat array with
  offsets: 8 bytes per token of an example. Candidates are re-ranked by *exact*
  Jaccard similarity on these ids (the same ids and scores as
  ``JaccardExampleSelector``), and signatures can always be recomputed from
  them (their low 32 bits are datasketch's ``sha1_hash32``), so signatures are
  never stored.
* :class:`BandTable`, one ``uint64`` band key (see
  :class:`langchain_niche.minhash.banding.Banding`) and one ``int32`` row per (row, band)
  pair, sorted by key: 12 bytes per band of an example. A lookup is a binary
  search per band; because a key's high bits hash the band's prefix, a range
  search over the same array finds the rows agreeing on a band prefix (the
  lower-threshold probe).

New pairs go to a small sorted *delta* that is merged into the main arrays in
linear time when it grows, so single inserts stay cheap and queries never sort.
Removed rows are filtered by the caller and dropped by ``compact``.

Neither class is thread-safe; the selector serialises access.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from langchain_niche.minhash.rows import (
    _MAX_ROWS,
    _ROW_DTYPE,
    IntArray,
    RowArray,
    SketchRows,
    TokenRows,
    TokenSet,
    U64Array,
    gather_ranges,
    jaccard_of_rows,
)

__all__ = [
    "BandTable",
    "ProbeRanges",
    "SketchRows",
    "TokenRows",
    "TokenSet",
    "gather_ranges",
    "jaccard_of_rows",
]

_DELTA_PAIRS = 1 << 16
_ONE = np.uint64(1)


def _merge_sorted(
    keys_a: U64Array, rows_a: RowArray, keys_b: U64Array, rows_b: RowArray
) -> tuple[U64Array, RowArray]:
    """Merge two key-sorted (key, row) arrays in linear time (b after a on ties)."""
    if keys_b.shape[0] == 0:
        return keys_a, rows_a
    if keys_a.shape[0] == 0:
        return keys_b, rows_b
    total = keys_a.shape[0] + keys_b.shape[0]
    dest_b = np.searchsorted(keys_a, keys_b, side="right") + np.arange(keys_b.shape[0])
    from_a = np.ones(total, dtype=np.bool_)
    from_a[dest_b] = False
    keys = np.empty(total, dtype=np.uint64)
    rows = np.empty(total, dtype=_ROW_DTYPE)
    keys[from_a] = keys_a
    rows[from_a] = rows_a
    keys[dest_b] = keys_b
    rows[dest_b] = rows_b
    return keys, rows


@dataclass(frozen=True)
class ProbeRanges:
    """Band-prefix ranges located in a :class:`BandTable` (:meth:`BandTable.ranges`)."""

    lo: U64Array
    """Range starts."""
    hi: U64Array
    """Range ends (exclusive)."""
    bounds: list[tuple[IntArray, IntArray, RowArray]]
    """Per segment: where each range starts and ends, and the segment's rows."""

    @property
    def entries(self) -> int:
        """Number of pairs in the ranges, over every segment."""
        return sum(int((ends - starts).sum()) for starts, ends, _ in self.bounds)


class BandTable:
    """(band key, row) pairs sorted by key, for band lookups and prefix probes.

    Example:
        ```python
        table = BandTable()
        table.append(np.array([[5, 9], [5, 7]], dtype=np.uint64), np.array([0, 1]))
        table.lookup(np.array([5], dtype=np.uint64))  # array([0, 1])
        ```
    """

    def __init__(self) -> None:
        empty_keys = np.zeros(0, dtype=np.uint64)
        empty_rows = np.zeros(0, dtype=_ROW_DTYPE)
        self._keys, self._rows = empty_keys, empty_rows
        self._delta_keys, self._delta_rows = empty_keys, empty_rows

    def _set_main(self, keys: U64Array, rows: RowArray) -> None:
        """Replace the main arrays."""
        self._keys, self._rows = keys, rows

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(
            self._keys.nbytes
            + self._rows.nbytes
            + self._delta_keys.nbytes
            + self._delta_rows.nbytes
        )

    def append(self, keys: U64Array, rows: IntArray) -> None:
        """Add the band keys of new rows.

        Args:
            keys: ``(n, bands)`` keys, one line per row.
            rows: The ``n`` row numbers.

        Raises:
            OverflowError: A row number does not fit in 31 bits.
        """
        n = int(keys.shape[0])
        if n == 0:
            return
        if int(rows.max()) >= _MAX_ROWS:
            msg = f"a BandTable holds at most {_MAX_ROWS} rows, got row {int(rows.max())}"
            raise OverflowError(msg)
        flat_keys = keys.reshape(-1)
        flat_rows = np.repeat(rows.astype(_ROW_DTYPE), keys.shape[1])
        order = np.argsort(flat_keys, kind="stable")
        new_keys, new_rows = flat_keys[order], flat_rows[order]
        if new_keys.shape[0] >= _DELTA_PAIRS:
            self.flush()
            self._set_main(*_merge_sorted(self._keys, self._rows, new_keys, new_rows))
            return
        self._delta_keys, self._delta_rows = _merge_sorted(
            self._delta_keys, self._delta_rows, new_keys, new_rows
        )
        if self._delta_keys.shape[0] >= _DELTA_PAIRS:
            self.flush()

    def flush(self) -> None:
        """Merge the delta into the main arrays (linear time)."""
        if self._delta_keys.shape[0]:
            self._set_main(
                *_merge_sorted(self._keys, self._rows, self._delta_keys, self._delta_rows)
            )
            self._delta_keys = np.zeros(0, dtype=np.uint64)
            self._delta_rows = np.zeros(0, dtype=_ROW_DTYPE)

    def _segments(self) -> list[tuple[U64Array, RowArray]]:
        return [
            (keys, rows)
            for keys, rows in ((self._keys, self._rows), (self._delta_keys, self._delta_rows))
            if keys.shape[0]
        ]

    def _bounds(self, lo: U64Array, hi: U64Array) -> list[tuple[IntArray, IntArray, RowArray]]:
        """Per segment: where each range ``[lo[i], hi[i])`` starts and ends, and the rows."""
        needles = np.empty(2 * lo.shape[0], dtype=np.uint64)
        needles[0::2] = lo
        needles[1::2] = hi
        out = []
        for keys, rows in self._segments():
            pos = np.searchsorted(keys, needles)  # one call for both ends
            out.append((pos[0::2], pos[1::2], rows))
        return out

    @staticmethod
    def _gather(
        bounds: list[tuple[IntArray, IntArray, RowArray]], which: IntArray | None
    ) -> RowArray:
        """The rows of the ranges ``which`` (all when ``None``) of every segment."""
        parts: list[RowArray] = []
        for all_starts, all_ends, rows in bounds:
            starts, ends = (
                (all_starts, all_ends) if which is None else (all_starts[which], all_ends[which])
            )
            busy = np.flatnonzero(ends > starts)
            # a few ranges (one per band): slices beat a vectorized gather
            parts.extend(
                rows[a:b] for a, b in zip(starts[busy].tolist(), ends[busy].tolist(), strict=True)
            )
        if not parts:
            return np.zeros(0, dtype=_ROW_DTYPE)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def lookup(self, keys: U64Array) -> RowArray:
        """Rows having any of ``keys`` (a row appears once per matching band).

        Args:
            keys: Band keys of a query (below ``2**64 - 1``, as band keys are).

        Returns:
            Row numbers, unordered, with repeats (a new array).
        """
        needles = np.repeat(keys, 2)
        needles[1::2] += _ONE
        parts = []
        for seg_keys, rows in ((self._keys, self._rows), (self._delta_keys, self._delta_rows)):
            if seg_keys.shape[0]:
                bounds = seg_keys.searchsorted(needles).tolist()
                ranges = zip(bounds[0::2], bounds[1::2], strict=True)
                parts += [rows[a:b] for a, b in ranges if b > a]
        if not parts:
            return np.zeros(0, dtype=_ROW_DTYPE)
        return np.concatenate(parts)

    def probe(self, lo: U64Array, hi: U64Array, budget: int | None = None) -> RowArray:
        """Rows having a key in any range ``[lo[i], hi[i])``.

        Args:
            lo: Range starts.
            hi: Range ends (exclusive).
            budget: Most pairs to read: the smallest ranges are read whole while
                they fit, then what is left of the budget is spent on the first
                pairs (by key, then row) of the next smallest range, so a range
                of many equal examples still yields some (the earliest) rows.
                ``None``: read every range.

        Returns:
            Row numbers, unordered, one entry per matching range.
        """
        bounds = self._bounds(lo, hi)
        if budget is None:
            return self._gather(bounds, None)
        sizes = sum((ends - starts for starts, ends, _ in bounds), np.zeros(lo.shape[0], np.int64))
        order = np.argsort(sizes, kind="stable")
        used = np.cumsum(sizes[order])
        fits = int(np.searchsorted(used, budget, side="right"))
        rows = self._gather(bounds, np.sort(order[:fits]))
        left = budget - (int(used[fits - 1]) if fits else 0)
        if fits == order.shape[0] or left <= 0:
            return rows
        return np.concatenate([rows, self._first_of_range(int(order[fits]), lo, hi, left)])

    def ranges(self, lo: U64Array, hi: U64Array) -> ProbeRanges:
        """Where the ranges ``[lo[i], hi[i])`` lie (one binary search per end and segment).

        On a large table each search misses the cache at every step, so a
        scoped probe locates its ranges once, sizes them (:attr:`ProbeRanges.entries`)
        and then reads them (:meth:`probe_within`).

        Args:
            lo: Range starts.
            hi: Range ends (exclusive).

        Returns:
            The located ranges.
        """
        return ProbeRanges(lo, hi, self._bounds(lo, hi))

    def probe_within(
        self,
        ranges: ProbeRanges,
        budget: int,
        inside: npt.NDArray[np.bool_],
        cap: int | None = None,
    ) -> RowArray:
        """:meth:`probe` with a budget, as if the table held only the rows ``inside``.

        The pairs of the ranges are read and those of rows outside are dropped
        *before* the ranges are sized and the budget is spent, so a large index
        does not spend the budget on other scopes' rows. Without ``cap`` the
        result is what :meth:`probe` returns on a table of only those rows.

        Args:
            ranges: The ranges, from :meth:`ranges` (no write in between).
            budget: Most pairs of rows inside to read (see :meth:`probe`).
            inside: One boolean per row number (covering every row in the table).
            cap: Most pairs to read in all (``None``: every pair of the ranges):
                the smallest ranges (by their size in the whole table) are read
                while they fit, the others are left out.

        Returns:
            Row numbers, unordered, one entry per matching range.
        """
        lo, hi = ranges.lo, ranges.hi
        bounds = [(starts, ends.copy(), rows) for starts, ends, rows in ranges.bounds]
        n = int(lo.shape[0])
        if cap is not None:
            full = sum((ends - starts for starts, ends, _ in bounds), np.zeros(n, np.int64))
            by_size = np.argsort(full, kind="stable")
            unread = by_size[int(np.searchsorted(np.cumsum(full[by_size]), cap, side="right")) :]
            for starts, ends, _ in bounds:
                ends[unread] = starts[unread]  # left out: empty
        # per segment: the rows of every range and which of them are inside
        reads = []
        sizes = np.zeros(n, dtype=np.int64)
        for starts, ends, rows in bounds:
            seg_rows = self._gather([(starts, ends, rows)], None)
            keep = inside[seg_rows]
            lengths = ends - starts
            busy = np.flatnonzero(lengths)
            if busy.shape[0]:
                firsts = np.cumsum(lengths[busy]) - lengths[busy]
                sizes[busy] += np.add.reduceat(keep, firsts, dtype=np.int64)
            reads.append((seg_rows, keep, lengths))
        order = np.argsort(sizes, kind="stable")
        used = np.cumsum(sizes[order])
        fits = int(np.searchsorted(used, budget, side="right"))
        chosen = np.zeros(n, dtype=np.bool_)
        chosen[order[:fits]] = True
        parts = [seg_rows[keep & np.repeat(chosen, lengths)] for seg_rows, keep, lengths in reads]
        whole: RowArray = np.concatenate(parts) if parts else np.zeros(0, dtype=_ROW_DTYPE)
        left = budget - (int(used[fits - 1]) if fits else 0)
        if fits == n or left <= 0:
            return whole
        first = self._first_of_range(int(order[fits]), lo, hi, left, inside)
        return np.concatenate([whole, first])

    def _first_of_range(
        self,
        i: int,
        lo: U64Array,
        hi: U64Array,
        n: int,
        inside: npt.NDArray[np.bool_] | None = None,
    ) -> RowArray:
        """The first ``n`` rows (``inside`` only, if given) of range ``i`` in (key, row) order."""
        keys_parts, rows_parts = [], []
        for keys, rows in self._segments():
            a, b = np.searchsorted(keys, np.array([lo[i], hi[i]], dtype=np.uint64)).tolist()
            keep = slice(None) if inside is None else inside[rows[a:b]]
            keys_parts.append(keys[a:b][keep])
            rows_parts.append(rows[a:b][keep])
        if not keys_parts:
            return np.zeros(0, dtype=_ROW_DTYPE)
        keys, rows = np.concatenate(keys_parts), np.concatenate(rows_parts)
        first: RowArray = rows[np.lexsort((rows, keys))[:n]]
        return first

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the pairs of rows where ``keep`` is false; renumber the rest in order.

        Args:
            keep: One boolean per row.
        """
        self.flush()
        new_row = (np.cumsum(keep, dtype=np.int64) - 1).astype(_ROW_DTYPE)
        kept = keep[self._rows]
        self._set_main(self._keys[kept], new_row[self._rows[kept]])

    def arrays(self) -> tuple[U64Array, RowArray]:
        """``(keys, rows)`` sorted by key (for saving)."""
        self.flush()
        return self._keys, self._rows

    def restore(self, keys: U64Array, rows: RowArray) -> None:
        """Replace the content with saved arrays.

        Args:
            keys: Keys sorted ascending.
            rows: Row of every key.

        Raises:
            ValueError: The arrays are inconsistent or not sorted.
        """
        if keys.shape != rows.shape or keys.ndim != 1:
            msg = f"keys and rows must be 1-d of one length, got {keys.shape} and {rows.shape}"
            raise ValueError(msg)
        if keys.shape[0] > 1 and bool(np.any(keys[1:] < keys[:-1])):
            msg = "band keys are not sorted"
            raise ValueError(msg)
        self._delta_keys = np.zeros(0, dtype=np.uint64)
        self._delta_rows = np.zeros(0, dtype=_ROW_DTYPE)
        self._set_main(keys.astype(np.uint64, copy=True), rows.astype(_ROW_DTYPE, copy=True))
