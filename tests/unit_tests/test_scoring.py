"""The one BM25 formula (langchain_niche.scoring), by hand and against the selector's scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import JaccardExampleSelector
from langchain_niche.scoring import average_length, bm25_gain, bm25_idf, bm25_scores
from langchain_niche.text import default_tokenizer


def test_idf_by_hand() -> None:
    assert bm25_idf(4, [1, 4]).tolist() == pytest.approx(
        [math.log(1 + 3.5 / 1.5), math.log(1 + 0.5 / 4.5)]
    )


def test_gain_by_hand() -> None:
    assert bm25_gain(2.0, k1=1.2, b=0.75, avg_len=4.0) == pytest.approx(
        2.2 / (1 + 1.2 * (0.25 + 0.75 * 0.5))
    )
    assert bm25_gain(np.array([0.0, 8.0]), k1=1.2, b=0.0, avg_len=4.0).tolist() == [1.0, 1.0]
    assert average_length(0, 0) == 1.0
    assert average_length(10, 4) == 2.5


def test_scores_are_normalised_by_the_ideal_row() -> None:
    # a row of length 0 holding every query token scores exactly 1
    assert bm25_scores([3.0], [0], query_idf=3.0, k1=1.2, b=0.75, avg_len=2.0).tolist() == [1.0]
    assert bm25_scores([1.0], [3], query_idf=0.0, k1=1.2, b=0.75, avg_len=2.0).tolist() == [0.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 50)), min_size=1, max_size=8),
    st.floats(0.01, 10),
    st.floats(0, 3),
    st.floats(0, 1),
    st.floats(0.5, 20),
)
def test_scores_stay_in_the_unit_interval(
    rows: list[tuple[float, int]], query_idf: float, k1: float, b: float, avg_len: float
) -> None:
    matched = [share * query_idf for share, _ in rows]
    lengths = [length for _, length in rows]
    scores = bm25_scores(matched, lengths, query_idf=query_idf, k1=k1, b=b, avg_len=avg_len)
    assert ((scores >= 0) & (scores <= 1)).all()


EXAMPLES = [
    {"q": "reset my password please"},
    {"q": "reset the router"},
    {"q": "my account email changed"},
    {"q": "password password manager app"},
    {"q": "order a pizza"},
]


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (2.0, 0.0), (0.5, 1.0)])
def test_the_selector_reports_this_formula(k1: float, b: float) -> None:
    selector = JaccardExampleSelector(
        examples=EXAMPLES, input_keys=["q"], k=5, similarity="bm25", bm25_k1=k1, bm25_b=b
    )
    query = "reset my password"
    sets = [set(default_tokenizer(e["q"])) for e in EXAMPLES]
    tokens = sorted(set(default_tokenizer(query)))
    df = [sum(t in s for s in sets) for t in tokens]
    idf = dict(zip(tokens, bm25_idf(len(sets), df).tolist(), strict=True))
    avg = average_length(sum(len(s) for s in sets), len(sets))
    expected = bm25_scores(
        [sum(idf[t] for t in tokens if t in s) for s in sets],
        [len(s) for s in sets],
        query_idf=sum(idf.values()),
        k1=k1,
        b=b,
        avg_len=avg,
    )
    got = {e["q"]: score for e, score in selector.select_examples_with_scores({"q": query})}
    want = {e["q"]: float(s) for e, s in zip(EXAMPLES, expected, strict=True) if s > 0}
    assert got == pytest.approx(want, rel=1e-9)
    ids = selector.ids
    assert selector.scores_for({"q": query}, ids) == pytest.approx(expected.tolist(), rel=1e-9)


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (2.0, 0.0), (0.5, 1.0)])
def test_scores_for_equals_search_exactly(k1: float, b: float) -> None:
    selector = JaccardExampleSelector(
        examples=EXAMPLES, input_keys=["q"], k=5, similarity="bm25", bm25_k1=k1, bm25_b=b
    )
    for query in ("reset my password", "order a pizza", "password reset order"):
        found = selector.search({"q": query}, k=len(EXAMPLES))
        assert found
        assert selector.scores_for({"q": query}, [s.id for s in found]) == [s.score for s in found]
