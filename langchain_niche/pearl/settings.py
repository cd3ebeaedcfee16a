"""What :class:`~langchain_niche.pearl.PEARL` accepts: its input and the rules of its fields.

The rules live on the fields (``Annotated`` types below, ``Field(ge=...)`` in the
class); :mod:`langchain_niche._validation` turns pydantic's errors into
:class:`~langchain_niche.errors.InvalidParameterError` naming the field and value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, cast

from langchain_core.runnables import Runnable
from pydantic import BaseModel, BeforeValidator, Field

from langchain_niche._validation import Expected
from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)
from langchain_niche.pearl.actions import Action, ActionSet
from langchain_niche.pearl.demonstrations import Demonstration, coerce_demonstrations
from langchain_niche.pearl.errors import PlanParseError
from langchain_niche.pearl.plan import parse_plan
from langchain_niche.pearl.retry import RetryPolicy, retry_policy

__all__ = [
    "ActionsField",
    "DemonstrationsField",
    "ModelField",
    "OptionalModelField",
    "PEARLInput",
    "RetryField",
    "check_demonstrations",
    "read_input",
]

MAX_OPTIONS = 26
_MODEL = "a chat model or another LangChain Runnable returning a message or a string"


def _coerce_actions(value: Any) -> ActionSet:
    if isinstance(value, ActionSet):
        return value
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"actions must be an ActionSet or a list of Action, got {type(value).__name__}"
        raise InvalidParameterError(msg, name="actions", value=value)
    return ActionSet(cast("Iterable[Action | str]", value))


def _coerce_demonstrations(value: Any) -> list[Demonstration]:
    return coerce_demonstrations(value or [])


ModelField = Annotated[Runnable[Any, Any], Expected(_MODEL)]
"""A chat model, an LLM or any Runnable returning a message or a string."""
OptionalModelField = Annotated[Runnable[Any, Any] | None, Expected(f"{_MODEL} (or None)")]
ActionsField = Annotated[ActionSet, BeforeValidator(_coerce_actions)]
"""An :class:`ActionSet`, or a list of actions (``Action`` or declaration strings)."""
DemonstrationsField = Annotated[list[Demonstration], BeforeValidator(_coerce_demonstrations)]
"""Demonstrations or ``{"question", "plan"}`` dicts."""
RetryField = Annotated[RetryPolicy, BeforeValidator(retry_policy)]
"""A :class:`RetryPolicy` or a dict of its settings."""


def check_demonstrations(demonstrations: list[Demonstration], actions: ActionSet) -> None:
    """Check that every demonstration's plan parses with ``actions``.

    Raises:
        InvalidParameterError: Naming the first demonstration that does not.
    """
    for index, demo in enumerate(demonstrations):
        _check_demonstration(index, demo, actions)


def _check_demonstration(index: int, demo: Demonstration, actions: ActionSet) -> None:
    try:
        parse_plan(demo.plan, actions)
    except PlanParseError as exc:
        msg = (
            f"demonstrations[{index}] ({demo.question[:60]!r}) has a plan that does not "
            f"parse with these actions: {exc}"
        )
        raise InvalidParameterError(msg, name="demonstrations", value=demo) from exc


class PEARLInput(BaseModel):
    """The input of :class:`PEARL` (pass it as a dict)."""

    question: str
    """The question about the document."""
    document: str
    """The document (any length; long ones are split, never truncated)."""
    options: list[str] | None = None
    """Answer options; the result then names the chosen one."""
    avoid_plans: list[str] = Field(default_factory=list)
    """Plans that led to wrong answers before; the planner is asked for another strategy."""


def read_input(value: Any) -> PEARLInput:
    """Read PEARL's input (a dict or a :class:`PEARLInput`).

    Raises:
        MissingKeyError: ``question`` or ``document`` is missing.
        InvalidExampleError: A value has the wrong type or is empty.
    """
    if isinstance(value, PEARLInput):
        return value
    if not isinstance(value, Mapping):
        msg = (
            "PEARL input must be a dict with 'question' and 'document' (and optionally "
            f"'options'), got {type(value).__name__} {preview(value)}"
        )
        raise InvalidExampleError(msg)
    for key in ("question", "document"):
        if key not in value:
            msg = f"PEARL input has no {key!r}; it has {sorted(map(str, value))}"
            raise MissingKeyError(msg, key=key)
        if not isinstance(value[key], str):
            msg = f"PEARL input {key!r} must be a string, got {type(value[key]).__name__} {preview(value[key])}"
            raise InvalidExampleError(msg, key=key)
    if not value["question"].strip():
        msg = "PEARL input 'question' is empty"
        raise InvalidExampleError(msg, key="question")
    options = value.get("options")
    if options is not None:
        options = list(options) if isinstance(options, list | tuple) else options
        if (
            not isinstance(options, list)
            or not all(isinstance(o, str) and o.strip() for o in options)
            or not 2 <= len(options) <= MAX_OPTIONS
        ):
            msg = f"PEARL input 'options' must be a list of 2 to {MAX_OPTIONS} non-empty strings, got {preview(options)}"
            raise InvalidExampleError(msg, key="options")
    avoid = value.get("avoid_plans") or []
    if isinstance(avoid, str) or not all(isinstance(p, str) for p in avoid):
        msg = f"PEARL input 'avoid_plans' must be a list of plan strings, got {preview(avoid)}"
        raise InvalidExampleError(msg, key="avoid_plans")
    return PEARLInput(
        question=value["question"],
        document=value["document"],
        options=options,
        avoid_plans=list(avoid),
    )
