"""Scoped queries of the inverted index (issue 14): ``within=`` rows, exactly as an index of them.

A scope's rows are given as ascending row numbers; the result must equal a
brute-force scan of those rows only, for Jaccard and for BM25 (whose statistics
then come from the scope's rows alone), whether the posting lists are cut down
by binary search (small scopes) or by a row mask (large ones).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.errors import InvalidParameterError
from langchain_niche.selectors import _postings
from langchain_niche.selectors.token_index import TokenSetIndex
from tests.unit_tests.test_token_index import (
    assert_same_ranking,
    brute_bm25,
    brute_top_k,
    build,
    tiny_segments,
    token_sets,
)


@pytest.fixture(autouse=True, params=["by cost", "binary search", "row mask"])
def restrict_by(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test with both ways of cutting posting lists down to a scope."""
    weight = {"by cost": 1, "binary search": 0, "row mask": 10**12}[request.param]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_postings, "_SEARCH_READ", weight)
        yield request.param


def _ids(tokens: set[int]) -> np.ndarray:
    return np.array(sorted(tokens), dtype=np.uint64)


def brute_scoped(
    sets: list[set[int]], within: list[int], query: set[int], k: int, threshold: float
) -> list[tuple[int, float]]:
    """Jaccard top-k over the rows of ``within`` only, in the index's row numbers."""
    ranked = brute_top_k([sets[row] for row in within], query, k, threshold, None)
    return [(within[i], score) for i, score in ranked]


def brute_scoped_bm25(
    sets: list[set[int]], within: list[int], query: set[int], k: int, threshold: float, b: float
) -> list[tuple[int, float]]:
    """BM25 top-k of an index holding only the rows of ``within`` (its own statistics)."""
    if not within:
        return []
    ranked = brute_bm25([sets[row] for row in within], query, k, threshold, None, b=b)
    return [(within[i], score) for i, score in ranked]


class Case(NamedTuple):
    """An index built in chunks, a query, and the scope's rows (some past the end)."""

    sets: list[set[int]]
    chunks: list[int]
    query: set[int]
    k: int
    scope: set[int]

    def within(self) -> list[int]:
        return sorted(row for row in self.scope if row < len(self.sets))


cases = st.builds(
    Case,
    sets=token_sets,
    chunks=st.lists(st.integers(1, 15), max_size=5),
    query=st.sets(st.integers(0, 14), max_size=10),
    k=st.integers(1, 6),
    scope=st.sets(st.integers(0, 39)),
)


@settings(max_examples=250, deadline=None)
@given(
    case=cases,
    threshold=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
    dead=st.sets(st.integers(0, 39)),
)
def test_scoped_top_k_equals_brute_force(case: Case, threshold: float, dead: set[int]) -> None:
    within = case.within()
    alive = np.array([row not in dead for row in range(len(case.sets))], dtype=np.bool_)
    visible = [row for row in within if alive[row]]
    with tiny_segments():
        index = build(case.sets, case.chunks)
        rows, scores = index.top_k(
            _ids(case.query), case.k, threshold=threshold, alive=alive, within=np.array(within)
        )
    expected = brute_scoped(case.sets, visible, case.query, case.k, threshold)
    assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == expected


@settings(max_examples=250, deadline=None)
@given(
    case=cases.filter(lambda case: bool(case.sets)),
    threshold=st.sampled_from([0.0, 0.2, 0.5]),
    b=st.sampled_from([0.0, 0.75, 1.0]),
)
def test_scoped_bm25_equals_an_index_of_the_scope_only(
    case: Case, threshold: float, b: float
) -> None:
    """N, every df and the average length are the scope's, not the whole index's."""
    within = case.within()
    with tiny_segments():
        index = build(case.sets, case.chunks)
        got = index.top_k_bm25(
            _ids(case.query), case.k, b=b, threshold=threshold, within=np.array(within)
        )
    assert_same_ranking(got, brute_scoped_bm25(case.sets, within, case.query, case.k, threshold, b))


def _zipf_sets(rng: random.Random, count: int, vocab: int = 3000) -> list[set[int]]:
    weights = [1 / (i + 1) ** 1.1 for i in range(vocab)]
    return [set(rng.choices(range(vocab), weights, k=rng.randint(3, 25))) for _ in range(count)]


@pytest.mark.parametrize("scopes", [1, 3, 40, 1000])
def test_scoped_queries_at_realistic_sizes(scopes: int) -> None:
    """Thousands of rows with frequent tokens as bitsets and a delta segment; scopes from
    the whole index (row mask) down to a dozen rows (binary search)."""
    rng = random.Random(scopes)
    sets = _zipf_sets(rng, 12_000)
    index = build(sets, [5000, 1, 1, 300])
    assert index.dense_tokens > 0
    weights = [1 / (i + 1) ** 1.1 for i in range(3000)]
    dead = {row for row in range(len(sets)) if rng.random() < 0.05}
    alive = np.array([row not in dead for row in range(len(sets))], dtype=np.bool_)
    for _ in range(12):
        tenant = rng.randrange(scopes)
        within = [row for row in range(len(sets)) if row % scopes == tenant]
        visible = [row for row in within if alive[row]]
        query = set(rng.choices(range(3000), weights, k=rng.randint(1, 20)))
        k = rng.choice([1, 4, 20])
        threshold = rng.choice([0.0, 0.3])
        rows, scores = index.top_k(
            _ids(query), k, threshold=threshold, alive=alive, within=np.array(within)
        )
        assert list(zip(rows.tolist(), scores.tolist(), strict=True)) == brute_scoped(
            sets, visible, query, k, threshold
        )
        got = index.top_k_bm25(_ids(query), k, threshold=threshold, within=np.array(visible))
        assert_same_ranking(got, brute_scoped_bm25(sets, visible, query, k, threshold, 0.75))


def test_scoped_bm25_statistics_differ_from_the_whole_index() -> None:
    """A token rare in the scope but common elsewhere keeps the weight of a rare token."""
    sets = [{1, 2}, {2}, {1}, {1}, {1}, {1}]  # token 1: in 5 of 6 rows overall
    index = build(sets, [])
    within = np.array([0, 1])  # in the scope, token 1 is in 1 row of 2, token 2 in 2
    rows, scores = index.top_k_bm25(_ids({1, 2}), 2, within=within)
    assert rows.tolist() == [0, 1]
    assert_same_ranking((rows, scores), brute_scoped_bm25(sets, [0, 1], {1, 2}, 2, 0.0, 0.75))
    unscoped = index.top_k_bm25(_ids({1, 2}), 6, alive=np.array([1, 1, 0, 0, 0, 0], bool))
    assert not np.allclose(unscoped[1], scores)  # the old behaviour: statistics of all rows


def test_empty_scope_selects_nothing() -> None:
    index = build([{1}, {1, 2}], [])
    for method in (index.top_k, index.top_k_bm25):
        rows, scores = method(_ids({1}), 3, within=np.array([], dtype=np.int64))
        assert rows.shape == scores.shape == (0,)


@pytest.mark.parametrize(
    ("within", "match"),
    [([1, 0], "ascending"), ([0, 0], "ascending"), ([0, 2], "row 2"), ([-1, 0], "row -1")],
)
def test_within_is_checked(within: list[int], match: str) -> None:
    index = TokenSetIndex()
    index.append([_ids({1}), _ids({1, 2})])
    with pytest.raises(InvalidParameterError, match=match) as info:
        index.top_k(_ids({1}), 2, within=np.array(within))
    assert info.value.name == "within"
