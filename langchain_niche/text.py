"""Examples to text to tokens: the one text pipeline every selector and scorer uses.

The steps, in order:

1. :func:`field_text` turns one field value of an example into text (numbers are
   converted with ``str``; ``None`` and other objects are rejected).
2. :class:`TextAnalyzer` turns text into a *set* of shingles: word tokens (the
   default tokenizer, or any callable), optionally word n-grams, or character
   n-grams for languages written without spaces.
3. :func:`~langchain_niche.token_ids.stable_token_hashes` maps shingles to stable
   64-bit ids, identical in every process and on every machine, so indexes can be
   saved and shared (:mod:`langchain_niche.token_ids`, re-exported here).

:func:`jaccard` compares two shingle sets exactly.

When several fields are compared they are taken in sorted key order (as
langchain-core's ``sorted_values`` does) and each field is analyzed separately:
no n-gram ever spans two fields, so the token set does not depend on the order.
"""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

import numpy as np

from langchain_niche._arrays import unique_sorted
from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    TokenizerError,
    preview,
)
from langchain_niche.stopwords import StopwordsSpec, resolve_stopwords
from langchain_niche.token_ids import TokenBatch, stable_token_hashes, token_text

__all__ = [
    "MAX_NGRAM",
    "AnalyzerKind",
    "TextAnalyzer",
    "TokenBatch",
    "TokenizerFn",
    "check_encodable",
    "default_tokenizer",
    "example_text",
    "field_text",
    "jaccard",
    "stable_token_hashes",
    "token_text",
]

TokenizerFn = Callable[[str], Iterable[str]]
"""A tokenizer: any callable from text to an iterable of string tokens (``bytes``
tokens are accepted too and decoded as UTF-8)."""

AnalyzerKind = Literal["word", "char"]
"""``"word"``: tokenizer tokens (and word n-grams); ``"char"``: character n-grams."""

# Scripts written without spaces between words: every character is a token.
_CJK = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0002fa1f"  # CJK Extensions B-F and supplement
)
# Pictographs are not word characters; keep each one as a token of its own.
_PICTOGRAPHS = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[{_PICTOGRAPHS}]")
# For ASCII text, bytes.translate + split is twice as fast as the regex and
# yields exactly the same tokens: every byte that is not [a-z0-9_] becomes a space.
_ASCII_KEEP = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_TABLE = bytes(c if c in _ASCII_KEEP else 0x20 for c in range(256))
_ASCII_TABLE_SEP = bytes(c if c in _ASCII_KEEP or c == 0 else 0x20 for c in range(256))
_SPACE_RE = re.compile(r"\s+")
# Batch encoding joins texts with a separator token that no tokenizer rule produces.
_BATCH_SEP = "\x00"
_BATCH_JOINER = " \x00 "
_BATCH_MIN = 64
_SEP_WORD_RE = re.compile(rf"\x00|{_WORD_RE.pattern}")
_NGRAM_JOINER = " "
MAX_NGRAM = 32
"""Longest n-gram ``ngram_range`` may ask for (words or characters)."""


def default_tokenizer(text: str) -> list[str]:
    """Split text into lower-cased Unicode word tokens.

    Runs of letters, digits and underscores form one token; each CJK ideograph or
    kana is a token of its own (those scripts have no spaces between words), and
    so is each emoji or pictograph. Punctuation and white space are dropped.

    Args:
        text: Any text.

    Returns:
        The tokens in order of appearance (duplicates kept).

    Example:
        ```python
        default_tokenizer("Don't panic! 42 东京 🚀")
        # ['don', 't', 'panic', '42', '东', '京', '🚀']
        ```
    """
    lowered = text.lower()
    if lowered.isascii():  # fast path: no CJK or pictographs possible
        return lowered.encode("ascii").translate(_ASCII_TABLE).decode("ascii").split()
    return _WORD_RE.findall(lowered)


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    """Exact Jaccard similarity ``|a & b| / |a | b|`` (0.0 when both are empty).

    Args:
        a: A set.
        b: Another set.

    Returns:
        The similarity in [0, 1].
    """
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def field_text(value: Any, *, key: str, index: int | None = None) -> str:
    """Return the text of one example (or input) field.

    Args:
        value: The field value. Strings are used as they are, numbers are
            converted with ``str`` (``bool`` is not a number here).
        key: The field name, for the error message.
        index: The example's position in its batch, for the error message
            (``None`` for a selection input).

    Returns:
        The text.

    Raises:
        InvalidExampleError: When the value is ``None``, a ``bool`` or any other
            non-string, non-number object.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    where = "input" if index is None else f"example {index}"
    msg = (
        f"{where}: field {key!r} must be a string or a number, got "
        f"{type(value).__name__} {preview(value)}"
    )
    raise InvalidExampleError(msg, index=index, key=key)


def _check_mapping(example: Any, index: int | None) -> Mapping[str, Any]:
    if isinstance(example, Mapping):
        return example
    where = "input" if index is None else f"example {index}"
    msg = f"{where} must be a dict of field name to text, got {type(example).__name__} {preview(example)}"
    raise InvalidExampleError(msg, index=index)


def example_fields(example: Any, keys: Sequence[str], *, index: int | None = None) -> list[str]:
    """Return the texts of ``keys`` in ``example``, in the order of ``keys``.

    Args:
        example: A mapping of field name to value.
        keys: The fields to read.
        index: The example's position in its batch, for error messages.

    Returns:
        One text per key.

    Raises:
        InvalidExampleError: ``example`` is not a mapping, or a value is not text.
        MissingKeyError: A key is absent.
    """
    mapping = _check_mapping(example, index)
    texts = []
    for key in keys:
        if key not in mapping:
            where = "input" if index is None else f"example {index}"
            msg = (
                f"{where} has no field {key!r} (it has {sorted(map(str, mapping))}); "
                "every example needs the fields the selector compares"
            )
            raise MissingKeyError(msg, index=index, key=key)
        texts.append(field_text(mapping[key], key=key, index=index))
    return texts


def example_text(example: Mapping[str, Any], keys: Sequence[str]) -> str:
    """Join the compared fields of an example into one text (sorted key order).

    Args:
        example: A mapping of field name to value.
        keys: The fields to join.

    Returns:
        The field texts joined by newlines, keys taken in sorted order.
    """
    return "\n".join(example_fields(example, sorted(keys)))


def _strings(value: Any) -> Iterable[str]:
    """Every string in a JSON-like value (keys included), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


_values = operator.methodcaller("values")


def check_encodable(batch: Sequence[Mapping[str, Any]]) -> None:
    r"""Reject examples holding text that cannot be stored: lone surrogates (``"\ud800"``).

    Such strings cannot be written as UTF-8 (JSON files, Redis, the terminal), so
    they are refused when an example is added instead of failing later in
    ``save``, Redis or the command line. One pass over the batch's strings.

    Args:
        batch: Examples (mappings of field name to value; nested lists and dicts
            are searched too).

    Raises:
        InvalidExampleError: A field name or value is not encodable; the error
            names the example's position and the field.
    """
    try:  # fast path: every key and value a str
        keys = "".join(chain.from_iterable(batch))
        values = "".join(chain.from_iterable(map(_values, batch)))
    except TypeError:  # numbers, nested values...: collect the strings
        parts: list[str] = []
        for example in batch:
            for key, value in example.items():
                if type(key) is str:
                    parts.append(key)
                if type(value) is str:
                    parts.append(value)
                elif isinstance(value, Mapping | list | tuple):
                    parts.extend(_strings(value))
        keys, values = "", "".join(parts)
    try:
        keys.encode("utf-8")
        values.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return
    for index, example in enumerate(batch):
        for key, value in example.items():
            for part in (*_strings(key), *_strings(value)):
                bad = _unencodable(part)
                if bad is not None:
                    msg = (
                        f"example {index}: field {key!r} holds {bad!r} (a lone surrogate), which "
                        f"cannot be encoded as UTF-8 and so could not be saved or sent to Redis: "
                        f"{preview(part)}"
                    )
                    raise InvalidExampleError(msg, index=index, key=str(key))


def _unencodable(text: str) -> str | None:
    """The first characters of ``text`` that UTF-8 cannot encode, or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start : exc.end]
    return None


def _tokenizer_name(tokenizer: TokenizerFn) -> str:
    module = getattr(tokenizer, "__module__", None) or ""
    name = getattr(tokenizer, "__qualname__", None) or type(tokenizer).__name__
    return f"{module}.{name}" if module else name


@dataclass(frozen=True)
class TextAnalyzer:
    """Turns text into the set of shingles that similarity is computed on.

    Attributes:
        tokenizer: ``None`` for :func:`default_tokenizer`, or any callable from a
            string to an iterable of string tokens (``str.split`` reproduces plain
            whitespace tokens). Only used with ``analyzer="word"``.
        ngram_range: ``(min_n, max_n)``: with ``"word"``, word n-grams of these
            lengths (``(1, 2)`` adds bigrams); with ``"char"``, character n-grams.
            ``max_n`` is at most :data:`MAX_NGRAM` (32).
        analyzer: ``"word"`` or ``"char"``. Character n-grams are computed on the
            lower-cased text with runs of white space folded to one space; they
            suit languages written without spaces and noisy text.
        stopwords: ``None``, ``"english"`` (this package's list, see
            :mod:`langchain_niche.stopwords`) or a collection of words. Tokens whose
            lower-case form is a stop word are dropped before n-grams are formed.
            Only used with ``analyzer="word"``.

    Example:
        ```python
        TextAnalyzer(ngram_range=(1, 2)).shingles("New York New")
        # {'new', 'york', 'new york', 'york new'}
        TextAnalyzer(analyzer="char", ngram_range=(2, 2)).shingles("东京都")
        # {'东京', '京都'}
        ```
    """

    tokenizer: TokenizerFn | None = None
    ngram_range: tuple[int, int] = (1, 1)
    analyzer: AnalyzerKind = "word"
    stopwords: StopwordsSpec = None
    _name: str = field(init=False, repr=False, compare=False)
    _stop: frozenset[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lo_hi = self.ngram_range
        if (
            not isinstance(lo_hi, tuple | list)
            or len(lo_hi) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in lo_hi)
            or not 1 <= lo_hi[0] <= lo_hi[1] <= MAX_NGRAM
        ):
            msg = (
                "ngram_range must be a pair (min_n, max_n) with "
                f"1 <= min_n <= max_n <= {MAX_NGRAM}, got {preview(lo_hi)}"
            )
            raise InvalidParameterError(msg, name="ngram_range", value=lo_hi)
        object.__setattr__(self, "ngram_range", (lo_hi[0], lo_hi[1]))
        if self.analyzer not in ("word", "char"):
            msg = f"analyzer must be 'word' or 'char', got {self.analyzer!r}"
            raise InvalidParameterError(msg, name="analyzer", value=self.analyzer)
        if self.tokenizer is not None:
            if not callable(self.tokenizer):
                msg = f"tokenizer must be a callable str -> Iterable[str], got {preview(self.tokenizer)}"
                raise InvalidParameterError(msg, name="tokenizer", value=self.tokenizer)
            if self.analyzer == "char":
                msg = "tokenizer cannot be combined with analyzer='char' (character n-grams need no tokenizer)"
                raise InvalidParameterError(msg, name="tokenizer", value=self.tokenizer)
        name = "default" if self.tokenizer is None else _tokenizer_name(self.tokenizer)
        object.__setattr__(self, "_name", name)
        stop = resolve_stopwords(self.stopwords)
        if stop is not None and self.analyzer == "char":
            msg = "stopwords cannot be combined with analyzer='char' (character n-grams have no words)"
            raise InvalidParameterError(msg, name="stopwords", value=self.stopwords)
        object.__setattr__(self, "_stop", stop)

    @property
    def tokenizer_name(self) -> str:
        """``"default"`` or the qualified name of the custom tokenizer."""
        return self._name

    def tokens(self, text: str) -> list[str]:
        """Tokenize ``text`` with the configured tokenizer (word analyzer only).

        Args:
            text: The text.

        Returns:
            Tokens in order, empty strings removed.

        Raises:
            TokenizerError: The custom tokenizer raised, returned a single string,
                or yielded something that is neither a string nor UTF-8 ``bytes``
                (``bytes`` tokens, as datasketch users write them, are decoded).
        """
        if self.tokenizer is None:
            return default_tokenizer(text)
        try:
            result = self.tokenizer(text)
            if isinstance(result, str | bytes):
                msg = (
                    f"tokenizer {self._name} must return an iterable of tokens, "
                    f"got a single {type(result).__name__} for text {preview(text)}"
                )
                raise TokenizerError(msg)
            tokens = list(result)
        except TokenizerError:
            raise
        except Exception as exc:
            msg = f"tokenizer {self._name} failed on text {preview(text)}: {type(exc).__name__}: {exc}"
            raise TokenizerError(msg) from exc
        if not all(type(token) is str for token in tokens):
            where = f"tokenizer {self._name} returned"
            tokens = [token_text(token, where=where, text=text) for token in tokens]
        return [token for token in tokens if token]

    def shingles(self, text: str) -> set[str]:
        """Return the set of shingles (tokens or n-grams) of ``text``.

        Args:
            text: The text.

        Returns:
            The distinct shingles; empty for text without any token.
        """
        lo, hi = self.ngram_range
        if self.analyzer == "char":
            folded = _SPACE_RE.sub(" ", text.lower()).strip()
            return {
                folded[i : i + n]
                for n in range(lo, min(hi, len(folded)) + 1)
                for i in range(len(folded) - n + 1)
            }
        stop = self._stop
        if lo == hi == 1:
            words = set(default_tokenizer(text) if self.tokenizer is None else self.tokens(text))
            if stop:
                words = {word for word in words if word.lower() not in stop}
            return words
        tokens = self.tokens(text)
        if stop:
            tokens = [token for token in tokens if token.lower() not in stop]
        out: set[str] = set()
        for n in range(lo, min(hi, len(tokens)) + 1):
            if n == 1:
                out.update(tokens)
            else:
                out.update(
                    _NGRAM_JOINER.join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)
                )
        return out

    def shingler(self) -> Callable[[str], set[str]]:
        """Return a function equivalent to :meth:`shingles`, specialised for speed.

        Returns:
            A callable from text to its set of shingles.
        """
        if self.analyzer == "word" and self.tokenizer is None and self.ngram_range == (1, 1):
            table = _ASCII_TABLE
            words = _WORD_RE.findall
            stop = self._stop or frozenset()

            def word_set(text: str) -> set[str]:
                lowered = text.lower()
                if lowered.isascii():
                    found = set(lowered.encode("ascii").translate(table).decode("ascii").split())
                else:
                    found = set(words(lowered))
                return found - stop if stop else found

            return word_set
        return self.shingles

    def field_shingles(self, texts: Iterable[str]) -> set[str]:
        """Union of the shingles of several field texts (no n-gram spans two fields).

        Args:
            texts: The field texts.

        Returns:
            The distinct shingles over all fields.
        """
        out: set[str] = set()
        for text in texts:
            out |= self.shingles(text)
        return out

    def example_shingles(
        self, example: Any, keys: Sequence[str], *, index: int | None = None
    ) -> set[str]:
        """Validate an example and return the shingles of its compared fields.

        Args:
            example: A mapping of field name to value.
            keys: The compared fields.
            index: Position of the example in its batch, for error messages.

        Returns:
            The distinct shingles over the compared fields.
        """
        return self.field_shingles(example_fields(example, keys, index=index))

    def encode_examples(self, batch: Sequence[Any], keys: Sequence[str]) -> TokenBatch:
        """Validate a batch of examples and encode the shingles of their compared fields.

        Args:
            batch: Mappings of field name to value (errors name their position).
            keys: The compared fields.

        Returns:
            The token ids of every example, each distinct shingle hashed once.
        """
        if len(keys) == 1:
            key = keys[0]
            texts = [example.get(key) if type(example) is dict else None for example in batch]
            if all(type(text) is str for text in texts):
                return self.encode_texts(texts)  # type: ignore[arg-type]
        return TokenBatch.from_sets(
            self.example_shingles(example, keys, index=i) for i, example in enumerate(batch)
        )

    def encode_texts(self, texts: Sequence[str]) -> TokenBatch:
        """Encode the shingle sets of many texts at once.

        With the default word analyzer the whole batch is lower-cased and split in
        a few C-level passes and de-duplicated with numpy, instead of one Python
        call chain per text; the result equals ``TokenBatch.from_sets(shingles(t)
        for t in texts)`` up to the order of tokens within each set.

        Args:
            texts: The texts.

        Returns:
            Their token ids.
        """
        fast = self.analyzer == "word" and self.tokenizer is None and self.ngram_range == (1, 1)
        if not fast or len(texts) < _BATCH_MIN:
            return TokenBatch.from_sets(self.shingler()(text) for text in texts)
        joined = _BATCH_JOINER.join(texts).lower()
        if joined.count(_BATCH_SEP) != len(texts) - 1:  # a text contains the separator
            return TokenBatch.from_sets(self.shingler()(text) for text in texts)
        if joined.isascii():
            tokens = joined.encode("ascii").translate(_ASCII_TABLE_SEP).decode("ascii").split()
        else:
            tokens = _SEP_WORD_RE.findall(joined)
        distinct = list(dict.fromkeys(tokens))
        position = dict(zip(distinct, range(len(distinct)), strict=True))
        ids = np.fromiter(map(position.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        sep = position.get(_BATCH_SEP, -1)
        row = np.cumsum(ids == sep)
        keep = ids != sep
        if self._stop:
            stop_ids = [position[word] for word in self._stop if word in position]
            if stop_ids:
                keep &= ~np.isin(ids, np.asarray(stop_ids, dtype=np.int64))
        size = len(distinct)
        pairs = unique_sorted(row[keep] * size + ids[keep])  # one entry per (text, token)
        rows, local = np.divmod(pairs, size)
        lens = np.bincount(rows, minlength=len(texts)).astype(np.int64)
        return TokenBatch(stable_token_hashes(distinct), local.astype(np.int64), lens)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-able description (used to save and check indexes).

        Returns:
            ``{"tokenizer": ..., "ngram_range": [lo, hi], "analyzer": ..., "stopwords": ...}``.
        """
        return {
            "tokenizer": self._name,
            "ngram_range": list(self.ngram_range),
            "analyzer": self.analyzer,
            "stopwords": stopwords_spec(self.stopwords),
        }


def stopwords_spec(spec: StopwordsSpec) -> str | list[str] | None:
    """A JSON-able form of a ``stopwords`` argument (``"english"``, a sorted list, or ``None``).

    Args:
        spec: The argument.

    Returns:
        Its JSON-able form.
    """
    if spec is None or isinstance(spec, str):
        return spec
    return sorted(resolve_stopwords(spec) or ())
