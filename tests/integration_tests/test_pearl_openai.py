"""PEARL over the real langchain-openai HTTP path, against a local scripted server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from langchain_niche import PEARL, PEARLBatchError, PEARLResult, RetryPolicy
from langchain_niche.pearl.prompts import FALLBACK_SYSTEM, PLANNER_SYSTEM, STEP_SYSTEM
from tests.support.openai_server import FakeOpenAIServer

PLAN = """New actions:
- None

1. mayor = FIND_CHARACTER(CTX, "the mayor") : who she is
2. reasons = FIND_REASON(CTX, "why the mayor, a lawyer, resigned") : the stated reasons
3. ans = CONCAT(mayor, reasons) : both"""
DOCUMENT = "Ada Stone, a lawyer, was mayor for six years.\n\nShe resigned in May over the budget."
QUESTION = "Why did the mayor resign?"


def responder(body: dict[str, Any]) -> Any:
    messages = body["messages"]
    system = messages[0]["content"]
    text = "\n".join(str(m.get("content") or "") for m in messages)
    if "fail me" in text:
        return {"status": 500, "error": "scripted failure"}
    if system == PLANNER_SYSTEM:
        return PLAN
    if system == STEP_SYSTEM:
        variable = re.search(r"\[This step\]\n(\w+) = ", text)
        return f"Finding for {variable.group(1) if variable else '?'}: the budget."
    if system == FALLBACK_SYSTEM and "choose the best answer option" in text:
        return "B"
    return "unexpected prompt"


def model(server: FakeOpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-test", base_url=server.base_url, api_key="test", max_retries=0, **kwargs
    )


def test_invoke_over_http_with_usage(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = responder
    pearl = PEARL(model(openai_server))
    result = pearl.invoke({"question": QUESTION, "document": DOCUMENT})
    assert result.answer == ("Finding for mayor: the budget.\nFinding for reasons: the budget.")
    assert len(openai_server.requests) == 3  # plan + two model steps; CONCAT is local
    assert result.usage.model_calls == 3
    assert not result.usage.estimated
    server_total = sum(
        FakeOpenAIServer._usage(req, {"role": "assistant", "content": c})["total_tokens"]
        for req, c in zip(
            openai_server.requests,
            [PLAN, "Finding for mayor: the budget.", "Finding for reasons: the budget."],
            strict=False,
        )
    )
    assert result.usage.total_tokens == server_total
    step_prompts = [r["messages"][1]["content"] for r in openai_server.requests[1:]]
    assert all(DOCUMENT in p and QUESTION in p for p in step_prompts)
    assert DOCUMENT not in openai_server.requests[0]["messages"][1]["content"]


async def test_options_over_http_async(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = responder
    result = await PEARL(model(openai_server)).ainvoke(
        {"question": QUESTION, "document": DOCUMENT, "options": ["health", "the budget"]}
    )
    assert result.answer == "the budget"
    assert result.option_label == "B"


def test_stream_progress_events_over_http(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = responder
    pearl = PEARL(model(openai_server))
    events = list(pearl.stream_progress({"question": QUESTION, "document": DOCUMENT}))
    assert [e.type for e in events][:2] == ["plan_attempt", "plan"]
    assert events[-1].type == "answer"
    assert isinstance(events[-1].result, PEARLResult)
    chunks = list(pearl.stream({"question": QUESTION, "document": DOCUMENT}))
    assert [type(c) for c in chunks] == [PEARLResult]
    assert chunks[0].answer == events[-1].result.answer


async def test_astream_events_streams_tokens_with_usage(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = responder
    pearl = PEARL(model(openai_server, stream_usage=True))
    events = [
        e
        async for e in pearl.astream_events(
            {"question": QUESTION, "document": DOCUMENT}, version="v2"
        )
    ]
    assert all(req.get("stream") for req in openai_server.requests)
    tokens = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert tokens
    ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert len(ends) == 3
    assert all(e["data"]["output"].usage_metadata for e in ends)
    result = events[-1]["data"]["output"]
    assert isinstance(result, PEARLResult)
    assert not result.usage.estimated
    assert result.usage.total_tokens == sum(
        e["data"]["output"].usage_metadata["total_tokens"] for e in ends
    )


def test_batch_over_http_keeps_other_results(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = responder
    pearl = PEARL(model(openai_server), retry=RetryPolicy(max_attempts=1))
    inputs = [
        {"question": QUESTION, "document": DOCUMENT},
        {"question": "fail me", "document": DOCUMENT},
        {"question": QUESTION, "document": DOCUMENT},
    ]
    with pytest.raises(PEARLBatchError) as info:
        pearl.batch(inputs, {"max_concurrency": 3})
    results = info.value.results
    assert isinstance(results[0], PEARLResult)
    assert isinstance(results[2], PEARLResult)
    assert list(info.value.errors) == [1]


def failing_steps(body: dict[str, Any]) -> Any:
    """Steps asked of the model named ``gpt-broken`` fail; everything else is answered."""
    if body.get("model") == "gpt-broken" and body["messages"][0]["content"] == STEP_SYSTEM:
        return {"status": 500, "error": "scripted step failure"}
    return responder(body)


@pytest.mark.parametrize("use_async", [False, True])
async def test_with_fallbacks_streams_the_fallback_over_http(
    openai_server: FakeOpenAIServer, use_async: bool
) -> None:
    """A failing step makes a composed, streamed chain fall back to another PEARL."""
    from langchain_core.runnables import RunnableLambda  # noqa: PLC0415

    openai_server.responder = failing_steps
    broken_model = ChatOpenAI(
        model="gpt-broken", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    broken = PEARL(broken_model, retry=RetryPolicy(max_attempts=1))
    backup = PEARL(model(openai_server), retry=RetryPolicy(max_attempts=1))
    chain = broken.with_fallbacks([backup]) | RunnableLambda(lambda r: r.answer)
    data = {"question": QUESTION, "document": DOCUMENT}
    chunks = [c async for c in chain.astream(data)] if use_async else list(chain.stream(data))
    assert chunks == ["Finding for mayor: the budget.\nFinding for reasons: the budget."]
    models = [request["model"] for request in openai_server.requests]
    assert models[0] == "gpt-broken"
    assert models[-1] == "gpt-test"
    assert "gpt-broken" not in models[models.index("gpt-test") :]
