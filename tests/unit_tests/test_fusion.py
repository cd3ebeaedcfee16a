"""The fusion arithmetic of the hybrid selector, on hand-made rankings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_niche.selectors.fusion import (
    rank_scores,
    rrf_scores,
    vector_candidates,
    weighted_order,
)


def test_rrf_by_hand() -> None:
    fused = rrf_scores([(["a", "b", "c"], 1.0), (["c", "a"], 2.0)], rrf_k=0)
    # a: 1/1 + 2/2 = 2; b: 1/2; c: 1/3 + 2/1
    assert [i for i, _ in fused] == ["c", "a", "b"]
    assert [s for _, s in fused] == pytest.approx([1 / 3 + 2, 2.0, 0.5])


def test_rrf_ties_keep_the_order_of_first_appearance() -> None:
    fused = rrf_scores([(["a", "b"], 1.0), (["b", "a"], 1.0)], rrf_k=60)
    assert [i for i, _ in fused] == ["a", "b"]
    assert fused[0][1] == fused[1][1] == pytest.approx(1 / 61 + 1 / 62)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    st.floats(0, 5),
    st.floats(0, 5),
    st.integers(0, 100),
)
def test_rrf_is_the_weighted_reciprocal_rank_sum(
    first: list[str], second: list[str], w1: float, w2: float, rrf_k: int
) -> None:
    fused = dict(rrf_scores([(first, w1), (second, w2)], rrf_k))
    assert set(fused) == set(first) | set(second)
    for example_id, score in fused.items():
        expected = sum(
            weight / (rrf_k + ranking.index(example_id) + 1)
            for ranking, weight in ((first, w1), (second, w2))
            if example_id in ranking
        )
        assert score == pytest.approx(expected)
    ordered = [s for _, s in rrf_scores([(first, w1), (second, w2)], rrf_k)]
    assert ordered == sorted(ordered, reverse=True)


def test_rank_scores_rescale_the_rank() -> None:
    docs = [Document(page_content=str(i)) for i in range(3)]
    assert [s for _, s in rank_scores(docs)] == [1.0, 0.5, 0.0]
    assert [s for _, s in rank_scores(docs[:1])] == [1.0]
    assert rank_scores([]) == []


def doc(example_id: str) -> Document:
    return Document(page_content="x", metadata={"niche_id": example_id})


def test_vector_candidates_orient_distances_and_drop_duplicates() -> None:
    hits = [(doc("a"), 0.1), (doc("b"), 0.3), (doc("a"), 0.4), (doc("c"), 0.5)]
    ids, scores = vector_candidates(hits, may_be_distances=True)
    assert ids == ["a", "b", "c"]
    assert scores == pytest.approx([1.0, 0.5, 0.0])
    ids, scores = vector_candidates(hits, may_be_distances=False)
    assert scores == [0.1, 0.3, 0.5]  # relevance scores are used as they are
    similarities = [(doc("a"), 0.9), (doc("b"), 0.2)]
    assert vector_candidates(similarities, may_be_distances=True)[1] == [0.9, 0.2]


def test_vector_candidates_fall_back_to_the_document_id() -> None:
    hits = [(Document(page_content="x", id="d1"), 1.0), (Document(page_content="y"), 0.5)]
    assert vector_candidates(hits, may_be_distances=False) == (["d1"], [1.0])


def test_weighted_order_breaks_ties_by_vector_rank() -> None:
    assert weighted_order([0.2, 0.5, 0.2, 0.9]) == [3, 1, 0, 2]
