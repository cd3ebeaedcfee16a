"""An inverted index of token-id sets with exact Jaccard top-k queries.

Each row (an example) is a set of 64-bit token ids. The index stores:

* for ordinary tokens, the sorted list of rows containing them (compressed sparse
  rows: 4 bytes per (token, row) pair plus 16 bytes per distinct token);
* for *frequent* tokens (in at least 1/32 of the rows, e.g. "the", "a", "of"), a
  bitset over the rows instead, which is smaller than their posting lists and
  lets a query skip them;
* the size of every row's set.

A query counts shared tokens only for rows that contain one of its ordinary
tokens, then adds the frequent tokens from the bitsets. A row containing only
frequent query tokens shares at most ``f`` of them (``f`` = the number of frequent
query tokens) and so scores at most ``f / q``; such rows are scanned only when
that bound can still beat the k-th best score. Results are exact, and a query
costs time proportional to the postings of its rarer tokens, not to the corpus.

New rows land in a small *delta* segment (posting lists only) that is merged into
the main arrays in linear time once it grows, so single inserts stay cheap.
Removed rows are dropped by :meth:`TokenSetIndex.compact`.

The index is not thread-safe by itself: the owning selector serialises writers
and readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from langchain_niche import scoring
from langchain_niche._arrays import unique_inverse
from langchain_niche.selectors._postings import (
    _ROW_DTYPE,
    FloatArray,
    IntArray,
    RowArray,
    U64Array,
    _Csr,
    _csr_from_pairs,
    _empty_csr,
    _empty_main,
    _join,
    _merge,
    _split,
    _Subset,
)
from langchain_niche.selectors._ranking import EPS, best, rank_by_jaccard

__all__ = ["TokenSetIndex"]

_MAX_ROWS = int(np.iinfo(_ROW_DTYPE).max)

_DELTA_MERGE_PAIRS = 16_384
_UNIQUE_PATH_FACTOR = 8
_DENSE_FRACTION = 32  # a token in >= 1/32 of the rows is kept as a bitset
_DENSE_MIN_ROWS = 4_096  # below this many rows, every token stays a posting list


class TokenSetIndex:
    """Exact Jaccard queries over rows of 64-bit token ids.

    Example:
        ```python
        index = TokenSetIndex()
        index.append([np.array([1, 2, 3], dtype=np.uint64), np.array([3], dtype=np.uint64)])
        index.top_k(np.array([3, 4], dtype=np.uint64), 2)
        # (array([1, 0]), array([0.5, 0.25]))
        ```
    """

    def __init__(self) -> None:
        self._main = _empty_main()
        self._delta_tokens: list[U64Array] = []
        self._delta_rows: list[RowArray] = []
        self._delta_pairs = 0
        self._delta_csr: _Csr | None = None
        self._lens = np.zeros(0, dtype=np.int32)
        self._n_rows = 0
        self._lens_total = 0

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
    def dense_tokens(self) -> int:
        """Frequent tokens held as bitsets over the rows (the others: posting lists)."""
        return int(self._main.dense_vocab.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (postings, bitsets, vocabulary, sizes)."""
        main = self._main
        delta = sum(
            t.nbytes + r.nbytes for t, r in zip(self._delta_tokens, self._delta_rows, strict=True)
        )
        return int(
            main.sparse.vocab.nbytes
            + main.sparse.offsets.nbytes
            + main.sparse.postings.nbytes
            + main.dense_vocab.nbytes
            + main.bits.nbytes
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
            msg = f"row sizes add up to {int(lens.sum())}, but {tokens.shape[0]} ids were given"
            raise ValueError(msg)
        if self._n_rows + count > _MAX_ROWS:
            msg = f"a TokenSetIndex holds at most {_MAX_ROWS} rows, got {self._n_rows + count}"
            raise OverflowError(msg)
        tokens = np.asarray(tokens, dtype=np.uint64)
        rows = np.repeat(np.arange(self._n_rows, self._n_rows + count, dtype=_ROW_DTYPE), lens)
        self._grow_lens(count)
        self._lens[self._n_rows : self._n_rows + count] = lens
        self._n_rows += count
        self._lens_total += int(lens.sum())
        self._delta_tokens.append(tokens)
        self._delta_rows.append(rows)
        self._delta_pairs += tokens.shape[0]
        self._delta_csr = None
        if self._delta_pairs >= max(_DELTA_MERGE_PAIRS, self._main.sparse.pairs // 16):
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
        if not self._delta_tokens and self._main.rows == self._n_rows:
            return
        merged = _merge(_join(self._main), self._delta())
        self._main = _split(
            merged,
            self._n_rows,
            dense_fraction=_DENSE_FRACTION,
            dense_min_rows=_DENSE_MIN_ROWS,
        )
        self._delta_tokens.clear()
        self._delta_rows.clear()
        self._delta_pairs = 0
        self._delta_csr = None

    def _delta(self) -> _Csr:
        if self._delta_csr is None:
            if not self._delta_tokens:
                self._delta_csr = _empty_csr()
            else:
                self._delta_csr = _csr_from_pairs(
                    np.concatenate(self._delta_tokens), np.concatenate(self._delta_rows)
                )
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
        full = _join(self._main)
        new_row = np.cumsum(keep, dtype=np.int64) - 1
        counts = np.diff(full.offsets)
        token_of_pair = np.repeat(np.arange(full.vocab.shape[0]), counts)
        kept = keep[full.postings]
        token_of_pair = token_of_pair[kept]
        postings = new_row[full.postings[kept]].astype(_ROW_DTYPE)
        new_counts = np.bincount(token_of_pair, minlength=full.vocab.shape[0])
        present = new_counts > 0
        offsets = np.zeros(int(present.sum()) + 1, dtype=np.int64)
        np.cumsum(new_counts[present], out=offsets[1:])
        lens = self._lens[: self._n_rows][keep]
        self._n_rows = int(lens.shape[0])
        self._lens_total = int(lens.sum())
        self._lens = np.array(lens, dtype=np.int32)
        self._main = _split(
            _Csr(full.vocab[present], offsets, postings),
            self._n_rows,
            dense_fraction=_DENSE_FRACTION,
            dense_min_rows=_DENSE_MIN_ROWS,
        )

    # -- reads ----------------------------------------------------------------
    def _sparse_lists(self, query: U64Array) -> list[RowArray]:
        lists = self._main.sparse.lists(query)
        if self._delta_tokens:
            lists.extend(self._delta().lists(query))
        return lists

    def _sparse_hits(self, lists: list[RowArray]) -> tuple[IntArray, IntArray]:
        """Rows hit by the posting lists, with how many lists hit each (rows ascending)."""
        total = sum(p.shape[0] for p in lists)
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        hits = np.concatenate(lists) if len(lists) > 1 else lists[0]
        if total * _UNIQUE_PATH_FACTOR < self._n_rows:
            unique_rows, unique_counts = np.unique(hits, return_counts=True)
            return unique_rows.astype(np.int64), unique_counts.astype(np.int64)
        full = np.bincount(hits, minlength=self._n_rows)
        rows = np.flatnonzero(full).astype(np.int64, copy=False)
        return rows, full[rows].astype(np.int64, copy=False)

    def _scoped(
        self,
        query: U64Array,
        limit: int,
        within: npt.ArrayLike | None,
        alive: npt.NDArray[np.bool_] | None,
    ) -> tuple[U64Array, _Subset | None, npt.NDArray[np.bool_] | None] | None:
        """A query's ids, its scope and the mask left to apply; ``None``: nothing can match."""
        query = np.asarray(query, dtype=np.uint64)
        subset = _Subset.of(within, alive, self._n_rows)
        n = self._n_rows if subset is None else subset.size
        if query.shape[0] == 0 or limit < 1 or n == 0:
            return None
        return query, subset, alive if subset is None else None  # a scope applied the mask

    def top_k(
        self,
        query: U64Array,
        limit: int,
        *,
        threshold: float = 0.0,
        alive: npt.NDArray[np.bool_] | None = None,
        within: npt.ArrayLike | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``limit`` rows most Jaccard-similar to ``query``, exactly.

        Only rows sharing at least one token and scoring at least ``threshold``
        qualify; ties are broken by row number (insertion order).

        Args:
            query: The query's *distinct* token ids.
            limit: How many rows to return at most.
            threshold: Minimum similarity.
            alive: Optional mask of the rows that may be returned.
            within: Optional ascending rows that may be returned (a scope). Posting
                lists are cut down to them before counting, so a small scope costs
                time in proportion to its size rather than to the whole index.

        Returns:
            ``(rows, scores)``, best first.

        Raises:
            InvalidParameterError: ``within`` is not ascending, or holds a row out
                of range.
        """
        scoped = self._scoped(query, limit, within, alive)
        if scoped is None:
            return _empty()
        query, subset, alive = scoped
        q = int(query.shape[0])
        main = self._main
        dense = main.dense_positions(query)
        n_dense = int(dense.shape[0])
        lists = self._sparse_lists(query)
        rows, counts = self._sparse_hits(lists if subset is None else subset.restrict(lists))
        only_dense: npt.NDArray[np.uint8] | None = None
        if n_dense and rows.shape[0]:
            if rows.shape[0] * _UNIQUE_PATH_FACTOR < main.rows:
                counts += main.dense_counts_at(dense, rows)
            else:
                only_dense = main.dense_counts(dense)
                inside = rows < main.rows
                counts[inside] += only_dense[rows[inside]]
        if alive is not None and rows.shape[0]:
            keep = alive[rows]
            rows, counts = rows[keep], counts[keep]
        best_rows, best_scores = rank_by_jaccard(
            rows, counts, q, self._lens, limit=limit, threshold=threshold
        )
        if n_dense == 0:
            return best_rows, best_scores
        # Rows containing none of the ordinary query tokens share at most n_dense
        # tokens, so they score at most n_dense / q: scan them only if that can
        # still reach the threshold or the current k-th score (ties included).
        c_need = max(1, math.ceil(threshold * q * (1 - EPS)))
        if best_rows.shape[0] == limit:
            c_need = max(c_need, math.floor(float(best_scores[-1]) * q * (1 - EPS)))
        if n_dense < c_need:
            return best_rows, best_scores
        extra, extra_counts = self._dense_only(
            dense, rows, c_need, only_dense=only_dense, subset=subset, alive=alive
        )
        if extra.shape[0] == 0:
            return best_rows, best_scores
        extra_rows, extra_scores = rank_by_jaccard(
            extra, extra_counts, q, self._lens, limit=limit, threshold=threshold
        )
        return best(
            np.concatenate([best_rows, extra_rows]),
            np.concatenate([best_scores, extra_scores]),
            limit,
            threshold,
        )

    def _dense_only(
        self,
        dense: IntArray,
        hit: IntArray,
        c_need: int,
        *,
        only_dense: npt.NDArray[np.uint8] | None,
        subset: _Subset | None,
        alive: npt.NDArray[np.bool_] | None,
    ) -> tuple[IntArray, IntArray]:
        """Rows not in ``hit`` holding at least ``c_need`` of the frequent query tokens."""
        main = self._main
        small = subset is not None and subset.size * _UNIQUE_PATH_FACTOR < main.rows
        if subset is not None and small and only_dense is None:  # the scope's other rows only
            extra = subset.outside(hit, main.rows)
            counts = main.dense_counts_at(dense, extra)
            keep = counts >= c_need
            return extra[keep], counts[keep]
        if only_dense is None:
            only_dense = main.dense_counts(dense)
        only_dense[hit[hit < main.rows]] = 0  # rows hit by ordinary tokens: counted already
        mask = subset.mask if subset is not None else alive
        if mask is not None:
            only_dense *= mask[: main.rows]
        extra = np.flatnonzero(only_dense >= c_need).astype(np.int64)
        return extra, only_dense[extra].astype(np.int64)

    # -- BM25 -------------------------------------------------------------------
    def frequencies(self, query: U64Array) -> IntArray:
        """Number of rows containing each query token (removed rows included)."""
        query = np.asarray(query, dtype=np.uint64)
        df = self._main.sparse.frequencies(query)
        dense_pos, dense_q = self._main.dense_lookup(query)
        df[dense_q] += self._main.dense_df[dense_pos]
        if self._delta_tokens:
            df += self._delta().frequencies(query)
        return df

    def idf(self, query: U64Array) -> FloatArray:
        """BM25 inverse document frequency of each query token (current statistics).

        Args:
            query: Token ids.

        Returns:
            ``ln(1 + (N - df + 0.5) / (df + 0.5))`` per token.
        """
        return scoring.bm25_idf(self._n_rows, self.frequencies(query))

    def average_length(self) -> float:
        """The average row length BM25 normalises by (current statistics)."""
        return scoring.average_length(self._lens_total, self._n_rows)

    def top_k_bm25(
        self,
        query: U64Array,
        limit: int,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        threshold: float = 0.0,
        alive: npt.NDArray[np.bool_] | None = None,
        within: npt.ArrayLike | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``limit`` rows with the best BM25 score over token *sets*, exactly.

        ``score = sum(idf(t) for t in query & row) * (k1 + 1) / (1 + k1 * (1 - b + b *
        len(row) / avg_len))`` with ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``,
        divided by the score of an ideal (empty-length) row containing every query
        token, so scores lie in [0, 1]. Statistics count removed rows until
        :meth:`compact`. Ties are broken by row number.

        Args:
            query: The query's *distinct* token ids.
            limit: How many rows to return at most.
            k1: BM25 saturation parameter (only the length normalisation matters for sets).
            b: BM25 length normalisation in [0, 1].
            threshold: Minimum normalised score.
            alive: Optional mask of the rows that may be returned (statistics stay
                those of every row).
            within: Optional ascending rows (a scope): only they may be returned,
                and the statistics (``N``, each ``df``, ``avg_len``) are theirs, so
                the result is that of an index holding only these rows (those
                ``alive`` allows, when both are given).

        Returns and raises as :meth:`top_k`.
        """
        scoped = self._scoped(query, limit, within, alive)
        if scoped is None:
            return _empty()
        query, subset, alive = scoped
        main = self._main
        dense_pos, dense_q = main.dense_lookup(query)
        lists, list_q = self._lists_with_positions(query)
        if subset is None:
            idf = self.idf(query)
            avg_len = scoring.average_length(self._lens_total, self._n_rows)
        else:
            lists = subset.restrict(lists)
            idf, avg_len = self._subset_statistics(query, lists, list_q, subset)
        query_idf = float(idf.sum())
        best_gain = scoring.bm25_gain(0.0, k1=k1, b=b, avg_len=avg_len)
        upper = query_idf * best_gain
        if upper <= 0:
            return _empty()
        rows, sums = self._weighted_hits(lists, idf[list_q])
        if dense_pos.shape[0] and rows.shape[0]:
            sums += main.dense_weights_at(dense_pos, idf[dense_q], rows)
        if alive is not None and rows.shape[0]:
            keep = alive[rows]
            rows, sums = rows[keep], sums[keep]

        def scores_of(rows: IntArray, sums: FloatArray) -> FloatArray:
            return scoring.bm25_scores(
                sums, self._lens[rows], query_idf=query_idf, k1=k1, b=b, avg_len=avg_len
            )

        best_rows, best_scores = best(rows, scores_of(rows, sums), limit, threshold)
        if dense_pos.shape[0] == 0:
            return best_rows, best_scores
        # Rows holding only frequent query tokens score at most (sum of their idf)
        # * best_gain / upper: scan them only when that bound can still compete.
        floor = threshold
        if best_rows.shape[0] == limit:
            floor = max(floor, float(best_scores[-1]))
        dense_idf = idf[dense_q]
        if float(dense_idf.sum()) * best_gain / upper < floor * (1 - EPS):
            return best_rows, best_scores
        extra, extra_sums = self._dense_only_weights(dense_pos, dense_idf, rows, subset, alive)
        keep = (extra_sums > 0) & (extra_sums * best_gain / upper >= floor * (1 - EPS))
        extra, extra_sums = extra[keep], extra_sums[keep]
        if extra.shape[0] == 0:
            return best_rows, best_scores
        extra_rows, extra_scores = best(extra, scores_of(extra, extra_sums), limit, threshold)
        return best(
            np.concatenate([best_rows, extra_rows]),
            np.concatenate([best_scores, extra_scores]),
            limit,
            threshold,
        )

    def _lists_with_positions(self, query: U64Array) -> tuple[list[RowArray], IntArray]:
        """Posting lists (main, then delta) of the query tokens and their query positions."""
        lists, list_q = self._main.sparse.lists_with_positions(query)
        if self._delta_tokens:
            delta_lists, delta_q = self._delta().lists_with_positions(query)
            lists.extend(delta_lists)
            list_q = np.concatenate([list_q, delta_q])
        return lists, list_q

    def bm25_statistics(
        self, query: U64Array, *, within: npt.ArrayLike | None = None
    ) -> tuple[FloatArray, float]:
        """The idf of each query token and the average row length BM25 scores with.

        Args:
            query: Token ids.
            within: Optional ascending rows (a scope): the statistics of these
                rows only, as :meth:`top_k_bm25` uses them with ``within``.

        Returns:
            ``(idf, avg_len)``: :meth:`idf` and :meth:`average_length` without ``within``.

        Raises:
            InvalidParameterError: ``within`` is not ascending, or holds a row out
                of range.
        """
        query = np.asarray(query, dtype=np.uint64)
        subset = _Subset.of(within, None, self._n_rows)
        if subset is None:
            return self.idf(query), self.average_length()
        lists, list_q = self._lists_with_positions(query)
        return self._subset_statistics(query, subset.restrict(lists), list_q, subset)

    def _subset_statistics(
        self, query: U64Array, lists: list[RowArray], list_q: IntArray, subset: _Subset
    ) -> tuple[FloatArray, float]:
        """BM25 idf of the query tokens and average length over the subset's rows only.

        ``lists`` are the query tokens' posting lists already cut down to the
        subset, ``list_q`` their query positions.
        """
        main = self._main
        df = np.bincount(
            list_q, weights=[p.shape[0] for p in lists], minlength=query.shape[0]
        ).astype(np.int64)
        dense_pos, dense_q = main.dense_lookup(query)
        inside = subset.rows[: int(np.searchsorted(subset.rows, main.rows))]
        df[dense_q] += main.dense_df_at(dense_pos, inside)
        total = int(self._lens[subset.rows].sum())
        return scoring.bm25_idf(subset.size, df), scoring.average_length(total, subset.size)

    def _dense_only_weights(
        self,
        dense_pos: IntArray,
        dense_idf: FloatArray,
        hit: IntArray,
        subset: _Subset | None,
        alive: npt.NDArray[np.bool_] | None,
    ) -> tuple[IntArray, FloatArray]:
        """Rows not in ``hit`` holding frequent query tokens, with their summed idf."""
        main = self._main
        if subset is not None and subset.size * _UNIQUE_PATH_FACTOR < main.rows:
            extra = subset.outside(hit, main.rows)  # the scope's other rows only
            return extra, main.dense_weights_at(dense_pos, dense_idf, extra)
        only_dense = main.dense_weights(dense_pos, dense_idf)
        only_dense[hit[hit < main.rows]] = 0.0
        mask = subset.mask if subset is not None else alive
        if mask is not None:
            only_dense[~mask[: main.rows]] = 0.0
        extra = np.flatnonzero(only_dense > 0).astype(np.int64)
        return extra, only_dense[extra]

    def _weighted_hits(
        self, lists: list[RowArray], weights: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """Rows hit by the posting lists, with the summed weight of the lists hitting them."""
        total = sum(p.shape[0] for p in lists)
        if total == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        hits = np.concatenate(lists)
        hit_weights = np.repeat(weights, [p.shape[0] for p in lists])
        if total * _UNIQUE_PATH_FACTOR < self._n_rows:
            unique_rows, inverse = unique_inverse(hits)
            sums = np.bincount(inverse, weights=hit_weights, minlength=unique_rows.shape[0])
            return unique_rows.astype(np.int64), sums.astype(np.float64, copy=False)
        full = np.bincount(hits, weights=hit_weights, minlength=self._n_rows).astype(np.float64)
        counts = np.bincount(hits, minlength=self._n_rows)
        rows = np.flatnonzero(counts).astype(np.int64)
        return rows, full[rows]


def _empty() -> tuple[IntArray, FloatArray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
