"""Streaming (PEARLResult chunks), progress as custom events, child runs, composition, fallbacks, batches."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableLambda

from langchain_niche.pearl import (
    PEARL,
    PEARLBatchError,
    PEARLEvent,
    PEARLResult,
    RetryPolicy,
    StepExecutionError,
)

from .script import scripted

PLAN = """1. a = FIND_X(CTX, "a")
2. b = FIND_X(CTX, "b")
3. ab = CONCAT(a, b)
4. c = SUMMARIZE_X(CTX, ab)"""
DATA = {"question": "What about a and b?", "document": "a is 1. b is 2."}


def check_events(events: list[PEARLEvent]) -> None:
    kinds = [e.type for e in events]
    assert kinds[:2] == ["plan_attempt", "plan"]
    assert kinds[-1] == "answer"
    assert kinds.count("step_start") == kinds.count("step_end") == 4
    started: set[str] = set()
    for event in events:
        if event.type == "step_start":
            assert event.step is not None
            assert all(
                dep
                in {
                    e.step.variable
                    for e in events[: events.index(event)]
                    if e.type == "step_end" and e.step
                }
                for dep in event.step.dependencies
            )
            started.add(event.step.variable)
        if event.type == "step_end":
            assert event.record is not None
            assert event.step is not None
            assert event.step.variable in started
    assert events[1].plan is not None
    result = events[-1].result
    assert isinstance(result, PEARLResult)
    assert result.answer == "<c>"
    seconds = [e.seconds for e in events]
    assert seconds == sorted(seconds)
    assert all(e.message for e in events)


def test_stream_progress_yields_progress_events() -> None:
    events = list(PEARL(scripted(PLAN)).stream_progress(DATA))
    check_events(events)
    assert (
        "a, b"
        in next(
            e for e in events if e.type == "step_start" and e.step and e.step.variable == "b"
        ).message
    )


async def test_astream_progress_yields_progress_events() -> None:
    events = [event async for event in PEARL(scripted(PLAN)).astream_progress(DATA)]
    check_events(events)


def test_plan_rejections_are_streamed() -> None:
    events = list(PEARL(scripted(["nonsense", PLAN])).stream_progress(DATA))
    first = events[0]
    assert first.type == "plan_attempt"
    assert first.attempt is not None
    assert first.attempt.error is not None
    assert "rejected" in first.message


def test_fallback_is_streamed() -> None:
    events = list(PEARL(scripted("nonsense"), max_plan_attempts=2).stream_progress(DATA))
    assert [e.type for e in events] == ["plan_attempt", "plan_attempt", "fallback", "answer"]
    assert events[-1].result is not None
    assert events[-1].result.fallback_used


class Runs(BaseCallbackHandler):
    """Records every run's name, type and parent."""

    def __init__(self) -> None:
        self.runs: dict[UUID, dict[str, Any]] = {}

    def _add(self, kind: str, run_id: UUID, parent: UUID | None, **kwargs: Any) -> None:
        self.runs[run_id] = {
            "kind": kind,
            "parent": parent,
            "name": kwargs.get("name"),
            "tags": kwargs.get("tags") or [],
            "metadata": kwargs.get("metadata") or {},
        }

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._add("chain", run_id, parent_run_id, **kwargs)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._add("llm", run_id, parent_run_id, **kwargs)


def check_tree(handler: Runs) -> None:
    roots = [r for r in handler.runs.values() if r["parent"] is None]
    assert [r["name"] for r in roots] == ["my-pearl"]  # run_name names the PEARL run
    root_id = next(i for i, r in handler.runs.items() if r["parent"] is None)
    steps = {
        i: r for i, r in handler.runs.items() if r["kind"] == "chain" and r["parent"] == root_id
    }
    assert sorted(r["name"] for r in steps.values()) == [
        "step 1: a = FIND_X",
        "step 2: b = FIND_X",
        "step 3: ab = CONCAT",
        "step 4: c = SUMMARIZE_X",
    ]
    llms = [r for r in handler.runs.values() if r["kind"] == "llm"]
    assert len(llms) == 4  # plan + a + b + c
    planning = [r for r in llms if r["parent"] == root_id]
    assert len(planning) == 1
    assert "pearl:plan" in planning[0]["tags"]
    assert planning[0]["metadata"]["pearl_phase"] == "plan"
    for run in llms:
        if run["parent"] != root_id:
            step = steps[run["parent"]]
            assert run["metadata"]["pearl_step"] in step["name"]
            assert "pearl:step" in run["tags"]
    for run in llms:  # the caller's tags and metadata reach every model call
        assert "user-tag" in run["tags"]
        assert run["metadata"]["user_key"] == "user value"


CONFIG: dict[str, Any] = {
    "tags": ["user-tag"],
    "metadata": {"user_key": "user value"},
    "run_name": "my-pearl",
}


@pytest.mark.parametrize("method", ["invoke", "stream", "stream_progress", "batch"])
def test_every_model_call_is_a_child_run(method: str) -> None:
    handler = Runs()
    pearl = PEARL(scripted(PLAN))
    config = {**CONFIG, "callbacks": [handler]}
    if method == "invoke":
        assert isinstance(pearl.invoke(DATA, config), PEARLResult)
    elif method == "batch":
        assert isinstance(pearl.batch([DATA], config)[0], PEARLResult)
    else:
        assert list(getattr(pearl, method)(DATA, config))
    check_tree(handler)


@pytest.mark.parametrize("method", ["ainvoke", "astream", "astream_progress", "abatch"])
async def test_every_model_call_is_a_child_run_async(method: str) -> None:
    handler = Runs()
    pearl = PEARL(scripted(PLAN))
    config = {**CONFIG, "callbacks": [handler]}
    if method == "ainvoke":
        await pearl.ainvoke(DATA, config)
    elif method == "abatch":
        await pearl.abatch([DATA], config)
    else:
        assert [event async for event in getattr(pearl, method)(DATA, config)]
    check_tree(handler)


async def test_astream_events_shows_model_calls_and_pearl_events() -> None:
    pearl = PEARL(scripted(PLAN))
    events = [e async for e in pearl.astream_events(DATA, version="v2")]
    names = [(e["event"], e["name"]) for e in events]
    assert names[0] == ("on_chain_start", "PEARL")
    assert names[-1] == ("on_chain_end", "PEARL")
    assert isinstance(events[-1]["data"]["output"], PEARLResult)
    model_starts = [e for e in events if e["event"] == "on_chat_model_start"]
    assert len(model_starts) == 4
    assert {e["metadata"].get("pearl_phase") for e in model_starts} == {"plan", "step"}
    assert any(e["event"] == "on_chat_model_stream" for e in events)  # tokens stream through
    streamed = [
        e["data"]["chunk"]
        for e in events
        if e["event"] == "on_chain_stream" and e["name"] == "PEARL"
    ]
    assert len(streamed) == 1
    assert isinstance(streamed[0], PEARLResult)
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom][-1] == "pearl_answer"
    assert all(e["run_id"] == events[0]["run_id"] for e in custom)
    step_runs = [
        e for e in events if e["event"] == "on_chain_start" and e["name"].startswith("step ")
    ]
    assert len(step_runs) == 4
    assert all(e["parent_ids"] == [events[0]["run_id"]] for e in step_runs)


def test_errors_end_the_run_with_an_error_callback() -> None:
    errors: list[BaseException] = []

    class OnError(BaseCallbackHandler):
        def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
            errors.append(error)

    def step(variable: str, prompt: str) -> str:
        raise ConnectionError("down")

    pearl = PEARL(scripted(PLAN, step=step), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(StepExecutionError):
        list(pearl.stream(DATA, {"callbacks": [OnError()]}))
    assert any(isinstance(e, StepExecutionError) for e in errors)


def test_closing_a_stream_early_starts_no_further_steps() -> None:
    model = scripted(PLAN, latency=0.05)
    stream = PEARL(model).stream_progress(DATA)
    starts = 0
    for event in stream:
        starts += event.type == "step_start"
        if starts == 1:  # step a is running, b is not submitted yet
            break
    stream.close()
    time.sleep(0.1)
    assert len(model.calls) == 2  # the plan and step a; b and c never started


# -- composition --------------------------------------------------------------------------------


def test_pearl_composes_in_an_lcel_chain() -> None:
    chain = (
        RunnableLambda(lambda text: {"question": "What about a and b?", "document": text})
        | PEARL(scripted(PLAN))
        | RunnableLambda(lambda result: result.answer.upper())
    )
    assert chain.invoke("a is 1. b is 2.") == "<C>"
    assert list(chain.stream("a is 1. b is 2.")) == ["<C>"]


async def test_pearl_composes_in_an_async_streaming_chain() -> None:
    chain = PEARL(scripted(PLAN)) | RunnableLambda(lambda result: result.answer)
    assert [chunk async for chunk in chain.astream(DATA)] == ["<c>"]
    events = [e async for e in chain.astream_events(DATA, version="v2")]
    assert sum(e["event"] == "on_chat_model_start" for e in events) == 4


# -- batches ------------------------------------------------------------------------------------


def failing_for(question: str):  # type: ignore[no-untyped-def]
    def step(variable: str, prompt: str) -> str:
        if question in prompt:
            raise ConnectionError(f"cannot answer {question}")
        return f"<{variable}>"

    return step


QUESTIONS = [{"question": f"Question {i}?", "document": "a is 1. b is 2."} for i in range(4)]


def test_batch_with_return_exceptions_keeps_every_result() -> None:
    pearl = PEARL(
        scripted(PLAN, step=failing_for("Question 2?")), retry=RetryPolicy(max_attempts=1)
    )
    results = pearl.batch(QUESTIONS, return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "PEARLResult",
        "PEARLResult",
        "StepExecutionError",
        "PEARLResult",
    ]
    assert results[0].answer == "<c>"  # type: ignore[union-attr]


def test_batch_without_return_exceptions_raises_after_all_finished() -> None:
    pearl = PEARL(
        scripted(PLAN, step=failing_for("Question 1?")), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(PEARLBatchError) as info:
        pearl.batch(QUESTIONS, {"max_concurrency": 2})
    error = info.value
    assert list(error.errors) == [1]
    assert isinstance(error.__cause__, StepExecutionError)
    assert [isinstance(r, PEARLResult) for r in error.results] == [True, False, True, True]
    assert "1 of 4 questions failed" in str(error)


async def test_abatch_keeps_the_others_results() -> None:
    pearl = PEARL(
        scripted(PLAN, step=failing_for("Question 3?")), retry=RetryPolicy(max_attempts=1)
    )
    results = await pearl.abatch(QUESTIONS, return_exceptions=True)
    assert isinstance(results[3], StepExecutionError)
    assert all(isinstance(r, PEARLResult) for r in results[:3])
    with pytest.raises(PEARLBatchError) as info:
        await pearl.abatch(QUESTIONS)
    assert list(info.value.errors) == [3]


def test_batch_all_good_returns_results() -> None:
    results = PEARL(scripted(PLAN)).batch(QUESTIONS)
    assert [r.answer for r in results] == ["<c>"] * 4


async def test_closing_an_async_stream_early_cancels_running_steps() -> None:
    finished: list[str] = []

    class Ends(BaseCallbackHandler):
        def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            finished.append("end")

    model = scripted(PLAN, latency=0.2)
    stream = PEARL(model).astream_progress(DATA, {"callbacks": [Ends()]})
    starts = 0
    async for event in stream:
        starts += event.type == "step_start"
        if starts == 1:  # step a is running by now
            break
    await stream.aclose()
    ended_at_close = len(finished)
    await asyncio.sleep(0.35)
    assert len(finished) == ended_at_close == 1  # only the planning call ever finished
