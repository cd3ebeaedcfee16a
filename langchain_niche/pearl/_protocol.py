"""The requests PEARL's logic makes of its runners (sans-I/O).

The question-answering logic (:mod:`langchain_niche.pearl.pipeline`) is written
once, as generators that *yield* requests (:class:`Calls`, :class:`Emit`,
:class:`RunPlan`) and receive their results. A sync runner (threads) and an async
runner (asyncio) in :mod:`langchain_niche.pearl.execute` fulfil them, so both
paths share every decision and differ only in how they wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from langchain_core.messages import BaseMessage

from langchain_niche._sansio import Task
from langchain_niche.pearl.plan import Plan, PlanStep
from langchain_niche.pearl.trace import PEARLEvent, Usage

__all__ = ["CallResult", "Calls", "Emit", "Phase", "RunPlan", "Task", "TaskOutcome"]

Phase = Literal["plan", "step", "fallback", "synthesis", "options"]


@dataclass(frozen=True)
class Calls:
    """Call the model once per prompt, concurrently; reply with ``list[CallResult]``."""

    prompts: list[list[BaseMessage]]
    phase: Phase
    step: PlanStep | None = None
    labels: list[str] = field(default_factory=list)
    """Per prompt, e.g. ``"part 2 of 5"`` (recorded as run metadata)."""
    planner: bool = False
    """Use the planning model."""


@dataclass(frozen=True)
class CallResult:
    """One model reply."""

    text: str
    usage: Usage
    retries: int = 0


@dataclass(frozen=True)
class Emit:
    """Forward a progress event to the stream; reply with ``None``."""

    event: PEARLEvent


@dataclass(frozen=True)
class RunPlan:
    """Execute a plan's steps over the dependency graph; reply with the step records."""

    plan: Plan


@dataclass(frozen=True)
class TaskOutcome:
    """The result of a (possibly map-reduced) prompt."""

    text: str
    usage: Usage
    chunks: int = 1
    reduce_calls: int = 0
    retries: int = 0
    notes: tuple[str, ...] = ()
