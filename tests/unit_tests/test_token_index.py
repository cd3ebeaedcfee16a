"""The inverted index returns exactly what a brute-force scan returns."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.selectors import token_index
from langchain_niche.selectors.token_index import TokenSetIndex


def brute_top_k(
    sets: list[set[int]], query: set[int], k: int, threshold: float, alive: list[bool] | None
) -> list[tuple[int, float]]:
    scored = []
    for row, tokens in enumerate(sets):
        if alive is not None and not alive[row]:
            continue
        inter = len(query & tokens)
        if inter == 0:
            continue
        score = inter / len(query | tokens)
        if score >= threshold:
            scored.append((-score, row))
    scored.sort()
    return [(row, -neg) for neg, row in scored[:k]]


def build(sets: list[set[int]], chunks: list[int]) -> TokenSetIndex:
    index = TokenSetIndex()
    start = 0
    for size in [*chunks, len(sets)]:
        part = sets[start : start + max(size, 1)]
        if part:
            index.append([np.array(sorted(s), dtype=np.uint64) for s in part])
        start += len(part)
        if start >= len(sets):
            break
    return index


@contextmanager
def tiny_segments() -> Iterator[None]:
    """Exercise bitsets and delta merges on small inputs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(token_index, "_DENSE_MIN_ROWS", 1)
        patch.setattr(token_index, "_DENSE_FRACTION", 4)
        patch.setattr(token_index, "_DELTA_MERGE_PAIRS", 16)
        patch.setattr(token_index, "_UNIQUE_PATH_FACTOR", 2)
        yield


token_sets = st.lists(st.sets(st.integers(0, 12), max_size=8), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    sets=token_sets,
    chunks=st.lists(st.integers(1, 15), max_size=5),
    query=st.sets(st.integers(0, 14), max_size=10),
    k=st.integers(1, 6),
    threshold=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
    dead=st.sets(st.integers(0, 39)),
)
def test_top_k_equals_brute_force(
    sets: list[set[int]],
    chunks: list[int],
    query: set[int],
    k: int,
    threshold: float,
    dead: set[int],
) -> None:
    alive = [row not in dead for row in range(len(sets))]
    mask = np.array(alive, dtype=np.bool_) if dead else None
    with tiny_segments():
        index = build(sets, chunks)
        rows, scores = index.top_k(
            np.array(sorted(query), dtype=np.uint64), k, threshold=threshold, alive=mask
        )
    expected = brute_top_k(sets, query, k, threshold, alive if dead else None)
    assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == expected


@settings(max_examples=100, deadline=None)
@given(
    sets=token_sets,
    chunks=st.lists(st.integers(1, 15), max_size=5),
    query=st.sets(st.integers(0, 14), max_size=10),
)
def test_every_overlapping_row_is_found_across_segments(
    sets: list[set[int]], chunks: list[int], query: set[int]
) -> None:
    with tiny_segments():
        index = build(sets, chunks)
        rows, scores = index.top_k(np.array(sorted(query), dtype=np.uint64), len(sets) + 1)
    assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == brute_top_k(
        sets, query, len(sets) + 1, 0.0, None
    )


@settings(max_examples=100, deadline=None)
@given(
    sets=token_sets,
    keep=st.lists(st.booleans(), min_size=40, max_size=40),
    query=st.sets(st.integers(0, 14), max_size=10),
)
def test_compaction_renumbers_in_order(
    sets: list[set[int]], keep: list[bool], query: set[int]
) -> None:
    mask = np.array(keep[: len(sets)], dtype=np.bool_)
    kept = [s for s, flag in zip(sets, mask.tolist(), strict=True) if flag]
    with tiny_segments():
        index = build(sets, [3])
        index.compact(mask)
        rows, scores = index.top_k(np.array(sorted(query), dtype=np.uint64), 5)
    assert index.n_rows == len(kept)
    assert index.lens.tolist() == [len(s) for s in kept]
    assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == brute_top_k(
        kept, query, 5, 0.0, None
    )


@pytest.mark.parametrize("seed", range(4))
def test_realistic_sizes_with_frequent_tokens(seed: int) -> None:
    """Zipf-distributed tokens over thousands of rows: bitsets, deltas and pruning all kick in."""
    rng = random.Random(seed)
    vocab = 3000
    weights = [1 / (i + 1) ** 1.1 for i in range(vocab)]
    sets = [set(rng.choices(range(vocab), weights, k=rng.randint(3, 25))) for _ in range(12_000)]
    index = build(sets, [5000, 1, 1, 300])
    assert index.dense_tokens > 0  # frequent tokens became bitsets
    alive = [rng.random() > 0.05 for _ in sets]
    mask = np.array(alive)
    for _ in range(25):
        query = set(rng.choices(range(vocab), weights, k=rng.randint(1, 20)))
        k = rng.choice([1, 4, 20])
        threshold = rng.choice([0.0, 0.3])
        for use_alive in (False, True):
            rows, scores = index.top_k(
                np.array(sorted(query), dtype=np.uint64),
                k,
                threshold=threshold,
                alive=mask if use_alive else None,
            )
            expected = brute_top_k(sets, query, k, threshold, alive if use_alive else None)
            assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == expected


def test_empty_index_and_empty_query() -> None:
    index = TokenSetIndex()
    rows, scores = index.top_k(np.array([1], dtype=np.uint64), 3)
    assert rows.shape == scores.shape == (0,)
    index.append([np.array([1], dtype=np.uint64)])
    rows, _ = index.top_k(np.array([], dtype=np.uint64), 3)
    assert rows.shape == (0,)


def test_append_flat_checks_sizes() -> None:
    with pytest.raises(ValueError, match="add up to 3"):
        TokenSetIndex().append_flat(np.array([1, 2], dtype=np.uint64), np.array([1, 2]))


def test_compact_checks_mask_length() -> None:
    index = TokenSetIndex()
    index.append([np.array([1], dtype=np.uint64)])
    with pytest.raises(ValueError, match="one entry per row"):
        index.compact(np.array([True, False]))


def test_frequent_tokens_take_less_memory_than_posting_lists() -> None:
    rows = 40_000
    sets = [
        np.array([0, 1, 2 + i], dtype=np.uint64) for i in range(rows)
    ]  # tokens 0, 1 in every row
    index = TokenSetIndex()
    index.append(sets)
    assert index.dense_tokens == 2  # tokens 0 and 1
    # Per row: its own token (8 vocabulary + 8 offset + 4 posting bytes) and its size (4);
    # tokens 0 and 1 cost two bits per row instead of two 4-byte postings.
    assert index.nbytes <= rows * (8 + 8 + 4 + 4) + 2 * (rows // 8) + 64


def brute_bm25(
    sets: list[set[int]],
    query: set[int],
    k: int,
    threshold: float,
    alive: list[bool] | None,
    k1: float = 1.2,
    b: float = 0.75,
) -> list[tuple[int, float]]:
    n = len(sets)
    avg = sum(map(len, sets)) / n
    idf = {t: math.log1p((n - (df := sum(t in s for s in sets)) + 0.5) / (df + 0.5)) for t in query}
    upper = sum(idf.values()) * (k1 + 1) / (1 + k1 * (1 - b))
    scored = []
    for row, tokens in enumerate(sets):
        if (alive is not None and not alive[row]) or not query & tokens:
            continue
        score = (
            sum(idf[t] for t in query & tokens)
            * (k1 + 1)
            / (1 + k1 * (1 - b + b * len(tokens) / avg))
            / upper
        )
        score = round(score, 12)  # the index rounds so that equal sums tie exactly
        if score >= threshold:
            scored.append((-score, row))
    scored.sort()
    return [(row, -neg) for neg, row in scored[:k]]


def assert_same_ranking(
    got: tuple[np.ndarray, np.ndarray], expected: list[tuple[int, float]]
) -> None:
    rows, scores = got
    assert np.allclose(scores, [s for _, s in expected], rtol=0, atol=2e-12)
    # Scores are rounded to 12 decimals so equal sums tie and fall back to row order;
    # sums added in another order can, rarely, round across a last-digit boundary.
    for (row, score), got_row, got_score in zip(
        expected, rows.tolist(), scores.tolist(), strict=True
    ):
        assert row == got_row or abs(score - got_score) <= 2e-12


@settings(max_examples=150, deadline=None)
@given(
    sets=st.lists(st.sets(st.integers(0, 12), max_size=8), min_size=1, max_size=40),
    chunks=st.lists(st.integers(1, 15), max_size=5),
    query=st.sets(st.integers(0, 14), max_size=10),
    k=st.integers(1, 6),
    threshold=st.sampled_from([0.0, 0.2, 0.5]),
    dead=st.sets(st.integers(0, 39)),
)
def test_bm25_top_k_equals_brute_force(
    sets: list[set[int]],
    chunks: list[int],
    query: set[int],
    k: int,
    threshold: float,
    dead: set[int],
) -> None:
    alive = [row not in dead for row in range(len(sets))]
    with tiny_segments():
        index = build(sets, chunks)
        got = index.top_k_bm25(
            np.array(sorted(query), dtype=np.uint64),
            k,
            threshold=threshold,
            alive=np.array(alive) if dead else None,
        )
    assert_same_ranking(got, brute_bm25(sets, query, k, threshold, alive if dead else None))


def test_bm25_at_realistic_sizes() -> None:
    rng = random.Random(5)
    weights = [1 / (i + 1) ** 1.1 for i in range(2000)]
    sets = [set(rng.choices(range(2000), weights, k=rng.randint(3, 20))) for _ in range(8000)]
    index = build(sets, [6000, 1, 500])
    for _ in range(20):
        query = set(rng.choices(range(2000), weights, k=rng.randint(1, 15)))
        got = index.top_k_bm25(np.array(sorted(query), dtype=np.uint64), 5, b=0.5)
        assert_same_ranking(got, brute_bm25(sets, query, 5, 0.0, None, b=0.5))
