"""Tolerant JSON parsing for replies of models without tool calling.

Models asked for JSON answer with code fences, a sentence before or after,
trailing commas, single quotes, Python literals (``True``/``None``), comments,
unquoted keys, or a reply cut off by the output limit. :func:`parse_json_loosely`
reads all of these; it never evaluates anything (no ``eval``, no ``ast``).

Valid JSON is parsed by the standard library; only text it rejects goes through
the lenient recursive-descent reader below.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_niche.compression.errors import ExtractionParseError
from langchain_niche.errors import preview

__all__ = ["parse_json_loosely"]

_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_BARE_STOP = frozenset(",:{}[]\n")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_MAX_DEPTH = 200
_CUT = object()
"""A string or scalar cut off by the end of the text: never kept (it may be truncated)."""


def parse_json_loosely(text: str) -> Any:
    r"""Parse the first JSON object or array in a model reply, repairing what it can.

    Args:
        text: The reply text.

    Returns:
        The parsed value (a dict or a list).

    Raises:
        ExtractionParseError: The text contains no ``{`` or ``[``, or nothing
            usable could be read from it.

    Example:
        ```python
        parse_json_loosely("Sure! ```json\\n{'a': 1, 'b': [True, None,],}\\n```")
        # {'a': 1, 'b': [True, None]}
        parse_json_loosely('{"entities": [{"name": "Ada", "type": "Per')  # cut off
        # {'entities': [{'name': 'Ada', 'type': 'Per'}]}
        ```
    """
    if not isinstance(text, str):
        msg = f"expected the reply text, got {type(text).__name__} {preview(text)}"
        raise ExtractionParseError(msg)
    fenced = [match.group(1) for match in _FENCE_RE.finditer(text)]
    # Valid JSON first (the whole reply, then fenced blocks), then repairs (fenced first:
    # the prose around a fence may contain brackets).
    for candidate in (text, *fenced):
        start = _first_container(candidate)
        if start < 0:
            continue
        try:
            value, _ = json.JSONDecoder().raw_decode(candidate, start)
        except (ValueError, RecursionError):
            continue
        return value
    for candidate in (*fenced, text):
        start = _first_container(candidate)
        if start >= 0:
            value = _Reader(candidate, start).read()
            if value is not None:
                return value
    msg = f"no JSON object or array found in the reply {preview(text)}"
    raise ExtractionParseError(msg)


def _first_container(text: str) -> int:
    positions = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    return min(positions) if positions else -1


class _Reader:
    """A forgiving recursive-descent JSON reader (end of text closes everything)."""

    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.pos = start
        self.end = len(text)

    def read(self) -> dict[str, Any] | list[Any] | None:
        try:
            value = self._value(0)
        except RecursionError:
            return None
        return value if isinstance(value, dict | list) else None

    # -- lexical helpers ----------------------------------------------------------
    def _skip(self) -> None:
        text, end = self.text, self.end
        while self.pos < end:
            char = text[self.pos]
            if char.isspace():
                self.pos += 1
            elif text.startswith("//", self.pos) or char == "#":
                newline = text.find("\n", self.pos)
                self.pos = end if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                self.pos = end if close < 0 else close + 2
            else:
                return

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos] if self.pos < self.end else ""

    # -- grammar ------------------------------------------------------------------
    def _value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise RecursionError
        char = self._peek()
        if char == "{":
            self.pos += 1
            return self._object(depth + 1)
        if char == "[":
            self.pos += 1
            return self._array(depth + 1)
        if char in ("'", '"'):
            return self._string()
        if not char:
            return None
        return self._scalar()

    def _closed(self) -> bool:
        """Skip commas before the next member; whether the container ends here.

        It ends at the end of the text or at a closing bracket of either kind (a
        mismatched one is taken as the end too), which is consumed.
        """
        while True:
            char = self._peek()
            if not char:
                return True
            if char in "}]":
                self.pos += 1
                return True
            if char != ",":
                return False
            self.pos += 1

    def _object(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while not self._closed():
            key = self._string() if self._peek() in ("'", '"') else self._scalar()
            if self._peek() != ":":
                if not self._peek():
                    return out
                continue  # a key without a value: skip it
            self.pos += 1
            if not self._peek():
                return out  # cut off after the colon: drop the incomplete member
            value = self._value(depth)
            if value is not _CUT and key is not _CUT:
                out[str(key)] = value
        return out

    def _array(self, depth: int) -> list[Any]:
        out: list[Any] = []
        while not self._closed():
            value = self._value(depth)
            if value is not _CUT:
                out.append(value)
        return out

    def _string(self) -> Any:
        text, end = self.text, self.end
        quote = text[self.pos]
        self.pos += 1
        parts: list[str] = []
        while self.pos < end:
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return _join_surrogates("".join(parts))
            if char == "\\" and self.pos + 1 < end:
                code = text[self.pos + 1]
                if code == "u":
                    digits = text[self.pos + 2 : self.pos + 6]
                    try:
                        parts.append(chr(int(digits, 16)))
                    except ValueError:
                        parts.append(digits)
                    self.pos += 2 + len(digits)
                    continue
                parts.append(_ESCAPES.get(code, code))
                self.pos += 2
                continue
            parts.append(char)
            self.pos += 1
        return _CUT

    def _scalar(self) -> Any:
        text, end = self.text, self.end
        start = self.pos
        while self.pos < end and text[self.pos] not in _BARE_STOP:
            # A quote after a space starts the next string (a missing comma): stop here.
            if text[self.pos] in "\"'" and self.pos > start and text[self.pos - 1].isspace():
                break
            self.pos += 1
        word = text[start : self.pos].strip()
        if self.pos >= end:
            return _CUT
        if not word:
            self.pos += 1  # a stray delimiter: skip it
            return None
        if word in _LITERALS:
            return _LITERALS[word]
        if _NUMBER_RE.fullmatch(word):
            number = float(word)
            if number.is_integer() and not any(c in word for c in ".eE"):
                return int(word)
            return number
        return word


def _join_surrogates(text: str) -> str:
    """Combine the UTF-16 surrogate pairs that JSON escapes produce."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
