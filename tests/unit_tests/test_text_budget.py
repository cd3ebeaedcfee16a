"""The one token-budget splitter shared by PEARL and the compressor."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.text_budget import (
    PROSE_LEVELS,
    SENTENCE_LEVELS,
    Segment,
    pack,
    segments,
    split_spans,
)
from langchain_niche.tokens import approximate_token_count

TEXTS = st.lists(
    st.text(alphabet="ab cé東.;\n\t!?", min_size=0, max_size=40), min_size=0, max_size=30
).map("".join)


def words(text: str) -> int:
    """A counter that is exactly additive over whitespace cuts."""
    return len(text.split())


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, limit=st.integers(1, 60), prose=st.booleans())
def test_segments_tile_the_text_and_fit(text: str, limit: int, prose: bool) -> None:
    levels = PROSE_LEVELS if prose else SENTENCE_LEVELS
    pieces = segments(text, limit, approximate_token_count, levels)
    assert "".join(text[p.start : p.end] for p in pieces) == text
    for piece in pieces:
        assert piece.tokens == approximate_token_count(text[piece.start : piece.end])
        assert piece.tokens <= limit or piece.end - piece.start == 1


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, limit=st.integers(2, 60), overlap=st.integers(0, 20))
def test_spans_cover_advance_and_fit(text: str, limit: int, overlap: int) -> None:
    spans = split_spans(text, limit, approximate_token_count, overlap=overlap)
    if not text:
        assert spans == []
        return
    assert spans[0][0] == 0
    assert spans[-1][1] == len(text)
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        assert s1 < s2 <= e1 < e2  # advance, overlap or touch, no gap
    for start, end in spans:
        assert approximate_token_count(text[start:end]) <= limit or end - start == 1


def test_without_overlap_spans_tile_the_text() -> None:
    text = "Alpha beta.\n\nGamma delta epsilon; zeta.\nEta theta iota kappa. " * 7
    spans = split_spans(text, 9, approximate_token_count)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(e1 == s2 for (_, e1), (s2, _) in itertools.pairwise(spans))


def test_paragraph_breaks_are_preferred() -> None:
    text = "one two three. four five.\n\nsix seven. eight nine ten."
    assert [text[s:e] for s, e in split_spans(text, 5, words)] == [
        "one two three. four five.\n\n",
        "six seven. eight nine ten.",
    ]


def test_overlap_repeats_whole_segments() -> None:
    text = "a b. c d. e f. g h. i j. "
    pieces = segments(text, 4, words, SENTENCE_LEVELS)
    assert [text[p.start : p.end] for p in pieces] == ["a b. ", "c d. ", "e f. ", "g h. ", "i j. "]
    spans = pack(text, pieces, 4, words, overlap=2)
    assert [text[s:e] for s, e in spans] == ["a b. c d. ", "c d. e f. ", "e f. g h. ", "g h. i j. "]


def test_exact_drops_segments_whose_joined_text_is_over() -> None:
    def joined_costs_more(text: str) -> int:  # 1 per piece, +5 once two pieces are joined
        return 1 if text.count("|") <= 1 else 10

    text = "x|y|z|"
    pieces = [Segment(0, 2, 1), Segment(2, 4, 1), Segment(4, 6, 1)]
    assert pack(text, pieces, 3, joined_costs_more) == [(0, 6)]
    assert pack(text, pieces, 3, joined_costs_more, exact=True) == [(0, 2), (2, 4), (4, 6)]


def test_a_word_longer_than_the_limit_is_cut_at_the_longest_prefix_that_fits() -> None:
    text = "東京都" * 10
    spans = split_spans(text, 7, approximate_token_count)
    assert [e - s for s, e in spans] == [7, 7, 7, 7, 2]
