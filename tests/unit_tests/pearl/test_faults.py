"""PEARL under model faults: hangs, errors, empty / garbage / huge replies, bad settings."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage

from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl import PEARL, RetryPolicy, StepExecutionError
from langchain_niche.pearl.pipeline import echo
from langchain_niche.pearl.prompts import PLANNER_SYSTEM
from langchain_niche.tokens import approximate_token_count
from tests.support.faulty_models import GARBAGE, FaultyChatModel

from .script import calls_of, prompt_kind, scripted

PLAN = """1. a = FIND_X(CTX, "a")
2. c = SUMMARIZE_X(CTX, a)"""
DATA = {"question": "What about a?", "document": "a is 1."}
Faulty = Callable[..., FaultyChatModel]


def is_step(messages: list[BaseMessage]) -> bool:
    return prompt_kind(messages)[0] == "step"


def is_plan(messages: list[BaseMessage]) -> bool:
    return prompt_kind(messages)[0] == "plan"


def quick(timeout: float | None = 0.2, attempts: int = 1) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, initial_delay=0.0, jitter=False, timeout=timeout)


# -- hangs: bounded waits ------------------------------------------------------------------------


def test_the_default_timeout_is_finite_and_none_is_still_allowed() -> None:
    model = scripted(PLAN)
    timeout = PEARL(model).retry.timeout
    assert timeout is not None
    assert math.isfinite(timeout)
    assert timeout > 0
    assert PEARL(model, retry={"timeout": None}).retry.timeout is None
    assert PEARL(model, retry=RetryPolicy(timeout=None)).retry.timeout is None


@pytest.mark.timeout(20)
def test_a_hung_step_raises_a_typed_timeout_error(faulty: Faulty) -> None:
    model = faulty("hang", healthy=scripted(PLAN), applies=is_step)
    pearl = PEARL(model, retry=quick(attempts=2))
    with pytest.raises(StepExecutionError) as info:
        pearl.invoke(DATA)
    error = info.value
    assert error.step == "a"
    assert error.attempts == 2
    assert isinstance(error.__cause__, TimeoutError)
    assert "took longer than 0.2 s" in str(error)
    assert model.faults == 2


@pytest.mark.timeout(20)
async def test_a_hung_async_step_is_cancelled(faulty: Faulty) -> None:
    model = faulty("hang", healthy=scripted(PLAN), applies=is_step)
    pearl = PEARL(model, retry=quick(attempts=2))
    with pytest.raises(StepExecutionError) as info:
        await pearl.ainvoke(DATA)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert model.faults == 2
    assert model.cancelled == 2  # no hung call is left running on the event loop
    assert model.returned == 2


@pytest.mark.timeout(30)
def test_sync_timeouts_reuse_worker_threads_instead_of_leaking_one_per_call(
    faulty: Faulty,
) -> None:
    rounds = 5
    existing = set(threading.enumerate())  # workers other tests left idle may be reused too
    threads: list[threading.Thread] = []
    for _ in range(rounds):
        model = faulty("hang", healthy=scripted(PLAN), applies=is_step)
        with pytest.raises(StepExecutionError):
            PEARL(model, retry=quick()).invoke(DATA)
        model.release()
        assert model.wait_returned(1)
        threads.extend(model.threads)
    assert len(threads) == rounds
    assert all(t.name == "pearl-model-call" and t.daemon for t in threads)
    # one new thread per timed-out call would give `rounds` new threads
    assert len(set(threads) - existing) <= 2


@pytest.mark.timeout(20)
def test_a_hung_planner_times_out_too(faulty: Faulty) -> None:
    model = faulty("hang", healthy=scripted(PLAN), applies=is_plan)
    with pytest.raises(StepExecutionError) as info:
        PEARL(model, retry=quick()).invoke(DATA)
    assert info.value.phase == "plan"
    assert isinstance(info.value.__cause__, TimeoutError)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_raising_model_gives_a_typed_error_or_the_fallback(
    faulty: Faulty, use_async: bool
) -> None:
    model = faulty("raise", healthy=scripted(PLAN), applies=is_step)
    pearl = PEARL(model, retry=quick(attempts=2))
    with pytest.raises(StepExecutionError) as info:
        await pearl.ainvoke(DATA) if use_async else pearl.invoke(DATA)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert info.value.attempts == 2
    chain = pearl.with_fallbacks([PEARL(scripted(PLAN))])
    result = await chain.ainvoke(DATA) if use_async else chain.invoke(DATA)
    assert result.answer == "<c>"


# -- useless plans: self-correction, then the zero-shot fallback ----------------------------------


@pytest.mark.parametrize("fault", ["empty", "garbage"])
def test_empty_or_garbage_plans_are_corrected_then_answered_zero_shot(
    faulty: Faulty, fault: str
) -> None:
    healthy = scripted(PLAN)
    model = faulty(fault, healthy=healthy, applies=is_plan)
    result = PEARL(model, max_plan_attempts=3).invoke(DATA)
    assert result.fallback_used
    assert result.answer == "zero-shot answer"
    assert [a.attempt for a in result.plan_attempts] == [1, 2, 3]
    assert all(a.error for a in result.plan_attempts)
    assert model.faults == 3  # three plans asked for: the first and two corrections
    assert len(calls_of(healthy, "fallback")) == 1
    if fault == "garbage":
        assert result.plan_attempts[0].text == GARBAGE


# -- huge replies: the echo is cut, self-correction and the fallback still work -------------------

HUGE = "1. " + "x" * 39_997


def correction_prompts(model: Any) -> list[str]:
    return [
        c.text
        for c in model.calls
        if str(c.messages[0].text) == PLANNER_SYSTEM and len(c.messages) > 2
    ]


def test_a_huge_invalid_plan_is_echoed_cut_and_the_correction_succeeds() -> None:
    model = scripted([HUGE, PLAN])
    result = PEARL(model, max_context_tokens=8000).invoke(DATA)
    assert not result.fallback_used
    assert result.answer == "<c>"
    assert result.plan_attempts[0].text == HUGE  # the trace keeps the whole reply
    [prompt] = correction_prompts(model)
    assert "characters cut ...]" in prompt
    assert HUGE[:3000] in prompt
    assert HUGE not in prompt
    assert approximate_token_count(prompt) < 8000 - 1024


@given(st.text(max_size=300), st.integers(0, 80), st.integers(0, 80))
def test_echo_keeps_short_texts_and_marks_every_cut(text: str, head: int, tail: int) -> None:
    shown = echo(text, head, tail)
    if len(text) <= head + tail:
        assert shown == text
        return
    cut = len(text) - head - tail
    marker = f"[... {cut:,} characters cut ...]"
    assert shown.startswith(text[:head] + "\n" + marker)
    assert shown.endswith(marker + ("\n" + text[len(text) - tail :] if tail else ""))
    assert len(shown) == head + tail + len(marker) + 1 + (1 if tail else 0)


@pytest.mark.parametrize("use_async", [False, True])
async def test_huge_invalid_plans_end_in_the_zero_shot_fallback(
    faulty: Faulty, use_async: bool
) -> None:
    healthy = scripted(PLAN)
    model = faulty("huge", healthy=healthy, applies=is_plan)
    pearl = PEARL(model, max_context_tokens=8000, max_plan_attempts=3)
    result = await pearl.ainvoke(DATA) if use_async else pearl.invoke(DATA)
    assert result.fallback_used
    assert result.answer == "zero-shot answer"
    assert model.faults == 3


# -- bad settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "name", "match"),
    [
        ({"timeout": -1}, "retry.timeout", "-1"),
        ({"timeout": float("inf")}, "retry.timeout", "inf"),
        ({"max_attempts": 0}, "retry.max_attempts", "0"),
        ({"max_attempts": "many"}, "retry.max_attempts", "'many'"),
        ({"bogus": 1}, "retry.bogus", "bogus"),
        (5, "retry", "5"),
        ("fast", "retry", "'fast'"),
    ],
)
def test_bad_retry_settings_raise_invalid_parameter_error(
    retry: Any, name: str, match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match) as info:
        PEARL(scripted(PLAN), retry=retry)
    assert info.value.name == name
    pearl = PEARL(scripted(PLAN))
    with pytest.raises(InvalidParameterError, match=match):
        pearl.retry = retry
    assert pearl.retry == RetryPolicy()


def test_retry_policy_itself_raises_invalid_parameter_error() -> None:
    with pytest.raises(InvalidParameterError, match=r"retry\.backoff.*0\.5") as info:
        RetryPolicy(backoff=0.5)
    assert isinstance(info.value, ValueError)
    assert info.value.value == 0.5
