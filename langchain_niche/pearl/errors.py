"""Exceptions raised by PEARL.

Each derives from :class:`langchain_niche.errors.NicheError` and from the built-in
exception that matches its meaning, and carries its context as attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_niche.errors import NicheError

if TYPE_CHECKING:
    from langchain_niche.pearl.plan import Plan
    from langchain_niche.pearl.trace import StepRecord

__all__ = [
    "ActionFormatError",
    "ContextBudgetError",
    "PEARLBatchError",
    "PlanParseError",
    "SavedFileError",
    "StepExecutionError",
]


class ActionFormatError(NicheError, ValueError):
    """An action definition (``NAME(PARAM, ...) : description``) is malformed.

    Attributes:
        text: The offending definition.
    """

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text


class PlanParseError(NicheError, ValueError):
    """A plan does not follow the plan language or is not executable.

    The message names the line and the reason; it is what PEARL sends back to the
    model when it asks for a corrected plan.

    Attributes:
        line: 1-based line number in the plan text (``None`` for whole-plan errors).
        reason: Why the plan was rejected.
        source: The offending line's text (empty for whole-plan errors).
    """

    def __init__(self, reason: str, *, line: int | None = None, source: str = "") -> None:
        where = f"line {line}: " if line is not None else ""
        shown = f" (in: {source.strip()[:160]})" if source.strip() else ""
        super().__init__(f"{where}{reason}{shown}")
        self.line = line
        self.reason = reason
        self.source = source


class SavedFileError(NicheError, ValueError):
    """A saved actions or demonstrations file is malformed or of another format.

    Attributes:
        path: The file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ContextBudgetError(NicheError, ValueError):
    """A prompt cannot fit ``max_context_tokens`` even after splitting the document.

    PEARL never truncates silently: when the fixed part of a step prompt (action,
    arguments, question) leaves no room for any document text, it raises this.

    Attributes:
        needed: Tokens of the part that cannot be split.
        budget: Tokens available for the prompt.
    """

    def __init__(self, message: str, *, needed: int, budget: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.budget = budget


class StepExecutionError(NicheError, RuntimeError):
    """A model call kept failing (after retries) while PEARL answered a question.

    Nothing already computed is lost: the plan and every finished step travel with
    the error; the original exception is ``__cause__``.

    Attributes:
        phase: ``"plan"``, ``"step"``, ``"fallback"``, ``"synthesis"`` or ``"options"``.
        step: The failing step's variable (``None`` outside plan execution).
        plan: The plan being executed (``None`` if planning itself failed).
        completed_steps: Records of the steps that finished, in plan order.
        attempts: How many times the failing call was tried.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        step: str | None = None,
        plan: Plan | None = None,
        completed_steps: list[StepRecord] | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.phase = phase
        self.step = step
        self.plan = plan
        self.completed_steps = list(completed_steps or [])
        self.attempts = attempts


class PEARLBatchError(NicheError, RuntimeError):
    """Some questions of a ``batch``/``abatch`` call failed; the others did not.

    Raised only with ``return_exceptions=False`` and only after every question
    finished, so no result is lost.

    Attributes:
        results: One entry per input: its result, or the exception it raised.
        errors: ``{input index: exception}`` for the failed inputs.
    """

    def __init__(self, message: str, *, results: list[Any]) -> None:
        super().__init__(message)
        self.results = results
        self.errors = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
