"""The in-memory index structures against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import langchain_niche.minhash.index as lsh_index
import langchain_niche.minhash.rows as lsh_rows
from langchain_niche.minhash.index import (
    BandTable,
    SketchRows,
    TokenRows,
    TokenSet,
    gather_ranges,
    jaccard_of_rows,
)
from langchain_niche.minhash.storage import top_probe_rows

token_sets = st.lists(st.sets(st.integers(1, 40), max_size=8), min_size=1, max_size=30)


def _rows(sets: list[set[int]]) -> TokenRows:
    rows = TokenRows()
    tokens = np.array([t for s in sets for t in sorted(s)], dtype=np.uint64)
    rows.append(tokens, np.array([len(s) for s in sets], dtype=np.int64))
    return rows


def _jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


@settings(max_examples=60, deadline=None)
@given(token_sets, st.sets(st.integers(1, 40), min_size=1, max_size=8))
def test_property_jaccard_and_scan_equal_brute_force(sets: list[set[int]], query: set[int]) -> None:
    rows = _rows(sets)
    q = np.array(sorted(query), dtype=np.uint64)
    scores = rows.jaccard(np.arange(len(sets)), q)
    assert scores.tolist() == pytest.approx([_jaccard(s, query) for s in sets])
    found, counts = rows.scan(q)
    expected = [(i, len(s & query)) for i, s in enumerate(sets) if s & query]
    assert list(zip(found.tolist(), counts.tolist(), strict=True)) == expected


def test_token_rows_grow_gather_and_compact() -> None:
    rows = TokenRows()
    for i in range(50):
        rows.append(np.arange(i % 5, dtype=np.uint64) + i, np.array([i % 5]))
    assert rows.n_rows == 50
    tokens, lens = rows.gather(np.array([3, 7]))
    assert lens.tolist() == [3, 2]
    assert tokens.tolist() == [3, 4, 5, 7, 8]
    keep = np.arange(50) % 2 == 1
    rows.compact(keep)
    assert rows.n_rows == 25
    assert rows.gather(np.array([3]))[0].tolist() == [7, 8]  # old row 7
    saved_tokens, saved_lens = rows.arrays()
    assert saved_lens.shape == (25,)
    assert saved_tokens.shape[0] == int(saved_lens.sum())


def test_gather_ranges() -> None:
    values = np.arange(10)
    out = gather_ranges(values, np.array([1, 5, 9]), np.array([3, 5, 10]))
    assert out.tolist() == [1, 2, 9]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 50), min_size=3, max_size=3), min_size=1, max_size=60),
    st.lists(st.integers(0, 50), min_size=3, max_size=3, unique=True),
    st.integers(1, 7),
)
def test_property_band_table_equals_brute_force(
    keys: list[list[int]], query: list[int], batch: int
) -> None:
    original = lsh_index._DELTA_PAIRS
    lsh_index._DELTA_PAIRS = 8  # exercise delta merges and direct merges
    try:
        table = BandTable()
        array = np.array(keys, dtype=np.uint64)
        for start in range(0, len(keys), batch):
            part = array[start : start + batch]
            table.append(part, np.arange(start, start + part.shape[0]))
        q = np.array(query, dtype=np.uint64)
        expected = sorted(i for i, row in enumerate(keys) for k in row if k in query)
        assert sorted(table.lookup(q).tolist()) == expected
        lo, hi = q * np.uint64(10), q * np.uint64(10) + np.uint64(3)  # disjoint ranges
        expected_probe = sorted(
            i for i, row in enumerate(keys) for k in row for a in query if 10 * a <= k < 10 * a + 3
        )
        assert sorted(table.probe(lo, hi).tolist()) == expected_probe
        keep = np.arange(len(keys)) % 3 != 0
        table.compact(keep)
        new_row = np.cumsum(keep) - 1
        expected_after = sorted(
            int(new_row[i]) for i, row in enumerate(keys) for k in row if k in query and keep[i]
        )
        assert sorted(table.lookup(q).tolist()) == expected_after
    finally:
        lsh_index._DELTA_PAIRS = original


def test_band_table_restore_checks_order() -> None:
    table = BandTable()
    with pytest.raises(ValueError, match="not sorted"):
        table.restore(np.array([3, 1], dtype=np.uint64), np.array([0, 1], dtype=np.int32))


def test_top_probe_rows_ranks_by_hits_then_row() -> None:
    hits = np.array([5, 5, 5, 2, 2, 9, 9, 1, 7])
    assert top_probe_rows(hits, np.array([9]), 2).tolist() == [2, 5]
    assert top_probe_rows(hits, np.array([], dtype=np.int64), 3).tolist() == [2, 5, 9]
    assert top_probe_rows(np.array([], dtype=np.int64), np.array([1]), 3).tolist() == []


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, 2**64 - 1), max_size=90),
    st.lists(st.integers(0, 2**64 - 1), max_size=60),
)
def test_property_token_set_membership(members: set[int], others: list[int]) -> None:
    tokens = np.array(sorted(members), dtype=np.uint64)
    values = np.array(others + sorted(members)[:20], dtype=np.uint64)
    expected = np.isin(values, tokens)
    token_set = TokenSet(tokens)
    np.testing.assert_array_equal(token_set.contains(values), expected)
    out = np.zeros(values.shape[0], dtype=np.bool_)
    token_set.contains(values, out=out)
    np.testing.assert_array_equal(out, expected)


def test_token_set_falls_back_when_no_multiplier_separates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lsh_rows, "_HASH_MULTIPLIERS", (np.uint64(0),))  # every id: slot 0
    token_set = TokenSet(np.array([7, 3, 11], dtype=np.uint64))
    assert token_set.contains(np.array([3, 4, 11], dtype=np.uint64)).tolist() == [True, False, True]


def test_jaccard_with_empty_rows_and_an_empty_query() -> None:
    tokens = np.array([1, 2, 2, 3], dtype=np.uint64)
    lens = np.array([2, 0, 2, 0], dtype=np.int64)
    query = np.array([2, 3], dtype=np.uint64)
    assert jaccard_of_rows(tokens, lens, query).tolist() == pytest.approx([1 / 3, 0.0, 1.0, 0.0])
    assert jaccard_of_rows(tokens, lens, np.zeros(0, dtype=np.uint64)).tolist() == [0.0] * 4


def test_probe_budget_reads_the_smallest_ranges_first() -> None:
    table = BandTable()
    # keys 10.. (range A, 3 rows), 20.. (range B, 1 row), 30.. (range C, 5 rows)
    keys = np.array([[10], [11], [12], [20], [30], [31], [32], [33], [34]], dtype=np.uint64)
    table.append(keys, np.arange(9))
    lo = np.array([10, 20, 30], dtype=np.uint64)
    hi = lo + np.uint64(9)
    assert sorted(table.probe(lo, hi).tolist()) == list(range(9))
    assert sorted(table.probe(lo, hi, budget=4).tolist()) == [0, 1, 2, 3]  # B, then A
    # A would exceed the budget: its first entries (by key, then row) fill it
    assert sorted(table.probe(lo, hi, budget=3).tolist()) == [0, 1, 3]
    assert sorted(table.probe(lo, hi, budget=6).tolist()) == [0, 1, 2, 3, 4, 5]
    assert table.probe(lo, hi, budget=0).tolist() == []


def test_a_range_of_equal_keys_larger_than_the_budget_yields_its_first_rows() -> None:
    # issue 10 item 7: 1,000 equal examples share every key: the range never fit,
    # so the probe read nothing and the selection was empty
    table = BandTable()
    table.restore(np.full(1000, 50, dtype=np.uint64), np.arange(1000, dtype=np.int32))
    table.append(np.array([[50], [49]], dtype=np.uint64), np.array([1000, 1001]))  # delta
    lo, hi = np.array([49], dtype=np.uint64), np.array([51], dtype=np.uint64)
    assert table.probe(lo, hi, budget=3).tolist() == [1001, 0, 1]  # both segments, merged
    assert sorted(table.probe(lo, hi).tolist()) == list(range(1002))


def test_sketch_rows_grow_gather_and_compact() -> None:
    sketches = SketchRows(width=64)
    data = np.arange(50 * 64, dtype=np.int64).astype(np.uint8).reshape(50, 64)
    for start in range(0, 50, 7):
        sketches.append(data[start : start + 7])
    assert sketches.n_rows == 50
    np.testing.assert_array_equal(sketches.gather(np.array([3, 49, 0])), data[[3, 49, 0]])
    keep = np.arange(50) % 2 == 0
    sketches.compact(keep)
    np.testing.assert_array_equal(sketches.arrays(), data[keep])
    with pytest.raises(ValueError, match="shape"):
        sketches.append(np.zeros((1, 8), dtype=np.uint8))
