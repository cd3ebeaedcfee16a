"""PEARL keeps LangChain's Runnable contract: stream chunks, custom events, fallbacks, copies."""

from __future__ import annotations

import copy
import pickle
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.language_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda, RunnableParallel

from langchain_niche.pearl import PEARL, PEARLEvent, PEARLResult, RetryPolicy, StepExecutionError

from .script import scripted

PLAN = """1. a = FIND_X(CTX, "a")
2. b = FIND_X(CTX, "b")
3. ab = CONCAT(a, b)
4. c = SUMMARIZE_X(CTX, ab)"""
DATA = {"question": "What about a and b?", "document": "a is 1. b is 2."}
ONE_TRY = RetryPolicy(max_attempts=1)
EXPECTED = sorted(
    [
        "pearl_plan_attempt",
        "pearl_plan",
        *(["pearl_step_start", "pearl_step_end"] * 4),
        "pearl_answer",
    ]
)


def check_names(names: list[str]) -> None:
    """Plan events first, the answer last, a start and an end per step (steps run concurrently)."""
    assert names[:2] == ["pearl_plan_attempt", "pearl_plan"]
    assert names[-1] == "pearl_answer"
    assert sorted(names) == EXPECTED


def failing_step(variable: str, prompt: str) -> str:
    msg = f"step {variable} is down"
    raise ConnectionError(msg)


def broken() -> PEARL:
    """A PEARL whose steps always fail (the plan is fine)."""
    return PEARL(scripted(PLAN, step=failing_step), retry=ONE_TRY)


def healthy() -> PEARL:
    return PEARL(scripted(PLAN))


# -- stream / astream yield the output type ------------------------------------------------------


def test_stream_yields_the_result_like_invoke() -> None:
    chunks = list(healthy().stream(DATA))
    assert len(chunks) == 1
    assert isinstance(chunks[0], PEARLResult)
    assert chunks[0].answer == healthy().invoke(DATA).answer == "<c>"


async def test_astream_yields_the_result() -> None:
    chunks = [chunk async for chunk in healthy().astream(DATA)]
    assert [type(c) for c in chunks] == [PEARLResult]
    assert chunks[0].answer == "<c>"


def make_input(text: str) -> dict[str, Any]:
    return {"question": "What about a and b?", "document": text}


def test_composed_chains_stream_results() -> None:
    before = RunnableParallel(
        question=RunnableLambda(lambda _: "What about a and b?"),
        document=RunnableLambda(lambda text: text),
    )
    chain = before | healthy()
    [chunk] = list(chain.stream("a is 1. b is 2."))
    assert isinstance(chunk, PEARLResult)
    assert chunk.answer == "<c>"
    after = healthy() | RunnableLambda(lambda result: result.answer.upper())
    assert list(after.stream(DATA)) == ["<C>"]


async def test_composed_chains_astream_results() -> None:
    chain = RunnableLambda(make_input) | healthy()
    chunks = [chunk async for chunk in chain.astream("a is 1. b is 2.")]
    assert [type(c) for c in chunks] == [PEARLResult]


# -- progress as custom events ------------------------------------------------------------------


async def test_astream_events_shows_progress_as_custom_events_of_the_named_run() -> None:
    events = [
        e async for e in healthy().astream_events(DATA, {"run_name": "my-pearl"}, version="v2")
    ]
    [start] = [e for e in events if e["event"] == "on_chain_start" and e["name"] == "my-pearl"]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    check_names([e["name"] for e in custom])
    assert all(e["run_id"] == start["run_id"] for e in custom)
    assert all(isinstance(e["data"], PEARLEvent) for e in custom)
    assert [e["data"].type for e in custom] == [e["name"].removeprefix("pearl_") for e in custom]
    final = custom[-1]["data"].result
    assert isinstance(final, PEARLResult)
    assert final.answer == "<c>"


async def test_astream_events_of_a_composed_chain_shows_the_custom_events() -> None:
    chain = RunnableLambda(make_input) | healthy() | RunnableLambda(lambda r: r.answer)
    events = [e async for e in chain.astream_events("a is 1. b is 2.", version="v2")]
    check_names([e["name"] for e in events if e["event"] == "on_custom_event"])
    assert events[-1]["data"]["output"] == "<c>"


class Custom(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID]] = []
        self.roots: dict[UUID, str] = {}

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None:
            self.roots[run_id] = kwargs.get("name") or ""

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data, run_id))


class AsyncCustom(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.names: list[str] = []

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.names.append(name)


@pytest.mark.parametrize("method", ["invoke", "stream", "batch", "stream_progress"])
def test_callback_handlers_receive_the_custom_events(method: str) -> None:
    handler = Custom()
    config = {"callbacks": [handler], "run_name": "my-pearl"}
    pearl = healthy()
    if method == "batch":
        pearl.batch([DATA], config)
    elif method == "invoke":
        pearl.invoke(DATA, config)
    else:
        list(getattr(pearl, method)(DATA, config))
    check_names([name for name, _, _ in handler.events])
    assert {run for _, _, run in handler.events} == set(handler.roots)
    assert list(handler.roots.values()) == ["my-pearl"]
    assert isinstance(handler.events[-1][1], PEARLEvent)


@pytest.mark.parametrize("method", ["ainvoke", "astream", "astream_progress"])
async def test_async_callback_handlers_receive_the_custom_events(method: str) -> None:
    handler = AsyncCustom()
    pearl = healthy()
    if method == "ainvoke":
        await pearl.ainvoke(DATA, {"callbacks": [handler]})
    else:
        [x async for x in getattr(pearl, method)(DATA, {"callbacks": [handler]})]
    check_names(handler.names)


def test_stream_progress_events_match_the_custom_events() -> None:
    handler = Custom()
    events = list(healthy().stream_progress(DATA, {"callbacks": [handler]}))
    check_names([f"pearl_{e.type}" for e in events])
    assert [data for _, data, _ in handler.events] == events


# -- fallbacks ----------------------------------------------------------------------------------


def test_with_fallbacks_invoke_falls_back_when_a_step_fails() -> None:
    with pytest.raises(StepExecutionError):
        broken().invoke(DATA)
    result = broken().with_fallbacks([healthy()]).invoke(DATA)
    assert result.answer == "<c>"


def test_with_fallbacks_stream_falls_back_when_a_step_fails() -> None:
    chunks = list(broken().with_fallbacks([healthy()]).stream(DATA))
    assert [c.answer for c in chunks] == ["<c>"]


async def test_with_fallbacks_astream_falls_back_when_a_step_fails() -> None:
    chain = broken().with_fallbacks([healthy()])
    chunks = [c async for c in chain.astream(DATA)]
    assert [c.answer for c in chunks] == ["<c>"]
    assert (await chain.ainvoke(DATA)).answer == "<c>"


def test_fallbacks_inside_a_composed_stream() -> None:
    chain = broken().with_fallbacks([healthy()]) | RunnableLambda(lambda r: r.answer)
    assert list(chain.stream(DATA)) == ["<c>"]


# -- copy and pickle ----------------------------------------------------------------------------

SEQUENTIAL = """1. a = FIND_X(CTX, "a")
2. c = SUMMARIZE_X(CTX, a)"""


def picklable_pearl() -> PEARL:
    model = FakeListChatModel(responses=[SEQUENTIAL, "<a>", "<c>"])
    return PEARL(model, max_concurrency=1, retry=RetryPolicy(timeout=30))


@pytest.mark.parametrize(
    "clone", [copy.deepcopy, lambda p: pickle.loads(pickle.dumps(p))], ids=["deepcopy", "pickle"]
)
def test_copies_run_identically_and_independently(clone: Any) -> None:
    original = picklable_pearl()
    twin = clone(original)
    assert twin is not original
    assert twin.llm is not original.llm
    assert twin.demonstrations == original.demonstrations
    question = "Why did the mayor resign?"
    assert twin.select_demonstrations(question) == original.select_demonstrations(question)
    first = twin.invoke(DATA)
    assert first.answer == "<c>"
    assert [s.output for s in first.steps] == ["<a>", "<c>"]
    # the copy's model state is its own: the original still starts from its first reply
    again = original.invoke(DATA)
    assert again.answer == first.answer
    assert again.plan_text == first.plan_text
    twin.num_demonstrations = 1
    assert len(twin.select_demonstrations(question)) == 1
    assert len(original.select_demonstrations(question)) == 4


def test_pickled_pearl_with_default_settings_round_trips() -> None:
    pearl = PEARL(FakeListChatModel(responses=["x"]))
    restored = pickle.loads(pickle.dumps(pearl))
    assert restored.retry == pearl.retry
    assert restored.actions.render() == pearl.actions.render()
    assert restored.select_demonstrations("What happened?") == pearl.select_demonstrations(
        "What happened?"
    )
    assert copy.copy(pearl).select_demonstrations("What?") == pearl.select_demonstrations("What?")


def test_a_model_that_cannot_be_copied_is_named() -> None:
    class Uncopyable(FakeListChatModel):
        def __deepcopy__(self, memo: Any) -> Any:
            msg = "cannot pickle '_thread.RLock' object"
            raise TypeError(msg)

    pearl = PEARL(FakeListChatModel(responses=["x"]), planner=Uncopyable(responses=["x"]))
    with pytest.raises(TypeError, match=r"its planner \(Uncopyable\) cannot be"):
        copy.deepcopy(pearl)
