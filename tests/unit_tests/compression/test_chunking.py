"""Chunking: token-bounded, overlapping, sentence-aligned spans over the original text."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.compression.chunking import split_spans
from langchain_niche.tokens import approximate_token_count

SENTENCE = "The committee reviewed the schedule for the northern routes without a conclusion. "


def spans(text: str, chunk_tokens: int = 50, chunk_overlap: int = 10) -> list[tuple[int, int]]:
    return split_spans(
        text,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        token_counter=approximate_token_count,
    )


def test_empty_text_has_no_chunks() -> None:
    assert spans("") == []


def test_short_text_is_one_chunk() -> None:
    assert spans("One sentence.") == [(0, 13)]


def test_chunks_cover_text_respect_budget_and_overlap() -> None:
    text = SENTENCE * 40
    result = spans(text, chunk_tokens=60, chunk_overlap=20)
    assert len(result) > 5
    assert result[0][0] == 0
    assert result[-1][1] == len(text)
    for (s1, e1), (s2, e2) in itertools.pairwise(result):
        assert s2 < e1, "consecutive chunks overlap"
        assert s2 > s1, "every chunk advances"
        assert e2 > e1
    for start, end in result:
        assert approximate_token_count(text[start:end]) <= 60 + 2
        assert text[start:end].startswith("The committee"), "chunks start at a sentence"


def test_zero_overlap_tiles_the_text() -> None:
    text = SENTENCE * 20
    result = spans(text, chunk_tokens=40, chunk_overlap=0)
    assert all(e1 == s2 for (_, e1), (s2, _) in itertools.pairwise(result))


def test_long_sentence_is_split_between_words() -> None:
    text = " ".join(["word"] * 500) + "."
    result = spans(text, chunk_tokens=50, chunk_overlap=0)
    assert len(result) >= 10
    for start, end in result:
        assert approximate_token_count(text[start:end]) <= 50


def test_text_without_spaces_is_split_inside() -> None:
    text = "東京都" * 400  # CJK without punctuation: one character per token
    result = spans(text, chunk_tokens=100, chunk_overlap=0)
    assert "".join(text[s:e] for s, e in result) == text
    assert all(approximate_token_count(text[s:e]) <= 100 for s, e in result)


def test_cjk_sentences_split_at_full_stops() -> None:
    text = "株式会社アクメは一九九八年に設立された。" * 30
    result = spans(text, chunk_tokens=60, chunk_overlap=0)
    assert len(result) > 1
    assert all(text[s:e].endswith("。") for s, e in result)


@given(
    st.lists(st.text(alphabet="abc é東. \n!?", min_size=0, max_size=40), min_size=0, max_size=30),
    st.integers(min_value=16, max_value=80),
    st.integers(min_value=0, max_value=15),
)
@settings(max_examples=100, deadline=None)
def test_spans_always_cover_text_in_order(
    pieces: list[str], chunk_tokens: int, overlap: int
) -> None:
    text = "".join(pieces)
    result = spans(text, chunk_tokens=chunk_tokens, chunk_overlap=overlap)
    if not text:
        assert result == []
        return
    assert result[0][0] == 0
    assert result[-1][1] == len(text)
    for (s1, e1), (s2, e2) in itertools.pairwise(result):
        assert s1 < s2 <= e1 < e2, "chunks advance, overlap or touch, and leave no gap"
