"""Scoped MinHash selection in memory reads the scope, not the whole index (issue 14 follow-up)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import MinHashExampleSelector
from langchain_niche.minhash.index import BandTable, TokenRows

VOCAB = [f"w{i}" for i in range(400)]


def _corpus(size: int, scopes: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"q": " ".join(rng.choices(VOCAB, k=rng.randint(3, 8))), "tenant": f"t{i % scopes}"}
        for i in range(size)
    ]


def _queries(count: int, scopes: int, seed: int) -> list[tuple[dict[str, str], str]]:
    rng = random.Random(seed)
    return [
        ({"q": " ".join(rng.choices(VOCAB, k=rng.randint(2, 6)))}, f"t{rng.randrange(scopes)}")
        for _ in range(count)
    ]


@pytest.mark.parametrize(("size", "scopes"), [(4000, 100), (3000, 3)])
def test_scoped_probe_is_never_short_and_never_outside(size: int, scopes: int) -> None:
    """Many small scopes (scored directly) and a few large ones (probed within the scope)."""
    examples = _corpus(size, scopes, seed=size)
    probe = MinHashExampleSelector(examples=examples, input_keys=["q"], k=4)
    exact = MinHashExampleSelector(examples=examples, input_keys=["q"], k=4, fallback="exact")
    for inputs, tenant in _queries(40, scopes, seed=scopes):
        got = probe.search(inputs, filter={"tenant": tenant})
        want = exact.search(inputs, filter={"tenant": tenant})
        assert all(hit.example["tenant"] == tenant for hit in got)
        assert len(got) == len(want), (inputs, tenant)
        if scopes > 10:  # a small scope is scored directly: exactly the exact result
            assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want]


def test_scoped_probe_after_removals_stays_in_live_scope() -> None:
    examples = _corpus(2000, 50, seed=7)
    selector = MinHashExampleSelector(examples=examples, input_keys=["q"], k=6)
    removed = {str(i) for i in range(0, 2000, 3)}
    for example_id in sorted(removed):
        selector.remove_example(example_id)
    for inputs, tenant in _queries(20, 50, seed=8):
        got = selector.search(inputs, filter={"tenant": tenant})
        assert all(h.example["tenant"] == tenant and h.id not in removed for h in got)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, 63), min_size=0, max_size=120),
    inside=st.lists(st.booleans(), min_size=40, max_size=40),
    ranges=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 16)), min_size=1, max_size=6),
    budget=st.integers(0, 30),
    split=st.integers(0, 40),
    cap=st.none() | st.integers(0, 60),
)
def test_probe_within_is_the_probe_of_a_table_of_those_rows(
    keys: list[int],
    inside: list[bool],
    ranges: list[tuple[int, int]],
    budget: int,
    split: int,
    cap: int | None,
) -> None:
    """Dropping rows outside before spending the budget = probing a table without them.

    With a ``cap`` on the pairs read, the ranges left out are the largest ones.
    """
    n_rows = 40
    pairs = keys[: (len(keys) // 3) * 3]
    band_keys = np.array(pairs, dtype=np.uint64).reshape(-1, 3)[:n_rows]
    rows = np.arange(band_keys.shape[0], dtype=np.int64)
    mask = np.array(inside, dtype=np.bool_)
    whole, only = BandTable(), BandTable()
    # two appends: the second may stay in the delta segment
    whole.append(band_keys[:split], rows[:split])
    whole.append(band_keys[split:], rows[split:])
    only.append(band_keys[mask[rows]], rows[mask[rows]])
    lo = np.array([a for a, _ in ranges], dtype=np.uint64)
    hi = lo + np.array([w for _, w in ranges], dtype=np.uint64)
    located = whole.ranges(lo, hi)
    got = whole.probe_within(located, budget, mask, cap)
    assert bool(mask[got].all())
    assert got.shape[0] <= budget
    assert whole.probe_within(located, budget, mask, cap).tolist() == got.tolist()  # reusable
    if cap is None or cap >= located.entries:
        want = only.probe(lo, hi, budget)
        assert sorted(got.tolist()) == sorted(want.tolist())
    elif cap < min(whole.ranges(lo[i : i + 1], hi[i : i + 1]).entries for i in range(len(lo))):
        assert got.shape[0] == 0  # not even the smallest range fits


@settings(max_examples=60, deadline=None)
@given(
    sets=st.lists(st.sets(st.integers(0, 30), max_size=6), min_size=1, max_size=60),
    query=st.sets(st.integers(0, 30), max_size=6),
    pick=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_token_rows_scan_within_equals_filtered_full_scan(
    sets: list[set[int]], query: set[int], pick: list[bool]
) -> None:
    tokens = TokenRows()
    flat = np.array([t for s in sets for t in sorted(s)], dtype=np.uint64)
    tokens.append(flat, np.array([len(s) for s in sets], dtype=np.int64))
    q = np.array(sorted(query), dtype=np.uint64)
    within = np.flatnonzero(np.array(pick[: len(sets)], dtype=np.bool_)).astype(np.int64)
    all_rows, all_counts = tokens.scan(q)
    keep = np.isin(all_rows, within)
    rows, counts = tokens.scan(q, within)
    assert rows.tolist() == all_rows[keep].tolist()
    assert counts.tolist() == all_counts[keep].tolist()
    assert counts.tolist() == [len(sets[r] & query) for r in rows.tolist()]
