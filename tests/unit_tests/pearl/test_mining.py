"""Action mining and simplification with scripted models."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl import (
    SEED_ACTIONS,
    ActionSet,
    StepExecutionError,
    amine_actions,
    asimplify_actions,
    mine_actions,
    simplify_actions,
)
from langchain_niche.pearl.mining import extract_actions
from langchain_niche.testing import ScriptedCall, ScriptedChatModel

QUESTIONS = [
    "How many times does Critten become a Nilly?",
    "How often does the ship stop at the island?",
    "Which career would Eddie pick?",
    "Why did the author write the article?",
    "How many letters did the narrator send?",
]


def miner(messages: list[BaseMessage], call: ScriptedCall) -> str:
    text = call.text
    if "How many" in text or "How often" in text:
        return """New actions:
- COUNT_X(CTX, X) : Count how many times X happens in the document.

Plan:
1. events = FIND_X(CTX, "the events")
2. n = COUNT_X(CTX, events)"""
    if "career" in text:
        return """My new actions (if any):
- PREDICT_CAREER(CTX, X, Y) : Predict the career of X from their interests Y.
- broken line without parens
- COUNT_X(CTX) : a rarer variant.

My sequence of actions:
1. x = PREDICT_CAREER(CTX, "Eddie", "interests")"""
    return "New actions:\n- None\n\nPlan:\n1. moral = FIND_MORAL(CTX)"


def test_mine_actions_aggregates_new_actions_by_name() -> None:
    model = ScriptedChatModel(responder=miner)
    actions = mine_actions(model, QUESTIONS)
    assert len(model.calls) == len(QUESTIONS)
    assert actions.names[: len(SEED_ACTIONS)] == SEED_ACTIONS.names
    assert actions.names[len(SEED_ACTIONS) :] == ["COUNT_X", "PREDICT_CAREER"]
    assert actions["COUNT_X"].parameters == ("CTX", "X")  # the most common signature wins
    prompt = model.calls[0].text
    assert "FIND_REASON(CTX, X)" in prompt
    assert QUESTIONS[0] in prompt


def test_min_count_filters_rare_actions() -> None:
    actions = mine_actions(ScriptedChatModel(responder=miner), QUESTIONS, min_count=2)
    assert "COUNT_X" in actions
    assert "PREDICT_CAREER" not in actions


def test_mining_runs_concurrently() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(messages: list[BaseMessage], call: ScriptedCall) -> str:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        threading.Event().wait(0.03)
        with lock:
            state["now"] -= 1
        return "New actions:\n- None"

    mine_actions(ScriptedChatModel(responder=slow), QUESTIONS * 2, max_concurrency=4)
    assert state["peak"] == 4


async def test_amine_actions_matches_sync() -> None:
    model = ScriptedChatModel(responder=miner)
    assert await amine_actions(model, QUESTIONS) == mine_actions(
        ScriptedChatModel(responder=miner), QUESTIONS
    )


def test_progress_bar_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    mine_actions(ScriptedChatModel(responder=miner), QUESTIONS, progress=True)
    err = capsys.readouterr().err
    assert "mining actions" in err
    assert "5/5" in err


def test_a_few_failures_warn_all_failures_raise() -> None:
    flaky = ScriptedChatModel(
        responses=[ConnectionError("x"), *[miner([], _call(q)) for q in QUESTIONS[1:]]]
    )
    with pytest.warns(RuntimeWarning, match="1 of 5 mining calls failed"):
        actions = mine_actions(flaky, QUESTIONS, max_concurrency=1)
    assert "COUNT_X" in actions
    broken = ScriptedChatModel(responses=[ConnectionError("down")], cycle=True)
    with pytest.raises(StepExecutionError, match="all 5 mining calls failed"):
        mine_actions(broken, QUESTIONS)


def _call(question: str) -> ScriptedCall:
    return ScriptedCall(index=0, messages=[HumanMessage(content=question)])


def test_bad_questions_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match=r"questions\[1\]"):
        mine_actions(ScriptedChatModel(responder=miner), ["ok?", ""])


def test_extract_actions_skips_malformed_lines() -> None:
    found = extract_actions(
        "- A(CTX) : fine\n- nope\n* B(X, Y) : also fine\nC(X) : not a list item"
    )
    assert [a.name for a in found] == ["A", "B"]


# -- simplification -----------------------------------------------------------------------------

MANY = ActionSet(
    list(SEED_ACTIONS)
    + [f"FIND_THING_{i}(CTX, X) : Find thing number {i} about X." for i in range(30)]
)


def merger(messages: list[BaseMessage], call: ScriptedCall) -> str:
    text = call.text
    target = int(re.search(r"at most (\d+) actions", text).group(1))  # type: ignore[union-attr]
    names = re.findall(r"- (\w+)\(", text.split("[Actions]")[1])
    return "\n".join(
        f"- MERGED_{names[0]}_{i}(CTX, X) : Merged things about X." for i in range(target)
    )


def test_simplify_actions_merges_in_shards_and_keeps_seeds() -> None:
    model = ScriptedChatModel(responder=merger)
    simplified = simplify_actions(model, MANY, max_actions=15, shard_size=10)
    assert len(simplified) <= 15
    assert simplified.names[:7] == SEED_ACTIONS.names
    assert len(model.calls) == 3  # one round: 30 candidates / 10 per shard
    assert all(n.startswith("MERGED_") for n in simplified.names[7:])


async def test_asimplify_actions_matches_sync() -> None:
    sync = simplify_actions(
        ScriptedChatModel(responder=merger), MANY, max_actions=15, shard_size=10
    )
    assert (
        await asimplify_actions(
            ScriptedChatModel(responder=merger), MANY, max_actions=15, shard_size=10
        )
        == sync
    )


def test_unusable_replies_keep_the_shard_and_warn() -> None:
    model = ScriptedChatModel(responses=["I cannot do that."], cycle=True)
    with pytest.warns(RuntimeWarning, match="stopped at 37 actions"):
        simplified = simplify_actions(model, MANY, max_actions=10, shard_size=10)
    assert simplified == MANY  # nothing lost


def test_small_sets_need_no_calls() -> None:
    model = ScriptedChatModel(responses=[])
    assert simplify_actions(model, SEED_ACTIONS, max_actions=10) == SEED_ACTIONS
    assert model.calls == []


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"max_actions": 0}, "max_actions"), ({"shard_size": 1}, "shard_size")]
)
def test_simplify_checks_its_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        simplify_actions(ScriptedChatModel(responses=[]), MANY, **kwargs)


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"max_actions": 0}, "max_actions"),
        ({"max_actions": True}, "max_actions"),
        ({"shard_size": 1}, "shard_size"),
        ({"shard_size": True}, "shard_size"),
    ],
)
def test_simplify_actions_names_a_bad_setting(settings: dict[str, Any], name: str) -> None:
    # a bool is not a count (True passed the old check for max_actions)
    with pytest.raises(InvalidParameterError, match=f"{name} must be an integer") as info:
        simplify_actions(ScriptedChatModel(responses=[]), MANY, **settings)
    assert info.value.name == name
