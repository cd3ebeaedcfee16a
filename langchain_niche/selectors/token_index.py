"""An inverted index of token-id sets that counts exact set intersections.

Each row (an example) is a set of 64-bit token ids. The index keeps, for every
distinct token id, the sorted list of rows containing it (a compressed sparse
row layout in three numpy arrays: 4 bytes per (token, row) pair plus 16 bytes per
distinct token) and the size of every row's set. A query gathers the posting
lists of its own tokens and counts, per row, how many of them it shares: exactly
the intersection sizes needed for exact Jaccard similarity, computed in time
proportional to the postings touched, not to the corpus size.

New rows land in a small *delta* segment that is merged into the main arrays in
linear time once it grows, so single inserts stay cheap. Removed rows are dropped
by :meth:`TokenSetIndex.compact`.

The index is not thread-safe by itself: the owning selector serialises writers
and readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["Intersections", "TokenSetIndex"]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]

_ROW_DTYPE = np.int32
_MAX_ROWS = np.iinfo(_ROW_DTYPE).max
_DELTA_MERGE_PAIRS = 16_384
_UNIQUE_PATH_FACTOR = 8


class Intersections(NamedTuple):
    """Rows sharing at least one token with a query, with the shared counts."""

    rows: IntArray
    """Row numbers, ascending."""
    counts: IntArray
    """``counts[i]`` = size of the intersection of the query with ``rows[i]``."""


class _Csr(NamedTuple):
    vocab: U64Array  # sorted distinct token ids
    offsets: IntArray  # len(vocab) + 1
    postings: npt.NDArray[np.int32]  # rows, grouped by token, ascending per token

    @property
    def pairs(self) -> int:
        return int(self.postings.shape[0])

    def gather(self, query: U64Array) -> npt.NDArray[np.int32]:
        """Concatenate the posting lists of the query tokens present here."""
        if self.vocab.shape[0] == 0 or query.shape[0] == 0:
            return np.empty(0, dtype=_ROW_DTYPE)
        pos = np.searchsorted(self.vocab, query)
        pos = np.minimum(pos, self.vocab.shape[0] - 1)
        pos = pos[self.vocab[pos] == query]
        if pos.shape[0] == 0:
            return np.empty(0, dtype=_ROW_DTYPE)
        starts = self.offsets[pos]
        lengths = self.offsets[pos + 1] - starts
        if pos.shape[0] == 1:
            return self.postings[int(starts[0]) : int(starts[0] + lengths[0])]
        total = int(lengths.sum())
        # index of every gathered element: start of its run + position inside the run
        shift = starts - (np.cumsum(lengths) - lengths)
        idx = np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)
        gathered: npt.NDArray[np.int32] = self.postings[idx]
        return gathered


def _empty_csr() -> _Csr:
    return _Csr(
        np.empty(0, dtype=np.uint64),
        np.zeros(1, dtype=np.int64),
        np.empty(0, dtype=_ROW_DTYPE),
    )


def _csr_from_pairs(tokens: U64Array, rows: npt.NDArray[np.int32]) -> _Csr:
    """Build a CSR from (token, row) pairs whose rows are non-decreasing."""
    if tokens.shape[0] == 0:
        return _empty_csr()
    order = np.argsort(tokens, kind="stable")  # stable: rows stay ascending per token
    sorted_tokens = tokens[order]
    vocab, counts = np.unique(sorted_tokens, return_counts=True)
    offsets = np.zeros(vocab.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return _Csr(vocab, offsets, rows[order])


def _merge(main: _Csr, extra: _Csr) -> _Csr:
    """Merge two CSRs where every row of ``extra`` is after every row of ``main``.

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
    postings[np.arange(extra.pairs) + np.repeat(extra_shift, np.diff(extra.offsets))] = (
        extra.postings
    )
    return _Csr(vocab, offsets, postings)


class TokenSetIndex:
    """Exact set-intersection counts over rows of 64-bit token ids.

    Example:
        ```python
        index = TokenSetIndex()
        index.append([np.array([1, 2, 3], dtype=np.uint64), np.array([3], dtype=np.uint64)])
        index.intersections(np.array([3, 4], dtype=np.uint64))
        # Intersections(rows=array([0, 1]), counts=array([1, 1]))
        ```
    """

    def __init__(self) -> None:
        self._main = _empty_csr()
        self._main_rows = 0  # rows [0, _main_rows) live in _main
        self._delta_tokens: list[U64Array] = []
        self._delta_rows: list[npt.NDArray[np.int32]] = []
        self._delta_pairs = 0
        self._delta_csr: _Csr | None = None
        self._lens = np.zeros(0, dtype=np.int32)
        self._n_rows = 0

    # -- size -----------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows (removed rows included until :meth:`compact`)."""
        return self._n_rows

    @property
    def lens(self) -> npt.NDArray[np.int32]:
        """Size of every row's token set (a read-only view)."""
        view = self._lens[: self._n_rows]
        view.flags.writeable = False
        return view

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (postings, offsets, vocabulary, sizes)."""
        main = self._main
        delta = sum(
            t.nbytes + r.nbytes for t, r in zip(self._delta_tokens, self._delta_rows, strict=True)
        )
        return int(
            main.vocab.nbytes
            + main.offsets.nbytes
            + main.postings.nbytes
            + self._lens.nbytes
            + delta
        )

    # -- writes ---------------------------------------------------------------
    def append(self, token_sets: Sequence[U64Array]) -> None:
        """Append one row per token set (each an array of *distinct* ids).

        Args:
            token_sets: The new rows' token ids, in row order.
        """
        count = len(token_sets)
        if count == 0:
            return
        lens = np.fromiter((t.shape[0] for t in token_sets), dtype=np.int64, count=count)
        tokens = np.concatenate([np.asarray(t, dtype=np.uint64) for t in token_sets])
        self.append_flat(tokens, lens)

    def append_flat(self, tokens: U64Array, lens: IntArray) -> None:
        """Append rows given as one flat array of token ids and the size of each row.

        Args:
            tokens: The token ids of all new rows, row after row (distinct per row).
            lens: The number of ids of each new row.

        Raises:
            ValueError: ``lens`` does not add up to the number of tokens.
            OverflowError: The index would exceed 2**31 - 1 rows.
        """
        count = int(lens.shape[0])
        if count == 0:
            return
        if int(lens.sum()) != tokens.shape[0]:
            msg = (
                f"row sizes add up to {int(lens.sum())}, but {tokens.shape[0]} token ids were given"
            )
            raise ValueError(msg)
        if self._n_rows + count > _MAX_ROWS:
            msg = f"a TokenSetIndex holds at most {_MAX_ROWS} rows, got {self._n_rows + count}"
            raise OverflowError(msg)
        tokens = np.asarray(tokens, dtype=np.uint64)
        rows = np.repeat(np.arange(self._n_rows, self._n_rows + count, dtype=_ROW_DTYPE), lens)
        self._grow_lens(count)
        self._lens[self._n_rows : self._n_rows + count] = lens
        self._n_rows += count
        self._delta_tokens.append(tokens)
        self._delta_rows.append(rows)
        self._delta_pairs += tokens.shape[0]
        self._delta_csr = None
        if self._delta_pairs >= max(_DELTA_MERGE_PAIRS, self._main.pairs // 16):
            self.flush()

    def _grow_lens(self, count: int) -> None:
        needed = self._n_rows + count
        if needed <= self._lens.shape[0]:
            return
        capacity = max(needed, 2 * self._lens.shape[0], 1024)
        grown = np.zeros(capacity, dtype=np.int32)
        grown[: self._n_rows] = self._lens[: self._n_rows]
        self._lens = grown

    def flush(self) -> None:
        """Merge the delta segment into the main arrays (linear time)."""
        if not self._delta_tokens:
            return
        delta = self._delta()
        self._main = _merge(self._main, delta)
        self._main_rows = self._n_rows
        self._delta_tokens.clear()
        self._delta_rows.clear()
        self._delta_pairs = 0
        self._delta_csr = None

    def _delta(self) -> _Csr:
        if self._delta_csr is None:
            if not self._delta_tokens:
                self._delta_csr = _empty_csr()
            else:
                tokens = np.concatenate(self._delta_tokens)
                rows = np.concatenate(self._delta_rows)
                self._delta_csr = _csr_from_pairs(tokens, rows)
        return self._delta_csr

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the rows where ``keep`` is false and renumber the rest in order.

        Args:
            keep: One boolean per row.

        Raises:
            ValueError: ``keep`` does not have one entry per row.
        """
        if keep.shape != (self._n_rows,):
            msg = f"keep must have one entry per row ({self._n_rows}), got shape {keep.shape}"
            raise ValueError(msg)
        self.flush()
        new_row = np.cumsum(keep, dtype=np.int64) - 1
        main = self._main
        counts = np.diff(main.offsets)
        token_of_pair = np.repeat(np.arange(main.vocab.shape[0]), counts)
        kept = keep[main.postings]
        token_of_pair = token_of_pair[kept]
        postings = new_row[main.postings[kept]].astype(_ROW_DTYPE)
        new_counts = np.bincount(token_of_pair, minlength=main.vocab.shape[0])
        present = new_counts > 0
        offsets = np.zeros(int(present.sum()) + 1, dtype=np.int64)
        np.cumsum(new_counts[present], out=offsets[1:])
        self._main = _Csr(main.vocab[present], offsets, postings)
        lens = self._lens[: self._n_rows][keep]
        self._n_rows = int(lens.shape[0])
        self._lens = np.array(lens, dtype=np.int32)
        self._main_rows = self._n_rows

    # -- reads ----------------------------------------------------------------
    def intersections(self, query: U64Array) -> Intersections:
        """Count, for every row sharing a token with ``query``, the shared tokens.

        Args:
            query: The query's *distinct* token ids.

        Returns:
            Rows (ascending) with a non-empty intersection and its size.
        """
        query = np.asarray(query, dtype=np.uint64)
        hits: npt.NDArray[np.signedinteger[Any]] = self._main.gather(query)
        if self._delta_tokens:
            extra = self._delta().gather(query)
            if extra.shape[0]:
                hits = np.concatenate([hits, extra]) if hits.shape[0] else extra
        if hits.shape[0] == 0:
            empty = np.empty(0, dtype=np.int64)
            return Intersections(empty, empty)
        if hits.shape[0] * _UNIQUE_PATH_FACTOR < self._n_rows:
            unique_rows, counts = np.unique(hits, return_counts=True)
            return Intersections(unique_rows.astype(np.int64), counts.astype(np.int64))
        full = np.bincount(hits, minlength=self._n_rows).astype(np.int64, copy=False)
        rows = np.flatnonzero(full).astype(np.int64, copy=False)
        return Intersections(rows, full[rows])
