"""Model outputs as storable answer text, and inputs as example fields."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from langchain_niche.errors import InvalidExampleError, MissingKeyError, preview
from langchain_niche.routing.errors import AnswerFormatError

__all__ = ["NonText", "answer_text", "input_fields", "query_of"]

NonText = Literal["json", "reject"]
"""What to do with an answer that is not text: store it as JSON, or raise."""

EXAMPLES_VAR = "examples"
"""The variable holding the selected examples in the student's input."""


def answer_text(value: Any, *, route: str, non_text: NonText, inputs: Any = None) -> str:
    """Turn a model's output into the answer text the router returns and stores.

    Strings are kept; messages give their text (a message with only tool calls
    gives its calls as JSON); other values are stored as JSON (pydantic objects
    through ``model_dump``) or rejected, as ``non_text`` says.

    Args:
        value: The output.
        route: ``"teacher"`` or ``"student"`` (for the error).
        non_text: ``"json"`` or ``"reject"``.
        inputs: The input it answers (named in the error).

    Returns:
        The answer text.

    Raises:
        AnswerFormatError: ``None``, a value JSON cannot represent, or any non-text
            value with ``non_text="reject"``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        text = str(value.text)
        calls = getattr(value, "tool_calls", None)
        if text or not calls:
            return text
        value = [{"name": call["name"], "args": call["args"]} for call in calls]
    where = f" for input {preview(inputs)}" if inputs is not None else ""
    if value is None or non_text == "reject":
        msg = f"the {route} returned {type(value).__name__} {preview(value)}{where}, not text; " + (
            "return a string or message"
            if value is None
            else "pass non_text='json' to store it as JSON"
        )
        raise AnswerFormatError(msg, value=value, route=route)
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    try:
        return json.dumps(data, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"the {route} returned {type(value).__name__} {preview(value)}{where}, which is neither text nor JSON-serialisable: {exc}"
        raise AnswerFormatError(msg, value=value, route=route) from exc


def input_fields(value: Any, input_keys: Sequence[str] | None, output_key: str) -> list[str]:
    """The compared fields of one input (checked).

    Args:
        value: The router's input.
        input_keys: The configured fields (``None``: every field but ``output_key``).
        output_key: The answer field.

    Returns:
        The field names, sorted.

    Raises:
        InvalidExampleError: The input is not a dict.
        MissingKeyError: The input lacks a configured field.
    """
    if not isinstance(value, Mapping):
        msg = f"the router's input must be a dict of field name to text, got {type(value).__name__} {preview(value)}"
        raise InvalidExampleError(msg)
    if input_keys is None:
        keys = sorted(k for k in value if k not in (output_key, EXAMPLES_VAR))
        if not keys:
            msg = f"the input {preview(value)} has no field besides {output_key!r}"
            raise InvalidExampleError(msg)
        return keys
    for key in input_keys:
        if key not in value:
            msg = f"the input has no field {key!r} (input_keys={list(input_keys)}); it has {sorted(value)}"
            raise MissingKeyError(msg, key=key)
    return list(input_keys)


def query_of(value: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The input restricted to its compared fields (what the selector sees and stores)."""
    return {key: value[key] for key in keys}


def fingerprint(query: Mapping[str, Any]) -> str:
    """A key identifying an input's compared fields exactly."""
    return json.dumps(query, sort_keys=True, ensure_ascii=False, default=repr)
