r"""The plan language: grammar, parser, validation and the dependency graph.

A plan is what the model writes; it is parsed here and never evaluated::

    New actions:
    - FIND_PRICE(CTX, X) : Find what X costs according to the document.

    1. mayor = FIND_CHARACTER(CTX, "the mayor") : who the mayor is
    2. reasons = FIND_REASON(CTX, "why the mayor, a lawyer, resigned") : find the stated reasons
    3. ans = CONCAT(mayor, reasons) : combine both

Grammar (blank lines, Markdown code fences and short headers ending in ``:``
such as ``Plan:`` before the first step are ignored)::

    plan        = [new_actions] step {step}
    new_actions = "New actions:" ["None"] {"-" ("None" | declaration)}
    declaration = NAME "(" [PARAM {"," PARAM}] ["," "..."] ")" ":" text
    step        = NUMBER ("." | ")") VARIABLE "=" NAME "(" [arg {"," arg}] ")" [":" text]
    arg         = "CTX" | string | VARIABLE
    string      = '"' {char | "\" char} '"'  |  "“" {char} "”"

``CTX`` is the document. Where an action's definition has ``CTX``, a step may
pass the output of an earlier step instead (as the PEARL paper's executor
allows: ``least = FIND_LEAST_DESCRIBING_WORD(classes, "intense")``); the action
then runs over that output as its context, and the step's prompt holds that
output instead of the document (:attr:`PlanStep.context_from`). A string may contain commas, colons, parentheses and
escaped quotes (``\"``, ``\\``, ``\n``, ``\r``, ``\t``). A variable names the output of
an earlier step. The text after ``:`` is the step's description; it is given to
the model verbatim when the step runs.

Checks (each failure is a :class:`PlanParseError` naming the line): the action is
known or declared in the ``New actions`` block; the number of arguments matches;
``CTX`` is passed only where the action expects the document, and that slot holds
``CTX`` or an earlier step's output (never a string literal); every variable
argument is the output of an earlier step, never the step's own; output names are
unique. Because arguments can only refer to earlier steps, the dependency graph is
acyclic by construction.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Literal, NoReturn

from pydantic import BaseModel, ConfigDict

from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl.actions import CONCAT, CONTEXT, Action, ActionSet, parse_action
from langchain_niche.pearl.errors import ActionFormatError, PlanParseError

__all__ = ["Argument", "Plan", "PlanParseError", "PlanStep", "parse_plan"]

_STEP_HEAD = re.compile(r"(?:[-*]\s*)?(?:step\s*)?(\d{1,9})\s*[.):]\s*", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NEW_ACTIONS = re.compile(
    r"(?:my\s+)?new\s+actions?\s*(?:\(if\s+any\))?\s*:\s*(?P<rest>.*)", re.IGNORECASE
)
_NONE = re.compile(r"[-*]?\s*(?:none|n/a|no new actions?)\.?", re.IGNORECASE)
_HEADER = re.compile(r"[A-Za-z][\w \-()/']{0,60}:")
_RULE = re.compile(r"(?:`{3,}\w*|[-=*_]{3,})")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_QUOTES = {'"': '"', "\u201c": "\u201d"}


class Argument(BaseModel):
    """One argument of a step: the document, a string literal or an earlier output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["context", "string", "variable"]
    """``"context"`` (``CTX``), ``"string"`` (a quoted literal) or ``"variable"``."""
    value: str
    """``"CTX"``, the literal's text (unescaped), or the variable's name."""

    def render(self) -> str:
        """The argument as written in the plan language."""
        if self.kind != "string":
            return self.value
        escaped = (
            self.value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
        return f'"{escaped}"'


class PlanStep(BaseModel):
    """One step: ``variable = ACTION(arguments) : description``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int
    """The number the model gave the step."""
    variable: str
    """Name of the step's output."""
    action: str
    """Action name (upper case)."""
    arguments: tuple[Argument, ...] = ()
    """Arguments, in order."""
    description: str = ""
    """The text after ``:``, verbatim (may be empty)."""
    line: int = 0
    """1-based line of the step in the plan text (0 when built by hand)."""
    context_from: str | None = None
    """The earlier step whose output fills the action's ``CTX`` slot (``None``: the
    document does, or the action takes no ``CTX``). Set by :func:`parse_plan` for
    steps such as ``FIND_X(classes, "intense")``, where ``FIND_X(CTX, X)`` then
    runs over the output of ``classes`` instead of the document."""

    @property
    def dependencies(self) -> tuple[str, ...]:
        """Variables this step reads, in argument order, without repeats."""
        seen: dict[str, None] = {}
        for arg in self.arguments:
            if arg.kind == "variable":
                seen.setdefault(arg.value, None)
        return tuple(seen)

    @property
    def takes_context(self) -> bool:
        """Whether the step reads the document."""
        return any(arg.kind == "context" for arg in self.arguments)

    @property
    def reads_context(self) -> bool:
        """Whether the step runs over a long text: the document or an earlier output in the CTX slot."""
        return self.takes_context or self.context_from is not None

    def call_text(self) -> str:
        """``ACTION(arg, ...)``."""
        return f"{self.action}({', '.join(arg.render() for arg in self.arguments)})"

    def render(self, number: int | None = None) -> str:
        """The step as a line of the plan language."""
        text = f"{self.number if number is None else number}. {self.variable} = {self.call_text()}"
        return f"{text} : {self.description}" if self.description else text


class Plan(BaseModel):
    r"""A parsed, validated plan (produced by :func:`parse_plan`).

    Example:
        ```python
        from langchain_niche.pearl import DEFAULT_ACTIONS, parse_plan

        plan = parse_plan(
            '1. a = FIND_X(CTX, "the mayor")\\n'
            '2. b = FIND_REASON(CTX, "why he resigned")\\n'
            "3. ans = CONCAT(a, b) : both",
            DEFAULT_ACTIONS,
        )
        plan.levels()  # [['a', 'b'], ['ans']]
        [s.variable for s in plan.final_steps()]  # ['ans']
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: tuple[PlanStep, ...]
    """Steps in plan order."""
    definitions: dict[str, Action]
    """The definition of every action a step uses (declared ones included)."""
    new_actions: tuple[Action, ...] = ()
    """Actions declared in the plan's ``New actions`` block."""
    text: str = ""
    """The plan text that was parsed."""

    def step(self, variable: str) -> PlanStep:
        """The step whose output is ``variable``.

        Raises:
            KeyError: No such step.
        """
        for step in self.steps:
            if step.variable == variable:
                return step
        raise KeyError(variable)

    def action(self, step: PlanStep) -> Action:
        """The definition of ``step``'s action."""
        return self.definitions[step.action]

    @property
    def variables(self) -> list[str]:
        """Output names, in plan order."""
        return [step.variable for step in self.steps]

    def final_steps(self) -> list[PlanStep]:
        """Steps whose output no later step reads, in plan order (they form the answer)."""
        consumed = {dep for step in self.steps for dep in step.dependencies}
        return [step for step in self.steps if step.variable not in consumed]

    def levels(self) -> list[list[str]]:
        """Variables grouped by depth: a step's level is one more than its deepest input's."""
        depth: dict[str, int] = {}
        for step in self.steps:
            depth[step.variable] = 1 + max((depth[d] for d in step.dependencies), default=-1)
        grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for step in self.steps:
            grouped[depth[step.variable]].append(step.variable)
        return grouped

    @property
    def depth(self) -> int:
        """Length of the longest dependency chain (the minimum number of rounds)."""
        return len(self.levels())

    def render(self) -> str:
        """Canonical plan text (steps renumbered 1..n); :func:`parse_plan` reads it back."""
        lines = []
        if self.new_actions:
            lines.append("New actions:")
            lines.extend(f"- {action.to_line()}" for action in self.new_actions)
            lines.append("")
        lines.extend(step.render(i) for i, step in enumerate(self.steps, 1))
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.steps)


# -- parsing --------------------------------------------------------------------------


class _Line:
    """A cursor over one line of plan text."""

    def __init__(self, text: str, number: int) -> None:
        self.text = text
        self.number = number
        self.pos = 0

    def fail(self, reason: str) -> NoReturn:
        """Reject the line."""
        raise PlanParseError(reason, line=self.number, source=self.text)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def identifier(self) -> str | None:
        found = self.match(_IDENT)
        return found.group() if found else None

    def string(self) -> str:
        start = self.pos
        opening = self.text[start]
        closing = _QUOTES[opening]
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == closing:
                self.pos += 1
                return "".join(chars)
            if char == "\\" and opening == '"' and self.pos + 1 < len(self.text):
                following = self.text[self.pos + 1]
                chars.append(_ESCAPES.get(following, "\\" + following))
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        msg = f"the string starting at column {start + 1} has no closing quote {closing}"
        self.fail(msg)


def _parse_argument(cur: _Line, action: str, position: int) -> Argument:
    char = cur.peek()
    if char in _QUOTES:
        return Argument(kind="string", value=cur.string())
    if char == "'":
        cur.fail(
            f"argument {position} of {action} uses single quotes; write strings in double quotes"
        )
    name = cur.identifier()
    if name is None:
        cur.fail(
            f"unexpected {char!r} in the arguments of {action}: an argument is CTX, "
            'a "quoted string" or the output name of an earlier step'
        )
    cur.skip_space()
    if cur.peek() == "(":
        cur.fail(f"nested call {name}(...) inside {action}: give every action its own step")
    if name == CONTEXT:
        return Argument(kind="context", value=CONTEXT)
    return Argument(kind="variable", value=name)


def _parse_arguments(cur: _Line, action: str) -> list[Argument]:
    """Parse ``arg, arg, ...)`` (the opening parenthesis is consumed)."""
    args: list[Argument] = []
    while True:
        cur.skip_space()
        char = cur.peek()
        if char == ")" and not args:
            cur.pos += 1
            return args
        if char == "":
            cur.fail(f"the arguments of {action} have no closing ')'")
        args.append(_parse_argument(cur, action, len(args) + 1))
        cur.skip_space()
        char = cur.peek()
        if char == ",":
            cur.pos += 1
            continue
        if char == ")":
            cur.pos += 1
            return args
        if char == "":
            cur.fail(f"the arguments of {action} have no closing ')'")
        cur.fail(
            f"expected ',' or ')' after argument {len(args)} of {action}, got {char!r} "
            "(put text containing spaces or punctuation in double quotes)"
        )


def _parse_step(cur: _Line, number: int) -> PlanStep:
    cur.skip_space()
    variable = cur.identifier()
    if variable is None:
        cur.fail("expected 'output_name = ACTION(arguments) : description' after the step number")
    cur.skip_space()
    if cur.peek() != "=":
        cur.fail(f"expected '=' after the output name {variable!r}")
    cur.pos += 1
    cur.skip_space()
    action = cur.identifier()
    if action is None:
        cur.fail(f"expected an action name after '{variable} ='")
    cur.skip_space()
    if cur.peek() != "(":
        cur.fail(f"expected '(' after the action name {action}")
    cur.pos += 1
    arguments = _parse_arguments(cur, action.upper())
    cur.skip_space()
    rest = cur.text[cur.pos :]
    if rest and not rest.startswith(":"):
        cur.fail(f"unexpected text after the call to {action.upper()}: expected ': description'")
    return PlanStep(
        number=number,
        variable=variable,
        action=action.upper(),
        arguments=tuple(arguments),
        description=rest[1:].strip(),
        line=cur.number,
    )


def _later_definition(lines: list[str], start: int, variable: str) -> int | None:
    pattern = re.compile(
        rf"\s*(?:[-*]\s*)?(?:step\s*)?\d{{1,9}}\s*[.):]\s*{re.escape(variable)}\s*=", re.I
    )
    for offset, text in enumerate(lines[start:], start + 1):
        if pattern.match(text):
            return offset
    return None


class _Validator:
    """Checks steps in order against the known and declared actions."""

    def __init__(self, actions: ActionSet, lines: list[str]) -> None:
        self.actions = actions
        self.declared: dict[str, Action] = {}
        self.defined: dict[str, int] = {}
        self.lines = lines

    def declare(self, cur: _Line, text: str) -> None:
        try:
            action = parse_action(text)
        except ActionFormatError as exc:
            msg = f"invalid new action: {exc}"
            raise PlanParseError(msg, line=cur.number, source=cur.text) from exc
        if action.name == CONTEXT:
            cur.fail("CTX is the document, not an action name")
        if action.name in self.declared:
            cur.fail(f"the new action {action.name} is declared twice")
        known = self.actions.get(action.name)
        if known is not None:
            if known.parameters == action.parameters and known.variadic == action.variadic:
                return  # a redundant declaration of an existing action: harmless
            cur.fail(
                f"{action.name} already exists as {known.signature}; use it as defined "
                "or declare the new action under another name"
            )
        self.declared[action.name] = action

    def resolve(self, name: str) -> Action | None:
        return self.declared.get(name) or self.actions.get(name)

    def check(self, cur: _Line, step: PlanStep) -> PlanStep:
        if step.variable.upper() == CONTEXT:
            cur.fail("CTX is the document and cannot be an output name")
        if step.variable in self.defined:
            cur.fail(
                f"the output name {step.variable!r} is already used on line "
                f"{self.defined[step.variable]}; every step needs a distinct output name"
            )
        action = self.resolve(step.action)
        if action is None:
            names = [*self.actions.names, *self.declared]
            close = difflib.get_close_matches(step.action, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            cur.fail(
                f"unknown action {step.action}{hint}; use an action from the list "
                "or declare it under 'New actions:'"
            )
        if not action.accepts(len(step.arguments)):
            cur.fail(f"{action.signature} takes {action.arity_text()}, got {len(step.arguments)}")
        context_from = None
        for position, arg in enumerate(step.arguments):
            self._check_argument(cur, step, action, position, arg)
            if arg.kind == "variable" and action.parameter_for(position) == CONTEXT:
                context_from = arg.value
        self.defined[step.variable] = cur.number
        return (
            step if context_from is None else step.model_copy(update={"context_from": context_from})
        )

    def _check_argument(
        self, cur: _Line, step: PlanStep, action: Action, position: int, arg: Argument
    ) -> None:
        expects_context = action.parameter_for(position) == CONTEXT
        if expects_context and arg.kind == "string":
            cur.fail(
                f"argument {position + 1} of {action.signature} must be CTX (the document) "
                f"or the output of an earlier step, got {arg.render()}"
            )
        if arg.kind == "context" and not expects_context:
            where = (
                "CONCAT joins step outputs and cannot take the document"
                if action.name == CONCAT
                else f"{action.signature} does not take the document as argument {position + 1}"
            )
            cur.fail(f"CTX (the document) passed where it is not expected: {where}")
        if arg.kind != "variable":
            return
        if arg.value == step.variable:
            cur.fail(f"step {step.variable!r} uses its own output as an argument")
        if arg.value not in self.defined:
            later = _later_definition(self.lines, cur.number, arg.value)
            if later is not None:
                cur.fail(
                    f"{arg.value!r} is used before it is defined (line {later} defines it); "
                    "a step may only use outputs of earlier steps"
                )
            known = ", ".join(self.defined) or "none yet"
            cur.fail(
                f"argument {arg.value!r} of {action.name} is not defined: use CTX, a "
                f'"quoted string" or the output of an earlier step (defined: {known})'
            )


def _coerce_actions(actions: ActionSet | Iterable[Action | str]) -> ActionSet:
    if isinstance(actions, ActionSet):
        return actions
    if isinstance(actions, str) or not isinstance(actions, Iterable):
        msg = f"actions must be an ActionSet or a list of actions, got {type(actions).__name__}"
        raise InvalidParameterError(msg, name="actions", value=actions)
    return ActionSet(actions)


def _parse_line(
    cur: _Line, validator: _Validator, steps: list[PlanStep], in_declarations: bool
) -> bool:
    """Handle one non-blank line; return whether a New-actions block is open."""
    line = cur.text
    header = _NEW_ACTIONS.fullmatch(line)
    if header is not None:
        if steps:
            cur.fail("the 'New actions:' block must come before the first step")
        rest = header.group("rest").strip()
        if rest and not _NONE.fullmatch(rest):
            validator.declare(cur, rest)
        return True
    head = cur.match(_STEP_HEAD)
    if head is not None:
        step = _parse_step(cur, int(head.group(1)))
        steps.append(validator.check(cur, step))
        return False
    if in_declarations and (_NONE.fullmatch(line) or line[0] in "-*"):
        if not _NONE.fullmatch(line):
            validator.declare(cur, line)
        return True
    if not steps and _HEADER.fullmatch(line):
        return in_declarations  # "Plan:", "My sequence of actions:" ...
    cur.fail("expected a numbered step like '1. name = ACTION(CTX, \"text\") : description'")


def parse_plan(
    text: str,
    actions: ActionSet | Iterable[Action | str],
    *,
    max_steps: int | None = None,
) -> Plan:
    """Parse and validate a plan written in the plan language (see the module docstring).

    The text is only parsed: nothing in it is evaluated or executed.

    Args:
        text: The plan (typically a model's reply).
        actions: The actions a step may use (the plan may declare more).
        max_steps: Reject plans with more steps than this.

    Returns:
        The plan.

    Raises:
        PlanParseError: The plan is malformed or invalid; the message names the
            line and the reason.
    """
    if not isinstance(text, str):
        msg = f"a plan must be text, got {type(text).__name__}"
        raise PlanParseError(msg)
    known = _coerce_actions(actions)
    # Only newlines end a line (str.splitlines would also split on \x1e, \u2028 ...).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    validator = _Validator(known, lines)
    steps: list[PlanStep] = []
    in_declarations = False
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip().strip("`").strip() if raw.strip().startswith("`") else raw.strip()
        if not stripped or _RULE.fullmatch(stripped):
            continue
        in_declarations = _parse_line(_Line(stripped, number), validator, steps, in_declarations)
    if not steps:
        msg = "the plan has no steps; write numbered steps like '1. name = ACTION(CTX, \"text\") : description'"
        raise PlanParseError(msg)
    if max_steps is not None and len(steps) > max_steps:
        msg = f"the plan has {len(steps)} steps; at most {max_steps} are allowed, so merge or drop steps"
        raise PlanParseError(msg)
    used = {step.action for step in steps}
    definitions = {name: action for name in used if (action := validator.resolve(name)) is not None}
    return Plan(
        steps=tuple(steps),
        definitions=definitions,
        new_actions=tuple(validator.declared.values()),
        text=text,
    )
