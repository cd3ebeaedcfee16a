"""The plan scheduler on its own: driven by a fake runner, no threads, no model."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.pearl import DEFAULT_ACTIONS, StepExecutionError
from langchain_niche.pearl._protocol import Emit, TaskOutcome
from langchain_niche.pearl.chunking import Budget
from langchain_niche.pearl.pipeline import QuestionRun, RunSettings
from langchain_niche.pearl.plan import Plan, parse_plan
from langchain_niche.pearl.schedule import Close, Fail, Open, Start, Wait, schedule
from langchain_niche.pearl.trace import Usage
from langchain_niche.tokens import approximate_token_count


def question_run() -> QuestionRun:
    run_settings = RunSettings(
        actions=DEFAULT_ACTIONS,
        max_plan_attempts=1,
        max_steps=32,
        synthesize_answer=False,
        budget_tokens=None,
    )
    return QuestionRun(
        run_settings,
        Budget(None, approximate_token_count),
        question="q?",
        document="doc",
        options=None,
        demonstrations=[],
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """Random DAGs of model steps (FIND_X, FIND_RELATION) and local CONCAT steps."""
    size = draw(st.integers(1, 10))
    lines = []
    for i in range(size):
        kind = draw(st.sampled_from(["leaf", "relation", "concat"])) if i >= 2 else "leaf"
        if kind == "leaf":
            lines.append(f'{i + 1}. v{i} = FIND_X(CTX, "x{i}")')
            continue
        a, b = draw(st.lists(st.integers(0, i - 1), min_size=2, max_size=2, unique=True))
        if kind == "relation":
            lines.append(f"{i + 1}. v{i} = FIND_RELATION(CTX, v{a}, v{b})")
        else:
            lines.append(f"{i + 1}. v{i} = CONCAT(v{a}, v{b})")
    return parse_plan("\n".join(lines), DEFAULT_ACTIONS)


def drive(
    plan: Plan, max_concurrency: int, seed: int, fail: str | None = None
) -> tuple[list[Any], list[str], int]:
    """Carry out the requests, finishing background steps in a random order."""
    rng = random.Random(seed)
    core = schedule(question_run(), plan, max_concurrency)
    requests: list[Any] = []
    running: list[str] = []
    peak = 0
    reply: Any = None
    try:
        while True:
            request = core.send(reply)
            requests.append(request)
            reply = None
            if isinstance(request, Start):
                outcome = TaskOutcome(text=f"out {request.step.variable}", usage=Usage())
                if request.background:
                    running.append(request.step.variable)
                    peak = max(peak, len(running))
                else:
                    reply = outcome
            elif isinstance(request, Wait):
                assert running, "waits only while a step runs"
                done = rng.sample(running, rng.randint(1, len(running)))
                for variable in done:
                    running.remove(variable)
                reply = [
                    (
                        v,
                        StepExecutionError("boom", phase="step", step=v, attempts=1)
                        if v == fail
                        else TaskOutcome(text=f"out {v}", usage=Usage()),
                    )
                    for v in done
                ]
    except StopIteration as stop:
        return requests, [r.variable for r in stop.value], peak


@settings(max_examples=60, deadline=None)
@given(plan=plans(), max_concurrency=st.integers(1, 4), seed=st.integers(0, 1000))
def test_every_step_runs_once_after_its_inputs_within_the_limit(
    plan: Plan, max_concurrency: int, seed: int
) -> None:
    requests, records, peak = drive(plan, max_concurrency, seed)
    assert records == plan.variables  # every step, in plan order
    assert peak <= max_concurrency
    closed: list[str] = []
    for request in requests:
        if isinstance(request, Open):
            assert all(dep in closed for dep in request.step.dependencies)
            assert request.inputs["inputs"] == {
                dep: f"out {dep}" for dep in request.step.dependencies
            }
        if isinstance(request, Start):
            assert request.background != plan.action(request.step).is_local
            assert set(request.values) >= set(request.step.dependencies)
        if isinstance(request, Close):
            closed.append(request.step.variable)
    assert sorted(closed) == sorted(plan.variables)
    kinds = [r.event.type for r in requests if isinstance(r, Emit)]
    assert kinds.count("step_start") == kinds.count("step_end") == len(plan.steps)


def test_independent_steps_start_before_any_waits() -> None:
    plan = parse_plan(
        '1. a = FIND_X(CTX, "a")\n2. b = FIND_X(CTX, "b")\n3. c = FIND_RELATION(CTX, a, b)',
        DEFAULT_ACTIONS,
    )
    requests, _, peak = drive(plan, 4, seed=1)
    first_wait = next(i for i, r in enumerate(requests) if isinstance(r, Wait))
    started = [r.step.variable for r in requests[:first_wait] if isinstance(r, Start)]
    assert started == ["a", "b"]
    assert peak == 2


def test_a_failed_step_raises_with_the_finished_steps_attached() -> None:
    plan = parse_plan(
        '1. a = FIND_X(CTX, "a")\n2. b = FIND_X(CTX, "b")\n3. c = FIND_RELATION(CTX, a, b)',
        DEFAULT_ACTIONS,
    )
    with pytest.raises(StepExecutionError) as info:
        drive(plan, 1, seed=0, fail="b")
    assert info.value.step == "b"
    assert info.value.plan is plan
    assert [r.variable for r in info.value.completed_steps] == ["a"]


def test_a_failed_step_closes_its_trace_with_the_error() -> None:
    plan = parse_plan('1. a = FIND_X(CTX, "a")', DEFAULT_ACTIONS)
    core = schedule(question_run(), plan, 2)
    requests = [next(core)]
    while not isinstance(requests[-1], Wait):
        requests.append(core.send(None))
    error = StepExecutionError("boom", phase="step", step="a", attempts=1)
    assert isinstance(core.send([("a", error)]), Fail)
    with pytest.raises(StepExecutionError):
        core.send(None)
