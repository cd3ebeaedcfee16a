"""Grounding: is an extracted value written in the source text?

A value is *grounded* when its normalized form is a substring of the normalized
source, on token boundaries. Normalization folds Unicode compatibility forms
(NFKC), case, typographic quotes and dashes, zero-width characters and runs of
white space; it never touches digits, so ``"12"`` is not grounded by ``"123"``
or ``"1,200"`` by ``"1.200"``. A grounded value is replaced by the exact
characters of the source it matched, so numbers, dates and identifiers are kept
verbatim even when the model re-spelled their case or spacing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

__all__ = ["GroundingMode", "SourceText", "normalize_text"]

GroundingMode = Literal["drop", "flag", "off"]
"""``"drop"``: remove ungrounded values; ``"flag"``: keep them marked; ``"off"``: trust the model."""

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,  # zero-width space
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)
_TRIM = " \t\r\n.,;:!?\"'()[]{}<>"
_RUN_RE = re.compile(r"\S+")


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold().translate(_TRANSLATE)


def _fold_run(
    text: str, span: tuple[int, int], chars: list[str], starts: list[int], ends: list[int]
) -> None:
    """Fold one run of non-space characters, recording where each output character came from."""
    start, end = span
    run = text[start:end]
    if run.isascii():
        chars.append(run.lower())
        starts.extend(range(start, end))
        ends.extend(range(start + 1, end + 1))
        return
    # Combining marks stay with their base character so NFKC can compose them.
    unit_start = start
    for index in range(start + 1, end + 1):
        if index < end and unicodedata.combining(text[index]):
            continue
        folded = "".join(_fold(text[unit_start:index]).split())
        chars.append(folded)
        starts.extend([unit_start] * len(folded))
        ends.extend([index] * len(folded))
        unit_start = index


def _normalize(text: str) -> tuple[str, list[int], list[int]]:
    """The normalized text and, for each of its characters, the span it came from."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _RUN_RE.finditer(text):
        if starts:
            chars.append(" ")
            starts.append(match.start() - 1)
            ends.append(match.start())
        _fold_run(text, match.span(), chars, starts, ends)
    return "".join(chars), starts, ends


def normalize_text(text: str) -> str:
    """Normalize text for comparison (NFKC, case, quotes, dashes, white space).

    Args:
        text: Any text.

    Returns:
        The normalized text, stripped, with white space runs folded to one space.
    """
    return " ".join(_fold(text).split())


def _is_word_char(char: str) -> bool:
    """Letters and digits of scripts written with spaces (CJK characters are words by themselves)."""
    if not char.isalnum():
        return False
    return not ("\u2e80" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af")


@lru_cache(maxsize=4096)
def _needle_pattern(needle: str) -> re.Pattern[str]:
    """A normalized ASCII value as a pattern over lower-cased ASCII text."""
    body = r"\s+".join(re.escape(word) for word in needle.split(" "))
    before = r"(?<![a-z0-9])" if needle[0].isalnum() else ""
    after = r"(?![a-z0-9])" if needle[-1].isalnum() else ""
    return re.compile(before + body + after)


class SourceText:
    r"""A source text indexed for normalized substring search with original offsets.

    Example:
        ```python
        source = SourceText("Revenue rose to  $1.2\\u00a0billion in FY2023.")
        source.find("$1.2 billion")  # (16, 28): the exact characters of the source
        source.find("1.2 billions")  # None
        ```
    """

    def __init__(self, text: str) -> None:
        self.text = text
        # ASCII text (the common case) is searched directly, lower-cased, with a regular
        # expression per value: no per-character index to build.
        self._ascii = text.isascii()
        self._lower = text.lower() if self._ascii else ""
        self._index: tuple[str, list[int], list[int]] | None = None

    def _normalized(self) -> tuple[str, list[int], list[int]]:
        if self._index is None:
            self._index = _normalize(self.text)
        return self._index

    def find(self, value: str) -> tuple[int, int] | None:
        """Locate ``value`` in the source.

        Args:
            value: An extracted value (surrounding punctuation and space ignored).

        Returns:
            The ``(start, end)`` character span of the first match in the
            original text, or ``None`` when the value is not written there.
        """
        needle = normalize_text(value).strip(_TRIM)
        if not needle:
            return None
        if self._ascii:
            if not needle.isascii():
                return None
            match = _needle_pattern(needle).search(self._lower)
            return None if match is None else match.span()
        norm, starts, ends = self._normalized()
        position = norm.find(needle)
        while position >= 0:
            end = position + len(needle)
            before_ok = position == 0 or not (
                _is_word_char(needle[0]) and _is_word_char(norm[position - 1])
            )
            after_ok = end == len(norm) or not (
                _is_word_char(needle[-1]) and _is_word_char(norm[end])
            )
            if before_ok and after_ok:
                return starts[position], ends[end - 1]
            position = norm.find(needle, position + 1)
        return None

    def verbatim(self, value: str) -> str | None:
        """Return the exact source characters that ground ``value`` (``None`` if ungrounded).

        Args:
            value: An extracted value.

        Returns:
            The source substring, or ``None``.
        """
        span = self.find(value)
        return None if span is None else self.text[span[0] : span[1]]
