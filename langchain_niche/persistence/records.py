"""Examples as JSON: encoded so that they come back unchanged, decoded strictly."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from langchain_niche.errors import InvalidExampleError, preview

__all__ = ["decode_json", "encode_record", "example_json", "has_lone_surrogate"]


def example_json(example: Mapping[str, Any], *, what: str) -> str:
    """Encode an example as JSON, refusing anything JSON would not give back unchanged.

    Args:
        example: The example.
        what: How to name the example in errors (e.g. ``"example 'a1'"``).

    Returns:
        The JSON text (UTF-8 characters kept as they are).

    Raises:
        InvalidExampleError: The example holds values JSON cannot represent
            exactly (tuples, non-string keys, ``NaN``, arbitrary objects).
    """
    try:
        encoded = json.dumps(example, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"{what} cannot be saved as JSON: {exc} (example: {preview(example)})"
        raise InvalidExampleError(msg) from exc
    if json.loads(encoded) != example:
        msg = (
            f"{what} would not survive a JSON round trip unchanged "
            f"(tuples, non-string keys?): {preview(example)}"
        )
        raise InvalidExampleError(msg)
    return encoded


def encode_record(example_id: str, example: Mapping[str, Any]) -> str:
    """One ``examples.jsonl`` line (without the newline) for an example and its id."""
    body = example_json(example, what=f"example {example_id!r}")
    return f'{{"id": {json.dumps(example_id, ensure_ascii=False)}, "example": {body}}}'


def _reject_constant(name: str) -> Any:
    msg = f"JSON constant {name} is not allowed"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = f"JSON number {text} is out of range"
        raise ValueError(msg)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode_json(text: str) -> Any:
    """Parse JSON strictly: ``NaN``, ``Infinity`` and out-of-range numbers are errors."""
    return _DECODER.decode(text)


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string that is not valid Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
