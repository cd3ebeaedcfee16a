"""Grounding: normalized substring search that keeps numbers and identifiers exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.compression.grounding import SourceText, normalize_text

SOURCE = SourceText(
    "Acme\u2019s revenue rose to  $1.2\u00a0billion in FY2023 (up 12%). Müller, CEO since "
    "2019-04-01, signed contract ID AB-1234. Straße; cafe\u0301; 東京都に本社。 zero\u200bwidth"
)


@pytest.mark.parametrize(
    ("value", "verbatim"),
    [
        ("$1.2 billion", "$1.2\u00a0billion"),
        ("acme's revenue", "Acme\u2019s revenue"),
        ("FY2023", "FY2023"),
        ("fy2023", "FY2023"),
        ("12%", "12%"),
        ("2019-04-01", "2019-04-01"),
        ("AB-1234", "AB-1234"),
        ("ab-1234", "AB-1234"),
        ("MÜLLER", "Müller"),
        ("strasse", "Straße"),
        ("café", "cafe\u0301"),
        ("東京都", "東京都"),
        ("東京", "東京"),  # CJK has no word boundaries
        ("zerowidth", "zero\u200bwidth"),
        ("  Müller, CEO.  ", "Müller, CEO"),  # surrounding space and punctuation ignored
    ],
)
def test_grounded_values_come_back_verbatim(value: str, verbatim: str) -> None:
    assert SOURCE.verbatim(value) == verbatim


@pytest.mark.parametrize(
    "value",
    [
        "2023",  # inside FY2023: not a number of its own
        "1.2 billions",
        "$1.20 billion",
        "1,2 billion",
        "AB-12345",
        "B-1234",
        "evenue",
        "2019-04-02",
        "Siemens",
        "",
        "...",
    ],
)
def test_ungrounded_values(value: str) -> None:
    assert SOURCE.find(value) is None


def test_spans_point_into_the_original_text() -> None:
    start, end = SOURCE.find("contract id ab-1234")  # type: ignore[misc]
    assert SOURCE.text[start:end] == "contract ID AB-1234"


def test_normalize_text() -> None:
    assert normalize_text("  \u201cQuoted\u201d\u00a0 TEXT \u2013 here ") == '"quoted" text - here'


@given(st.text(min_size=1, max_size=60), st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=200, deadline=None)
def test_every_substring_on_word_boundaries_is_found(text: str, a: int, b: int) -> None:
    source = SourceText(text)
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    piece = text[start:end]
    span = source.find(piece)
    if span is not None:
        # Whatever is found is a real place in the text that normalizes like the value.
        assert normalize_text(text[span[0] : span[1]]).strip(
            " .,;:!?\"'()[]{}<>"
        ) == normalize_text(piece).strip(" .,;:!?\"'()[]{}<>")


@given(
    st.lists(st.sampled_from(["alpha", "beta", "42", "x-1", "Ünï", "東"]), min_size=1, max_size=8)
)
@settings(max_examples=100, deadline=None)
def test_whole_words_are_always_found(words: list[str]) -> None:
    text = " ".join(words)
    source = SourceText(text)
    for word in words:
        assert source.verbatim(word) == word


def _slow(text: str) -> SourceText:
    source = SourceText(text)
    source._ascii = False  # force the per-character index used for non-ASCII text
    return source


@given(
    st.text(alphabet="abcXYZ 019.,-$%'\"\n\t", min_size=1, max_size=80),
    st.integers(0, 80),
    st.integers(0, 80),
)
@settings(max_examples=300, deadline=None)
def test_ascii_fast_path_agrees_with_the_index(text: str, a: int, b: int) -> None:
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    for value in (text[start:end], text[start:end].upper(), " ".join(text[start:end].split())):
        assert SourceText(text).find(value) == _slow(text).find(value), value


def test_ascii_fast_path_examples() -> None:
    source = SourceText("Revenue:  $1.2\tbillion in FY2023; ID AB-1234.")
    assert source.verbatim("$1.2 billion") == "$1.2\tbillion"
    assert source.verbatim("fy2023") == "FY2023"
    assert source.find("2023") is None
    assert source.verbatim("ab-1234") == "AB-1234"
    assert source.find("B-1234") is None
    assert source.find("Müller") is None
