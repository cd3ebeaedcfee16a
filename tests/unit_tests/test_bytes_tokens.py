"""``bytes`` tokens, as datasketch users write them, are UTF-8 text.

``b"new"`` and ``"new"`` are one token with one id, and MinHash signatures of
bytes tokens equal datasketch's for the same bytes. Bytes that are not UTF-8,
and tokens that are neither str nor bytes, raise ``TokenizerError`` naming the
token, never ``AttributeError``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import (
    JaccardExampleSelector,
    MinHasher,
    MinHashExampleSelector,
    TextAnalyzer,
    TokenizerError,
)
from langchain_niche.text import TokenBatch, stable_token_hashes, token_text

WORDS = st.text(min_size=1, max_size=10)  # valid Unicode scalar values only
SETS = st.lists(st.sets(WORDS, max_size=8), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(tokens=st.lists(WORDS, max_size=20))
def test_bytes_tokens_hash_like_their_text(tokens: list[str]) -> None:
    as_bytes = [t.encode("utf-8") for t in tokens]
    np.testing.assert_array_equal(stable_token_hashes(as_bytes), stable_token_hashes(tokens))
    mixed = [b if i % 2 else t for i, (t, b) in enumerate(zip(tokens, as_bytes, strict=True))]
    np.testing.assert_array_equal(stable_token_hashes(mixed), stable_token_hashes(tokens))


def batch_sets(batch: TokenBatch) -> list[set[int]]:
    flat = batch.flat.tolist()
    out, start = [], 0
    for n in batch.lens.tolist():
        out.append(set(flat[start : start + n]))
        start += n
    return out


@settings(max_examples=80, deadline=None)
@given(sets=SETS, data=st.data())
def test_token_batch_of_bytes_or_mixed_sets_equals_the_text_batch(
    sets: list[set[str]], data: st.DataObject
) -> None:
    expected = TokenBatch.from_sets(sets)
    as_bytes = [{t.encode("utf-8") for t in s} for s in sets]
    # some tokens twice in one set: once as str and once as bytes
    mixed = [
        s | {t.encode("utf-8") for t in s if data.draw(st.booleans(), label="dup")} for s in sets
    ]
    for variant in (as_bytes, mixed):
        batch = TokenBatch.from_sets(variant)
        np.testing.assert_array_equal(batch.lens, expected.lens)
        assert batch_sets(batch) == batch_sets(expected)
        assert len(set(batch.vocab.tolist())) == len(batch.vocab)


def test_minhash_of_bytes_tokens_equals_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    tokens = [b"new", b"york", b"city", "café".encode(), b"\xe4\xb8\x9c"]
    reference = datasketch.MinHash(num_perm=128, seed=1)
    reference.update_batch(tokens)
    ours = MinHasher(128, 1).signatures(TokenBatch.from_sets([set(tokens)]))
    np.testing.assert_array_equal(ours[0], reference.hashvalues)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (b"\xff\xfe", r"b'\\xff\\xfe'.*not valid UTF-8"),
        (3, r"non-string token 3 \(int\)"),
        (None, r"non-string token None \(NoneType\)"),
        (("a",), r"non-string token \('a',\) \(tuple\)"),
    ],
)
def test_bad_tokens_raise_tokenizer_error_naming_them(token: Any, expected: str) -> None:
    with pytest.raises(TokenizerError, match=expected):
        stable_token_hashes(["fine", token])
    with pytest.raises(TokenizerError, match=expected):
        TokenBatch.from_sets([{"fine"}, {token}])
    with pytest.raises(TokenizerError, match=expected):
        MinHasher().signatures(TokenBatch.from_sets([{token}]))
    with pytest.raises(TokenizerError, match=expected):
        TextAnalyzer(tokenizer=lambda text: ["fine", token]).shingles("x")


def test_token_text() -> None:
    assert token_text(b"caf\xc3\xa9") == "café"
    assert token_text(bytearray(b"x")) == "x"
    assert token_text("y") == "y"


def bytes_tokenizer(text: str) -> list[bytes]:
    return [word.encode("utf-8") for word in text.lower().split()]


def str_tokenizer(text: str) -> list[str]:
    return text.lower().split()


EXAMPLES = [
    {"q": "Café au lait please", "a": "1"},
    {"q": "new york city", "a": "2"},
    {"q": "york minster", "a": "3"},
]


@pytest.mark.parametrize("cls", [JaccardExampleSelector, MinHashExampleSelector])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2)])
def test_a_tokenizer_returning_bytes_selects_like_one_returning_text(
    cls: Any, ngram_range: tuple[int, int]
) -> None:
    options = {"input_keys": ["q"], "k": 3, "ngram_range": ngram_range, "stopwords": ["please"]}
    with_bytes = cls(examples=EXAMPLES, tokenizer=bytes_tokenizer, **options)
    with_text = cls(examples=EXAMPLES, tokenizer=str_tokenizer, **options)
    for query in ("café please", "new york", "York"):
        assert with_bytes.select_examples_with_scores(
            {"q": query}
        ) == with_text.select_examples_with_scores({"q": query})


def test_a_tokenizer_returning_invalid_utf8_names_the_token_and_text() -> None:
    selector = JaccardExampleSelector(input_keys=["q"], tokenizer=lambda text: [b"\xc3("])
    with pytest.raises(TokenizerError, match=re.escape("the token b'\\xc3(' for text 'hello'")):
        selector.add_example({"q": "hello"})
