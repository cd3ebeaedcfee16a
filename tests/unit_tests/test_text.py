"""The text pipeline: tokens, shingles, field validation, stable hashes."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from datasketch.hashfunc import sha1_hash32
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import InvalidExampleError, InvalidParameterError, TokenizerError
from langchain_niche.errors import MissingKeyError
from langchain_niche.text import (
    _CJK,
    _PICTOGRAPHS,
    _WORD_RE,
    TextAnalyzer,
    TokenBatch,
    default_tokenizer,
    example_fields,
    example_text,
    field_text,
    stable_token_hashes,
)


def test_default_tokenizer_words_are_lowercased_and_punctuation_dropped() -> None:
    assert default_tokenizer("Don't PANIC! 42 times, ok?") == [
        "don",
        "t",
        "panic",
        "42",
        "times",
        "ok",
    ]


def test_default_tokenizer_splits_cjk_into_characters_and_keeps_emoji() -> None:
    assert default_tokenizer("東京は首都 🚀 Tokyo") == ["東", "京", "は", "首", "都", "🚀", "tokyo"]


def test_default_tokenizer_keeps_accented_words_whole() -> None:
    assert default_tokenizer("Über café naïve") == ["über", "café", "naïve"]


def _tokens_char_by_char(text: str) -> list[str]:
    """The tokenizer's rule, one character at a time: an oracle independent of its regex."""
    tokens: list[str] = []
    word = ""
    for char in text.lower():
        alone = re.fullmatch(f"[{_CJK}{_PICTOGRAPHS}]", char) is not None
        if not alone and re.fullmatch(r"\w", char):
            word += char
            continue
        if word:
            tokens.append(word)
            word = ""
        if alone:
            tokens.append(char)
    return [*tokens, word] if word else tokens


@given(st.text() | st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_matches_the_unicode_regex(text: str) -> None:
    assert default_tokenizer(text) == _tokens_char_by_char(text)


def test_the_char_by_char_oracle_tells_the_rules_apart() -> None:
    assert _tokens_char_by_char("Ab_1 東京🚀x, é") == ["ab_1", "東", "京", "🚀", "x", "é"]


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_texts_take_the_fast_path_identically(text: str) -> None:
    assert default_tokenizer(text) == _WORD_RE.findall(text.lower())


def test_word_bigrams() -> None:
    analyzer = TextAnalyzer(ngram_range=(1, 2))
    assert analyzer.shingles("New York new") == {"new", "york", "new york", "york new"}


def test_bigrams_only() -> None:
    assert TextAnalyzer(ngram_range=(2, 2)).shingles("a b c") == {"a b", "b c"}


def test_character_ngrams_for_text_without_spaces() -> None:
    analyzer = TextAnalyzer(analyzer="char", ngram_range=(2, 2))
    assert analyzer.shingles("東京都") == {"東京", "京都"}
    assert analyzer.shingles("A  b") == {"a ", " b"}


def test_custom_tokenizer_reproduces_whitespace_tokens() -> None:
    analyzer = TextAnalyzer(tokenizer=str.split)
    assert analyzer.shingles("Hello, World! hello,") == {"Hello,", "World!", "hello,"}


@given(st.text(), st.sampled_from([(1, 1), (1, 2), (2, 3)]), st.sampled_from(["word", "char"]))
def test_specialised_shingler_equals_shingles(
    text: str, ngram_range: tuple[int, int], kind: str
) -> None:
    analyzer = TextAnalyzer(ngram_range=ngram_range, analyzer=kind)  # type: ignore[arg-type]
    assert analyzer.shingler()(text) == analyzer.shingles(text)


def test_fields_are_analyzed_separately() -> None:
    analyzer = TextAnalyzer(ngram_range=(2, 2))
    # No bigram spans the two fields.
    assert analyzer.field_shingles(["a b", "c d"]) == {"a b", "c d"}


def test_failing_tokenizer_is_reported_with_the_text() -> None:
    def broken(text: str) -> list[str]:
        raise RuntimeError("boom")

    analyzer = TextAnalyzer(tokenizer=broken)
    with pytest.raises(
        TokenizerError, match=r"broken failed on text 'some text': RuntimeError: boom"
    ) as info:
        analyzer.shingles("some text")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_tokenizer_returning_a_string_is_rejected() -> None:
    with pytest.raises(TokenizerError, match="must return an iterable of tokens"):
        TextAnalyzer(tokenizer=str.lower).shingles("Some Text")


def test_tokenizer_returning_non_strings_is_rejected() -> None:
    with pytest.raises(TokenizerError, match="non-string token 3"):
        TextAnalyzer(tokenizer=lambda text: [3]).shingles("x")


def test_empty_tokens_are_dropped() -> None:
    assert TextAnalyzer(tokenizer=lambda text: ["", "a", ""]).shingles("x") == {"a"}


@pytest.mark.parametrize("bad", [(0, 1), (2, 1), (1,), "12", (1.0, 2.0), (True, 1)])
def test_bad_ngram_range(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="ngram_range") as info:
        TextAnalyzer(ngram_range=bad)  # type: ignore[arg-type]
    assert info.value.value == bad


def test_tokenizer_cannot_be_combined_with_char_analyzer() -> None:
    with pytest.raises(InvalidParameterError, match="analyzer='char'"):
        TextAnalyzer(tokenizer=str.split, analyzer="char")


def test_unknown_analyzer() -> None:
    with pytest.raises(InvalidParameterError, match="'chars'"):
        TextAnalyzer(analyzer="chars")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"), [(3, "3"), (2.5, "2.5"), (Decimal("1.10"), "1.10"), (Fraction(1, 3), "1/3")]
)
def test_numbers_are_converted_with_str(value: object, text: str) -> None:
    assert field_text(value, key="k") == text


@pytest.mark.parametrize("value", [None, True, b"bytes", ["a"], {"a": 1}, object()])
def test_non_text_values_are_rejected_naming_example_and_key(value: object) -> None:
    with pytest.raises(
        InvalidExampleError, match=r"example 7: field 'question' must be a string or a number"
    ) as info:
        field_text(value, key="question", index=7)
    assert info.value.index == 7
    assert info.value.key == "question"
    assert isinstance(info.value, TypeError)


def test_missing_field_names_example_and_key() -> None:
    with pytest.raises(MissingKeyError, match=r"example 2 has no field 'q'") as info:
        example_fields({"a": "x"}, ["q"], index=2)
    assert (info.value.index, info.value.key) == (2, "q")
    assert isinstance(info.value, KeyError)


def test_non_mapping_example() -> None:
    with pytest.raises(InvalidExampleError, match="example 0 must be a dict"):
        example_fields(["not", "a", "dict"], ["q"], index=0)


def test_example_text_uses_sorted_key_order() -> None:
    assert example_text({"b": "second", "a": "first"}, ["b", "a"]) == "first\nsecond"


@given(st.lists(st.text(min_size=1), max_size=20))
def test_stable_hashes_extend_datasketch_sha1_hash32(tokens: list[str]) -> None:
    hashes = stable_token_hashes(tokens)
    assert hashes.dtype.name == "uint64"
    assert [int(h) & 0xFFFFFFFF for h in hashes] == [
        sha1_hash32(t.encode("utf-8", "surrogatepass")) for t in tokens
    ]


def test_stable_hashes_are_deterministic_and_distinct() -> None:
    first = stable_token_hashes(["alpha", "beta"])
    assert first.tolist() == stable_token_hashes(["alpha", "beta"]).tolist()
    assert first[0] != first[1]
    assert stable_token_hashes([]).shape == (0,)


def test_english_stopwords_are_dropped_before_ngrams() -> None:
    analyzer = TextAnalyzer(stopwords="english", ngram_range=(1, 2))
    assert analyzer.shingles("The cat is on the mat") == {"cat", "mat", "cat mat"}


def test_custom_stopwords_are_case_insensitive() -> None:
    assert TextAnalyzer(stopwords=["Cat"]).shingles("the CAT sat") == {"the", "sat"}
    assert TextAnalyzer(stopwords={"sat"}, tokenizer=str.split).shingles("The Sat cat") == {
        "The",
        "cat",
    }


def test_negations_and_question_words_are_not_english_stopwords() -> None:
    assert TextAnalyzer(stopwords="english").shingles("why not never how") == {
        "why",
        "not",
        "never",
        "how",
    }


@given(st.text(), st.sampled_from([None, "english", ("day", "the")]))
def test_specialised_shingler_equals_shingles_with_stopwords(text: str, stopwords: object) -> None:
    analyzer = TextAnalyzer(stopwords=stopwords)  # type: ignore[arg-type]
    assert analyzer.shingler()(text) == analyzer.shingles(text)


@pytest.mark.parametrize("bad", ["french", [1, 2], 3])
def test_bad_stopwords(bad: object) -> None:
    with pytest.raises(
        InvalidParameterError, match="stopwords must be None, 'english' or a collection"
    ):
        TextAnalyzer(stopwords=bad)  # type: ignore[arg-type]


def test_stopwords_need_the_word_analyzer() -> None:
    with pytest.raises(InvalidParameterError, match="analyzer='char'"):
        TextAnalyzer(stopwords="english", analyzer="char")


def _as_sets(batch: TokenBatch) -> list[set[int]]:
    flat = batch.flat.tolist()
    out, start = [], 0
    for n in batch.lens.tolist():
        out.append(set(flat[start : start + n]))
        start += n
    return out


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.text(alphabet="abc DEF the of 東京 🚀,.\x00", max_size=40),
        ),
        min_size=0,
        max_size=150,
    ),
    stopwords=st.sampled_from([None, "english"]),
)
def test_batch_encoding_equals_text_by_text(texts: list[str], stopwords: object) -> None:
    analyzer = TextAnalyzer(stopwords=stopwords)  # type: ignore[arg-type]
    fast = analyzer.encode_texts(texts)
    reference = TokenBatch.from_sets(analyzer.shingles(t) for t in texts)
    assert _as_sets(fast) == _as_sets(reference)


def test_batch_encoding_of_many_ascii_texts() -> None:
    texts = [f"Text number {i} of THE batch, with words {i % 7} and {i % 13}!" for i in range(500)]
    analyzer = TextAnalyzer(stopwords="english")
    assert _as_sets(analyzer.encode_texts(texts)) == _as_sets(
        TokenBatch.from_sets(analyzer.shingles(t) for t in texts)
    )
