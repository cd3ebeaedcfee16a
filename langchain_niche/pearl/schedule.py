"""The plan scheduler, written once: which step starts when (sans-I/O).

:func:`question` is everything a runner must do to answer a question, as one
stream of requests; :func:`schedule` walks a plan's dependency graph and *yields* what should happen
(open a step's trace, start it in the background, run a local step inline, wait
for any running step, close a trace, emit an event); the sync and async runners
in :mod:`langchain_niche.pearl.execute` only carry those requests out with
threads or asyncio tasks. So both paths share every scheduling decision:

* a step starts as soon as all its inputs are finished, in plan order;
* at most ``max_concurrency`` model steps run at once; ``CONCAT`` (local) steps
  run inline as soon as their inputs exist and do not count;
* finished steps are taken in plan order when several finish together; a failed
  step raises (with the plan and the finished steps attached) after the steps
  that finished alongside it are recorded.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from langchain_niche.pearl._protocol import Calls, Emit, RunPlan, TaskOutcome
from langchain_niche.pearl.errors import StepExecutionError
from langchain_niche.pearl.pipeline import QuestionRun
from langchain_niche.pearl.plan import Plan, PlanStep
from langchain_niche.pearl.trace import PEARLResult, StepRecord

__all__ = [
    "Close",
    "DagState",
    "Fail",
    "Open",
    "Start",
    "Wait",
    "question",
    "schedule",
    "scope_name",
]


class DagState:
    """Which steps of a plan are waiting, running and finished."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.position = {step.variable: i for i, step in enumerate(plan.steps)}
        self.started: set[str] = set()
        self.running: list[str] = []
        self.records: dict[str, StepRecord] = {}

    def ready(self) -> list[PlanStep]:
        """Steps not started whose inputs are all finished, in plan order."""
        return [
            step
            for step in self.plan.steps
            if step.variable not in self.started
            and all(dep in self.records for dep in step.dependencies)
        ]

    def start(self, step: PlanStep) -> None:
        """Mark ``step`` as running."""
        self.started.add(step.variable)
        self.running.append(step.variable)

    def finish(self, record: StepRecord) -> None:
        """Mark a step as finished."""
        self.running.remove(record.variable)
        self.records[record.variable] = record

    @property
    def values(self) -> dict[str, str]:
        """Outputs of the finished steps."""
        return {name: record.output for name, record in self.records.items()}

    @property
    def finished(self) -> bool:
        """Whether every step finished."""
        return len(self.records) == len(self.plan.steps)

    def ordered(self) -> list[StepRecord]:
        """Finished records in plan order."""
        return sorted(self.records.values(), key=lambda r: r.index)

    def failed(self, error: BaseException, step: PlanStep) -> BaseException:
        """Attach the plan and the finished steps to a step's error."""
        if isinstance(error, StepExecutionError):
            error.plan = self.plan
            error.step = error.step or step.variable
            error.completed_steps = self.ordered()
        return error


def scope_name(plan: Plan, step: PlanStep) -> str:
    """The run name of a step's trace (``step 2: b = FIND_X``)."""
    return f"step {plan.variables.index(step.variable) + 1}: {step.variable} = {step.action}"


@dataclass(frozen=True)
class Open:
    """Open the step's trace (a child run ``name`` with ``inputs``); reply ``None``."""

    step: PlanStep
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Start:
    """Run the step with these input ``values``.

    In the ``background`` (model steps): reply ``None`` at once, the outcome comes
    with a later :class:`Wait`. Otherwise (``CONCAT``): reply with its
    :class:`TaskOutcome`.
    """

    plan: Plan
    step: PlanStep
    values: dict[str, str]
    background: bool


@dataclass(frozen=True)
class Wait:
    """Wait until at least one spawned step ends; reply ``[(variable, outcome or error)]``."""


@dataclass(frozen=True)
class Close:
    """The step succeeded: close its trace with ``output``; reply ``None``."""

    step: PlanStep
    output: str


@dataclass(frozen=True)
class Fail:
    """The step failed: close its trace with ``error``; reply ``None``."""

    step: PlanStep
    error: BaseException


Request = Open | Start | Wait | Close | Fail | Emit | Calls
Done = list[tuple[str, TaskOutcome | BaseException]]


def _start_event(run: QuestionRun, step: PlanStep, state: DagState) -> Emit:
    return run.event(
        "step_start",
        f"start {scope_name(state.plan, step)}  (running: {', '.join(state.running)})",
        step=step,
        running=list(state.running),
    )


def _end_event(run: QuestionRun, step: PlanStep, record: StepRecord, state: DagState) -> Emit:
    how = "locally" if record.local else f"{record.usage.model_calls} call(s)"
    if record.chunks > 1:
        how += f", document split into {record.chunks} parts"
    return run.event(
        "step_end",
        f"done  {scope_name(state.plan, step)}  in {record.seconds:.2f} s ({how})",
        step=step,
        record=record,
        running=list(state.running),
    )


def _finish(
    run: QuestionRun, state: DagState, step: PlanStep, outcome: TaskOutcome, started: float
) -> Generator[Request, Any, None]:
    record = run.record(state.plan, step, outcome, started, run.elapsed())
    yield Close(step, record.output)
    state.finish(record)
    yield _end_event(run, step, record, state)


def schedule(
    run: QuestionRun, plan: Plan, max_concurrency: int
) -> Generator[Request, Any, list[StepRecord]]:
    """Execute ``plan`` over its dependency graph as a stream of requests.

    Args:
        run: The question being answered (events, records, the clock).
        plan: The plan.
        max_concurrency: Model steps running at once.

    Returns:
        The step records in plan order.

    Raises:
        BaseException: The error of the first failed step (in plan order), with the
            plan and the finished steps attached to a ``StepExecutionError``.
    """
    state = DagState(plan)
    started: dict[str, float] = {}
    spawned = 0
    while not state.finished:
        launched = True
        while launched:
            launched = False
            for step in state.ready():
                local = plan.action(step).is_local
                if not local and spawned >= max_concurrency:
                    continue
                state.start(step)
                values = state.values
                inputs = {d: values[d] for d in step.dependencies}
                yield Open(step, scope_name(plan, step), {"step": step.render(), "inputs": inputs})
                started[step.variable] = run.elapsed()
                if local:
                    yield _start_event(run, step, state)
                    outcome = yield Start(plan, step, values, background=False)
                    yield from _finish(run, state, step, outcome, started[step.variable])
                    launched = True
                    break
                yield Start(plan, step, values, background=True)
                spawned += 1
                yield _start_event(run, step, state)
        if not spawned:
            break
        done: Done = yield Wait()
        spawned -= len(done)
        failure: tuple[BaseException, PlanStep] | None = None
        for variable, result in sorted(done, key=lambda item: state.position[item[0]]):
            step = plan.step(variable)
            if isinstance(result, BaseException):
                yield Fail(step, result)
                failure = failure or (result, step)
                continue
            yield from _finish(run, state, step, result, started[variable])
        if failure is not None:  # steps that finished alongside it are kept first
            raise state.failed(*failure)
    return state.ordered()


def question(run: QuestionRun, max_concurrency: int) -> Generator[Request, Any, PEARLResult]:
    """All requests of answering ``run``'s question, plan execution included.

    The question's own requests (model calls, events) pass through; a plan to
    execute becomes :func:`schedule`'s requests. An error the runner throws in
    reaches the code that made the request.
    """
    task = run.run()
    reply: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                request = task.throw(error) if error is not None else task.send(reply)
            except StopIteration as stop:
                result: PEARLResult = stop.value
                return result
            reply, error = None, None
            try:
                if isinstance(request, RunPlan):
                    reply = yield from schedule(run, request.plan, max_concurrency)
                else:
                    reply = yield request
            except Exception as exc:  # handed to the question's code, which may handle it
                error = exc
    finally:
        task.close()
