"""Actions: the vocabulary PEARL plans with.

An :class:`Action` is a named operation with parameters and a one-sentence
definition, written like a function signature: ``FIND_REASON(CTX, X) : ...``. The
parameter ``CTX`` stands for the document; an action that takes it reads the
document when executed. ``CONCAT`` joins texts and is the one action executed
locally, without a model call. A trailing ``...`` makes an action variadic
(``CONCAT(S1, S2, ...)`` takes one or more arguments).

:data:`SEED_ACTIONS` are the seven seed actions of the PEARL paper (Sun et al.,
2023), :data:`DEFAULT_ACTIONS` a curated general-purpose set for questions about
long documents. Definitions are written for this package.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.pearl._files import read_json_file, write_json_file
from langchain_niche.pearl.errors import ActionFormatError, SavedFileError

__all__ = [
    "CONCAT",
    "CONTEXT",
    "DEFAULT_ACTIONS",
    "SEED_ACTIONS",
    "Action",
    "ActionSet",
    "parse_action",
]

CONTEXT = "CTX"
"""The argument (and parameter) that stands for the document."""
CONCAT = "CONCAT"
"""The action executed locally: its output is its arguments joined by newlines."""

_ACTION_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFINITION = re.compile(
    r"""^\s*(?:[-*]\s*)?`?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*
        \((?P<params>[^()]*)\)`?\s*(?:[:#]\s*(?P<description>.*))?$""",
    re.VERBOSE,
)
_FILE_KIND = "langchain-niche-pearl-actions"
_FILE_VERSION = 1


class Action(BaseModel):
    """One action of the plan language.

    Example:
        ```python
        from langchain_niche.pearl import Action

        action = Action(
            name="FIND_REASON",
            parameters=("CTX", "X"),
            description="Explain, from the document, why X happened.",
        )
        action.signature  # 'FIND_REASON(CTX, X)'
        Action.parse("COUNT(CTX, X) : Count how often X happens.").parameters  # ('CTX', 'X')
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Upper-case name (``FIND_X``)."""
    parameters: tuple[str, ...] = ()
    """Parameter names, in order; ``CTX`` stands for the document."""
    description: str
    """What the action does, in one or two sentences (shown to the model)."""
    variadic: bool = False
    """Whether further arguments may follow (written ``...``); then at least one is needed."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _ACTION_NAME.fullmatch(value):
            msg = f"an action name must be upper-case letters, digits and '_' (like FIND_X), got {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _IDENTIFIER.fullmatch(name):
                msg = f"a parameter name must be an identifier, got {name!r}"
                raise ValueError(msg)
        if len(set(value)) != len(value):
            msg = f"parameter names must be distinct, got {list(value)}"
            raise ValueError(msg)
        return value

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            msg = "an action needs a non-empty description"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_concat(self) -> Action:
        if self.name == CONCAT and CONTEXT in self.parameters:
            msg = "CONCAT is executed locally and cannot take the document (CTX)"
            raise ValueError(msg)
        return self

    @property
    def signature(self) -> str:
        """``NAME(P1, P2)`` or ``NAME(P1, P2, ...)``."""
        params = [*self.parameters, "..."] if self.variadic else list(self.parameters)
        return f"{self.name}({', '.join(params)})"

    @property
    def takes_context(self) -> bool:
        """Whether the action reads the document."""
        return CONTEXT in self.parameters

    @property
    def is_local(self) -> bool:
        """Whether the action runs without a model call (only ``CONCAT``)."""
        return self.name == CONCAT

    @property
    def min_arguments(self) -> int:
        """Fewest arguments a step may pass."""
        return 1 if self.variadic else len(self.parameters)

    def accepts(self, count: int) -> bool:
        """Whether ``count`` arguments are a valid call."""
        return count >= self.min_arguments if self.variadic else count == len(self.parameters)

    def arity_text(self) -> str:
        """Human-readable arity (``"exactly 2 arguments"``)."""
        n = self.min_arguments
        plural = "" if n == 1 else "s"
        return (
            f"at least {n} argument{plural}" if self.variadic else f"exactly {n} argument{plural}"
        )

    def parameter_for(self, position: int) -> str:
        """The parameter name an argument at ``position`` (0-based) binds to."""
        if position < len(self.parameters):
            return self.parameters[position]
        base = self.parameters[-1] if self.parameters else "X"
        return f"{base.rstrip('0123456789') or base}{position + 1}"

    def to_line(self) -> str:
        """``NAME(P1, P2) : description`` (what :meth:`parse` reads)."""
        return f"{self.signature} : {self.description}"

    @classmethod
    def parse(cls, text: str) -> Action:
        """Read an action from its definition (see :func:`parse_action`)."""
        return parse_action(text)


def parse_action(text: str) -> Action:
    """Read an action from ``NAME(P1, P2, ...) : description``.

    A leading ``-`` or ``*`` (list item) is ignored, ``#`` may replace ``:`` and the
    name is upper-cased.

    Args:
        text: The definition.

    Returns:
        The action.

    Raises:
        ActionFormatError: The text is not such a definition.
    """
    if not isinstance(text, str):
        msg = f"an action definition must be a string, got {type(text).__name__}"
        raise ActionFormatError(msg, text=repr(text))
    match = _DEFINITION.match(text)
    if match is None:
        msg = f"expected 'NAME(PARAM, ...) : description', got {preview(text)}"
        raise ActionFormatError(msg, text=text)
    description = (match.group("description") or "").strip()
    if not description:
        msg = f"action {match.group('name')} has no description after ':' in {preview(text)}"
        raise ActionFormatError(msg, text=text)
    params = (
        [p.strip() for p in match.group("params").split(",")]
        if match.group("params").strip()
        else []
    )
    variadic = bool(params) and params[-1] in {"...", "…"}
    if variadic:
        params = params[:-1]
    try:
        return Action(
            name=match.group("name").upper(),
            parameters=tuple(params),
            description=description,
            variadic=variadic,
        )
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        msg = f"invalid action definition {preview(text)}: {reason}"
        raise ActionFormatError(msg, text=text) from exc


class ActionSet:
    """An ordered set of actions with unique names (JSON round trip, immutable).

    Name clashes are resolved explicitly: ``a | b`` keeps ``a``'s definition of a
    name both define (the left side wins) and warns when the two definitions
    differ; ``b | a`` or ``a.merge(b, on_conflict="replace")`` takes ``b``'s, and
    ``on_conflict="error"`` refuses. :meth:`from_text` reads action lists such as
    the PEARL paper's ``NAME(P1, P2) # definition`` files, where a repeated name is
    an error naming both lines unless ``duplicates="first"`` (keep the first, warn).

    Example:
        ```python
        from langchain_niche.pearl import DEFAULT_ACTIONS, ActionSet, Action

        extra = Action(name="FIND_PRICE", parameters=("CTX", "X"), description="Find what X costs.")
        actions = DEFAULT_ACTIONS | [extra]
        "FIND_PRICE" in actions  # True
        ActionSet.from_json(actions.to_json()) == actions  # True
        ```
    """

    __slots__ = ("_actions",)

    def __init__(self, actions: Iterable[Action | str] = ()) -> None:
        """Create a set from actions or definitions (``"NAME(P) : description"``).

        Raises:
            InvalidParameterError: Two actions share a name, or an entry is neither.
        """
        table: dict[str, Action] = {}
        positions: dict[str, int] = {}
        for index, entry in enumerate(actions):
            action = parse_action(entry) if isinstance(entry, str) else entry
            if not isinstance(action, Action):
                msg = (
                    f"an ActionSet holds Action objects or definition strings, got {preview(entry)}"
                )
                raise InvalidParameterError(msg, name="actions", value=entry)
            if action.name in table:
                msg = (
                    f"two actions are named {action.name} (entries {positions[action.name]} and "
                    f"{index}): {table[action.name].signature} and {action.signature}"
                )
                raise InvalidParameterError(msg, name="actions", value=action.name)
            table[action.name] = action
            positions[action.name] = index
        self._actions = table

    # -- container protocol ----------------------------------------------------
    def __iter__(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._actions

    def __getitem__(self, name: str) -> Action:
        return self._actions[name.upper()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActionSet):
            return NotImplemented
        return list(self) == list(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ActionSet([{', '.join(a.signature for a in self)}])"

    def __or__(self, other: Iterable[Action | str]) -> ActionSet:
        """``self | other``: ``self`` wins name clashes (a warning names differing ones)."""
        return self.merge(other, on_conflict="warn")

    def get(self, name: str) -> Action | None:
        """The action called ``name`` (case-insensitive), or ``None``."""
        return self._actions.get(name.upper())

    @property
    def names(self) -> list[str]:
        """Action names, in order."""
        return list(self._actions)

    # -- building --------------------------------------------------------------
    def merge(
        self,
        other: Iterable[Action | str],
        *,
        replace: bool = False,
        on_conflict: Literal["keep", "warn", "replace", "error"] | None = None,
    ) -> ActionSet:
        """Return a set with the actions of ``other`` added after these.

        Args:
            other: Actions or definitions.
            replace: Shorthand for ``on_conflict="replace"``.
            on_conflict: What to do when a name exists in both with a different
                definition: ``"keep"`` this set's (the default), ``"warn"`` (keep
                this set's and warn, what ``|`` does), ``"replace"`` with
                ``other``'s (a replaced action keeps its position), or ``"error"``.

        Returns:
            The merged set.

        Raises:
            InvalidParameterError: ``on_conflict="error"`` and a name clashes, or
                ``on_conflict`` is not one of the values above.
        """
        mode = on_conflict or ("replace" if replace else "keep")
        if mode not in ("keep", "warn", "replace", "error"):
            msg = f"on_conflict must be 'keep', 'warn', 'replace' or 'error', got {preview(mode)}"
            raise InvalidParameterError(msg, name="on_conflict", value=mode)
        table = dict(self._actions)
        clashes: list[tuple[Action, Action]] = []
        for entry in other:
            action = parse_action(entry) if isinstance(entry, str) else entry
            existing = table.get(action.name)
            if existing is None:
                table[action.name] = action
                continue
            if existing == action:
                continue
            clashes.append((existing, action))
            if mode == "replace":
                table[action.name] = action
        if clashes and mode == "error":
            listed = "; ".join(f"{a.signature} vs {b.signature}" for a, b in clashes)
            msg = f"both sets define {', '.join(a.name for a, _ in clashes)} differently: {listed}"
            raise InvalidParameterError(msg, name="other", value=[a.name for a, _ in clashes])
        if clashes and mode == "warn":
            listed = ", ".join(f"{a.signature} (not {b.signature})" for a, b in clashes)
            warnings.warn(
                f"ActionSet | ActionSet keeps the left side's definition of a name both "
                f"define: kept {listed}. Write `right | left` or "
                "`left.merge(right, on_conflict='replace')` to take the right side's.",
                UserWarning,
                stacklevel=3,
            )
        return ActionSet(table.values())

    def without(self, *names: str) -> ActionSet:
        """Return a set without the named actions."""
        drop = {name.upper() for name in names}
        return ActionSet(a for a in self if a.name not in drop)

    def render(self) -> str:
        """One ``- NAME(P1, P2) : description`` line per action (as shown to the model)."""
        return "\n".join(f"- {action.to_line()}" for action in self)

    # -- plain-text lists ----------------------------------------------------------
    @classmethod
    def from_text(
        cls, text: str, *, duplicates: Literal["error", "first"] = "error", source: str = "text"
    ) -> ActionSet:
        """Read one action per line (``NAME(P1, P2) : definition`` or ``... # definition``).

        Blank lines and lines starting with ``#`` are skipped; a leading ``-`` is
        allowed. This reads the PEARL paper's mined and simplified action files.

        Args:
            text: The list.
            duplicates: A name defined twice is an error naming both lines
                (``"error"``, the default), or the first definition is kept with
                a warning naming the line dropped (``"first"``).
            source: Name of the text in messages (a file name).

        Returns:
            The actions, in order.

        Raises:
            ActionFormatError: A line is not an action definition, or a name is
                repeated with ``duplicates="error"`` (the message names the line).
        """
        if duplicates not in ("error", "first"):
            msg = f"duplicates must be 'error' or 'first', got {preview(duplicates)}"
            raise InvalidParameterError(msg, name="duplicates", value=duplicates)
        table: dict[str, tuple[Action, int]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                action = parse_action(line)
            except ActionFormatError as exc:
                msg = f"{source}, line {number}: {exc}"
                raise ActionFormatError(msg, text=line) from exc
            if action.name in table:
                first, first_line = table[action.name]
                msg = (
                    f"{source}, line {number}: {action.name} is already defined on line "
                    f"{first_line} ({first.signature})"
                )
                if duplicates == "error":
                    raise ActionFormatError(
                        msg + "; remove one, or pass duplicates='first' to keep the first",
                        text=line,
                    )
                warnings.warn(msg + "; keeping the first definition", UserWarning, stacklevel=2)
                continue
            table[action.name] = (action, number)
        return cls(action for action, _ in table.values())

    @classmethod
    def load_text(
        cls, path: str | os.PathLike[str], *, duplicates: Literal["error", "first"] = "error"
    ) -> ActionSet:
        """Read a plain-text action list from a file (see :meth:`from_text`)."""
        source = Path(path)
        return cls.from_text(
            source.read_text(encoding="utf-8"), duplicates=duplicates, source=str(source)
        )

    # -- JSON ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"actions": [...]}`` (JSON-able)."""
        return {"actions": [action.model_dump(mode="json") for action in self]}

    def to_json(self) -> str:
        """JSON text (what :meth:`from_json` reads)."""
        import json  # noqa: PLC0415 - rarely needed

        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionSet:
        """Inverse of :meth:`to_dict`."""
        raw = data.get("actions") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            msg = f"expected {{'actions': [...]}}, got {preview(data)}"
            raise InvalidParameterError(msg, name="data", value=data)
        return cls(Action.model_validate(item) for item in raw)

    @classmethod
    def from_json(cls, text: str) -> ActionSet:
        """Inverse of :meth:`to_json`."""
        import json  # noqa: PLC0415 - rarely needed

        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the set to a JSON file (atomically).

        Args:
            path: Destination.

        Returns:
            The path written.
        """
        return write_json_file(path, kind=_FILE_KIND, version=_FILE_VERSION, payload=self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ActionSet:
        """Read a set written by :meth:`save`.

        Raises:
            SavedFileError: The file is not an action-set file or is malformed.
        """
        data = read_json_file(path, kind=_FILE_KIND, version=_FILE_VERSION)
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            msg = f"{path} holds an invalid action set: {exc}"
            raise SavedFileError(msg, path=str(path)) from exc


def _actions(*lines: str) -> ActionSet:
    return ActionSet(parse_action(line) for line in lines)


SEED_ACTIONS = _actions(
    "CONCAT(S1, S2, ...) : Join the given texts, in the given order, into one text.",
    "EXTRACT(CTX, X) : Quote, word for word, the passages of the document that X refers to.",
    "FIND_X(CTX, X) : Gather and summarize everything the document says about X.",
    "FIND_REASON(CTX, X) : Explain, from the document, what caused X or why X happened.",
    "FIND_MORAL(CTX) : State the lesson or message the document means to convey.",
    "SUMMARIZE(CTX) : Give a general summary of the document.",
    "SUMMARIZE_X(CTX, X) : Summarize what the document says regarding X.",
)
"""The seven seed actions of the PEARL paper (definitions in this package's words)."""

DEFAULT_ACTIONS = SEED_ACTIONS | _actions(
    "FIND_EVENTS(CTX, X) : List, in document order, the events that involve X, each with a short description.",
    "FIND_TIMELINE(CTX, X) : Put the events concerning X in chronological order, noting when each happens.",
    "FIND_CHARACTER(CTX, X) : Describe who or what X is in the document: role, traits, motives and actions.",
    "FIND_RELATION(CTX, X, Y) : Describe how X and Y are connected according to the document.",
    "FIND_EMOTION(CTX, X) : Describe what X feels or how X regards something, and what causes it.",
    "FIND_INTENT(CTX, X) : Describe what X wants, plans or tries to achieve, with supporting details.",
    "FIND_CONSEQUENCE(CTX, X) : Describe the effects and outcomes of X in the document.",
    "FIND_CHANGE(CTX, X) : Describe how X changes over the course of the document and why.",
    "FIND_EVIDENCE(CTX, X) : Cite the parts of the document that support or contradict the statement X.",
    "FIND_NUMBER(CTX, X) : Find the quantities, dates or amounts the document gives for X.",
    "DEFINE(CTX, X) : Explain what the term X means as the document uses it.",
    "LIST(CTX, X) : List every item of the kind X that the document mentions.",
    "COUNT(CTX, X) : Count how often X occurs in the document, listing each occurrence.",
    "FIND_TONE(CTX) : Describe the author's tone, attitude and intended audience.",
    "INFER(CTX, X) : Draw the most likely conclusion about X from the document, explaining the reasoning when it is not stated outright.",
    "COMPARE(X, Y) : Compare X and Y, naming their similarities and differences.",
    "EVALUATE(X, Y) : Judge whether the statement X holds given the information Y, with reasons.",
    "ANSWER(X, Y) : Answer the question X using only the information in Y.",
)
"""A general-purpose action set for questions about long documents (seeds included)."""
