"""What a PEARL run records: usage, plan attempts, step records, events, the result."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_niche.pearl.plan import Plan, PlanStep

__all__ = ["PEARLEvent", "PEARLResult", "PlanAttempt", "StepRecord", "Usage"]

EventType = Literal["plan_attempt", "plan", "fallback", "step_start", "step_end", "answer"]


class Usage(BaseModel):
    """Model calls and tokens (from the models' ``usage_metadata`` when they report it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_calls: int = 0
    """Successful model calls (retried attempts not included)."""
    input_tokens: int = 0
    """Prompt tokens."""
    output_tokens: int = 0
    """Completion tokens."""
    total_tokens: int = 0
    """``input_tokens + output_tokens`` as reported."""
    estimated: bool = False
    """Some counts were estimated with the token counter (the model reported no usage)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            model_calls=self.model_calls + other.model_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            estimated=self.estimated or other.estimated,
        )

    @classmethod
    def total(cls, items: list[Usage]) -> Usage:
        """Sum of several usages."""
        out = cls()
        for item in items:
            out = out + item
        return out


class PlanAttempt(BaseModel):
    """One plan the model wrote, and why it was rejected (if it was)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: int
    """1-based attempt number."""
    text: str
    """The model's reply."""
    error: str | None = None
    """The parser's error (``None``: the plan was accepted)."""
    line: int | None = None
    """Line of the error in ``text``."""
    usage: Usage = Field(default_factory=Usage)
    """Tokens of this planning call."""


class StepRecord(BaseModel):
    """How one plan step ran: its output, timing, calls and tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    """0-based position in the plan."""
    variable: str
    """The step's output name."""
    action: str
    """Its action."""
    call: str
    """``ACTION(arguments)`` as written in the plan."""
    description: str
    """The step's description (verbatim)."""
    output: str
    """What the step produced."""
    local: bool = False
    """Executed without a model call (``CONCAT``)."""
    chunks: int = 1
    """Document parts the step was mapped over (1: the whole prompt fitted)."""
    reduce_calls: int = 0
    """Calls that combined partial outputs (map-reduce)."""
    retries: int = 0
    """Model calls that failed and were retried."""
    usage: Usage = Field(default_factory=Usage)
    """Calls and tokens of this step."""
    started: float = 0.0
    """Seconds from the start of the run to the step's start."""
    finished: float = 0.0
    """Seconds from the start of the run to the step's end."""
    notes: list[str] = Field(default_factory=list)
    """Anything worth knowing (for example why and how the document was split)."""

    @property
    def seconds(self) -> float:
        """Duration of the step."""
        return self.finished - self.started


class PEARLResult(BaseModel):
    """The answer to one question and everything that led to it.

    ``answer`` is the final answer: the chosen option's text when options were
    given, else the synthesized answer (``synthesize_answer=True``), else the
    outputs of the plan's final steps (``open_answer``).
    """

    model_config = ConfigDict(extra="forbid")

    question: str
    """The question."""
    answer: str
    """The final answer."""
    open_answer: str
    """The plan's answer before synthesis or option mapping: the outputs of the
    steps no later step consumes, in plan order (or the zero-shot answer)."""
    option_index: int | None = None
    """0-based index of the chosen option (``None`` without options)."""
    option_label: str | None = None
    """Letter of the chosen option (``"A"``...)."""
    plan_text: str | None = None
    """The accepted plan as the model wrote it (``None`` after a fallback)."""
    plan: Plan | None = None
    """The parsed plan."""
    steps: list[StepRecord] = Field(default_factory=list)
    """One record per step, in plan order."""
    plan_attempts: list[PlanAttempt] = Field(default_factory=list)
    """Every plan the model wrote, with the errors that sent it back."""
    fallback_used: bool = False
    """No valid plan after ``max_plan_attempts``: the answer is zero-shot."""
    demonstrations: list[str] = Field(default_factory=list)
    """Questions of the demonstrations shown to the planner."""
    usage: Usage = Field(default_factory=Usage)
    """All model calls and tokens of this question."""
    seconds: float = 0.0
    """Wall-clock time of the whole run."""
    notes: list[str] = Field(default_factory=list)
    """Anything worth knowing (splitting, option mapping by similarity ...)."""


class PEARLEvent(BaseModel):
    """A progress event of a PEARL run.

    PEARL dispatches each one as a LangChain custom event named ``pearl_<type>``
    with the event as data (callbacks' ``on_custom_event``,
    ``astream_events(version="v2")``' ``on_custom_event``);
    ``PEARL.stream_progress`` / ``PEARL.astream_progress`` yield them directly.

    ``type`` is one of ``plan_attempt`` (a plan was written; ``attempt.error``
    says if it was rejected), ``plan`` (a plan was accepted), ``fallback`` (no valid
    plan: answering zero-shot), ``step_start``, ``step_end`` (with ``record``) and
    ``answer`` (the last event, with ``result``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EventType
    """What happened."""
    message: str
    """One human-readable line describing it."""
    seconds: float
    """Seconds since the run started."""
    attempt: PlanAttempt | None = None
    """For ``plan_attempt``."""
    plan: Plan | None = None
    """For ``plan``."""
    step: PlanStep | None = None
    """For ``step_start`` and ``step_end``."""
    record: StepRecord | None = None
    """For ``step_end``."""
    running: list[str] = Field(default_factory=list)
    """Steps running at this moment (for ``step_start``/``step_end``)."""
    result: PEARLResult | None = None
    """For ``answer``."""
