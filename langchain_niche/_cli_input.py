"""Command line input: JSON lines read strictly, with 1-based line numbers in every error."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from langchain_niche.errors import InvalidExampleError, NicheError

__all__ = ["MAX_NESTING", "DataError", "UsageError", "json_object", "read_jsonl"]

MAX_NESTING = 64
"""Deepest nesting of JSON arrays and objects accepted in an input line."""


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class DataError(Exception):
    """What the command reads is rejected (exit status 1)."""


# -- reading input -------------------------------------------------------------------------
@dataclass
class _Input:
    """The examples of a JSONL file and the 1-based line each came from."""

    name: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def line_of(self, index: int) -> int | None:
        return self.lines[index] if 0 <= index < len(self.lines) else None


def _nesting_and_text_ok(value: Any) -> str | None:
    """Why ``value`` is unusable (too deep, or a string that is not valid Unicode), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"a string holds an unpaired surrogate escape ({item[:40]!r})"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING} levels"
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)
    return None


def _parse_line(raw: bytes, where: str, first: bool) -> dict[str, Any] | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        raise InvalidExampleError(msg) from None
    if first:
        line = line.removeprefix("\ufeff")
    if not line.strip():
        return None
    # cheap gate: only lines with many brackets or with escapes need the full walk
    walk = line.count("[") + line.count("{") > MAX_NESTING or "\\u" in line.lower()
    return json_object(line, where, InvalidExampleError, walk=walk)


def json_object(
    text: str, where: str, error: type[Exception], *, walk: bool = True
) -> dict[str, Any]:
    """Parse a JSON object strictly: finite numbers, nested at most ``MAX_NESTING`` deep.

    Args:
        text: The JSON text.
        where: What the text is, starting every message (``"data.jsonl line 3"``).
        error: The exception type to raise.
        walk: Check the nesting depth and the strings' Unicode (``False``: the
            caller knows the text cannot fail these checks).

    Returns:
        The object.

    Raises:
        Exception: ``error``, when the text is not such an object.
    """
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        msg = f"{where}: not JSON: {exc.msg} (column {exc.colno})"
        raise error(msg) from None
    except _NotFiniteError as exc:
        msg = f"{where}: {exc} is not a finite number (JSON has no NaN or Infinity)"
        raise error(msg) from None
    except RecursionError:
        msg = f"{where}: JSON nested deeper than {MAX_NESTING} levels"
        raise error(msg) from None
    if not isinstance(value, dict):
        msg = f"{where}: expected a JSON object, got {_json_kind(value)}"
        raise error(msg)
    problem = _nesting_and_text_ok(value) if walk else None
    if problem is not None:
        msg = f"{where}: {problem}"
        raise error(msg)
    return value


class _NotFiniteError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFiniteError(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFiniteError(text)
    return number


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _read(path: str) -> _Input:
    """Read a JSON-lines file of objects (``-`` for stdin); blank lines are skipped."""
    name = "<stdin>" if path == "-" else path
    out = _Input(name)
    if path == "-":
        _read_stream(sys.stdin.buffer, out)
        return out
    target = Path(path)
    if target.is_dir():
        msg = f"{path}: is a directory, not a JSONL file"
        raise DataError(msg)
    with target.open("rb") as stream:
        _read_stream(stream, out)
    return out


def _read_stream(stream: BinaryIO, out: _Input) -> None:
    for line_no, raw in enumerate(stream, start=1):
        value = _parse_line(raw, f"{out.name}:{line_no}", line_no == 1)
        if value is not None:
            out.examples.append(value)
            out.lines.append(line_no)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects (``-`` for stdin); blank lines are skipped.

    Args:
        path: The file.

    Returns:
        The objects.

    Raises:
        InvalidExampleError: A line is not UTF-8, not JSON, not an object, or nested
            too deeply (the error names the 1-based line).
    """
    return _read(path).examples


def _require_examples(source: _Input, allow_empty: bool) -> None:
    if not source.examples and not allow_empty:
        msg = f"{source.name}: no examples (the input is empty); pass --allow-empty to accept that"
        raise DataError(msg)


def _at_line(exc: NicheError, source: _Input, offset: int = 0) -> Exception:
    """The error with its batch position replaced by the input file's line number."""
    index = getattr(exc, "index", None)
    if not isinstance(index, int):
        return exc
    line = source.line_of(offset + index)
    if line is None:
        return exc
    text = re.sub(rf"\bexample {index}\b", "example", str(exc), count=1)
    msg = f"{source.name}:{line}: {text}"
    return DataError(msg)
