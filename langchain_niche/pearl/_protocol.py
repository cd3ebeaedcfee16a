"""The requests PEARL's logic makes of its runners (sans-I/O).

The question-answering logic (:mod:`langchain_niche.pearl.pipeline`) is written
once, as generators that *yield* requests (:class:`Calls`, :class:`Emit`,
:class:`RunPlan`) and receive their results. A sync runner (threads) and an async
runner (asyncio) in :mod:`langchain_niche.pearl.execute` fulfil them, so both
paths share every decision and differ only in how they wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage

from langchain_niche.pearl.plan import Plan, PlanStep
from langchain_niche.pearl.trace import PEARLEvent, Usage

__all__ = [
    "CallResult",
    "Calls",
    "Driver",
    "Emit",
    "Phase",
    "RunPlan",
    "Task",
    "TaskOutcome",
    "adrive",
    "drive",
]

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


Task = Generator[Any, Any, Any]
"""A generator yielding requests (the reply type depends on the request)."""


class Driver:
    """Feeds a sans-I/O task its replies, written once for every runner.

    Iterate over the driver for the task's requests; between two requests set
    :attr:`reply`, or carry the request out inside :meth:`answering`, which throws
    an error back into the task (where the code that made the request may handle
    it). After the loop, :attr:`result` is what the task returned.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self.reply: Any = None
        self.error: Exception | None = None
        self.result: Any = None

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                if self.error is not None:
                    request = self.task.throw(self.error)
                else:
                    request = self.task.send(self.reply)
            except StopIteration as stop:
                self.result = stop.value
                return
            self.reply, self.error = None, None
            yield request

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Hand an ``Exception`` raised in the block to the task instead of the caller."""
        try:
            yield
        except Exception as exc:
            self.error = exc

    def close(self) -> None:
        """Close the task (its ``finally`` blocks run)."""
        self.task.close()


def drive(task: Task, serve: Callable[[Any], Any]) -> Any:
    """Run ``task`` to its end, answering each request with ``serve(request)``."""
    driver = Driver(task)
    for request in driver:
        with driver.answering():
            driver.reply = serve(request)
    return driver.result


async def adrive(task: Task, serve: Callable[[Any], Awaitable[Any]]) -> Any:
    """Async :func:`drive`: ``serve`` returns an awaitable."""
    driver = Driver(task)
    for request in driver:
        with driver.answering():
            driver.reply = await serve(request)
    return driver.result
