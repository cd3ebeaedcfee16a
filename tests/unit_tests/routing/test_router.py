"""TeacherStudentRouter with scripted models: routing, learning, fallbacks, run tree, LCEL."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import threading
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import BaseModel

from langchain_niche import (
    AgreementPolicy,
    AnswerFormatError,
    HybridExampleSelector,
    InvalidExampleError,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    MissingKeyError,
    SimilarityPolicy,
    TeacherError,
    TeacherStudentRouter,
)
from langchain_niche.testing import ScriptedChatModel

STORED = [
    {"q": "refund my order please", "output": "billing"},
    {"q": "refund my order now", "output": "Billing."},
    {"q": "refund my order today", "output": "billing"},
    {"q": "reset my password", "output": "account"},
    {"q": "reset my password now", "output": "security"},
    {"q": "reset my password today", "output": "account"},
]


class Teacher:
    """A scripted teacher: the label is the first word, upper-cased; it records calls."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, x: dict[str, Any]) -> str:
        with self._lock:
            self.calls.append(x)
        if self.fail_on is not None and self.fail_on in x["q"]:
            raise ConnectionError("teacher unreachable")
        return x["q"].split()[0].upper()


def majority_student(x: dict[str, Any]) -> str:
    answers = [e["output"] for e in x["examples"]]
    return max(answers, key=answers.count)


def make(examples: list[dict[str, Any]] | None = None, **kwargs: Any) -> TeacherStudentRouter:
    selector = JaccardExampleSelector(
        examples=list(STORED if examples is None else examples), k=3, input_keys=["q"]
    )
    options: dict[str, Any] = {
        "teacher": RunnableLambda(Teacher()),
        "student": RunnableLambda(majority_student),
        "selector": selector,
    }
    options.update(kwargs)
    return TeacherStudentRouter(**options)


# -- routing -------------------------------------------------------------------------------
def test_agreement_routes_to_the_student_only_when_the_best_answers_agree() -> None:
    router = make()
    # the three "refund" examples agree after normalisation ("Billing." == "billing")
    assert router.decide({"q": "refund my order"}).route == "student"
    # the "reset" examples disagree (account, security, account)
    assert router.decide({"q": "reset my password"}).route == "teacher"
    assert router.invoke({"q": "refund my order"}) in {"billing", "Billing."}
    assert router.invoke({"q": "reset my password"}) == "RESET"
    stats = router.stats
    assert (stats.student.calls, stats.teacher.calls, stats.calls) == (1, 1, 2)


def test_agreement_needs_enough_examples_above_min_score() -> None:
    router = make(route=AgreementPolicy(min_examples=3, min_score=0.9))
    assert router.decide({"q": "refund my order"}).route == "teacher"  # scores are 0.75
    router = make(route=AgreementPolicy(min_examples=4))
    assert router.decide({"q": "refund my order"}).route == "teacher"  # only k=3 retrieved


def test_agree_function_is_pluggable() -> None:
    router = make(route=AgreementPolicy(agree=lambda a, b: a == b))  # no normalisation
    assert router.decide({"q": "refund my order"}).route == "teacher"  # "Billing." != "billing"
    router = make(agree=lambda a, b: a == b)  # the same, on the router
    assert router.decide({"q": "refund my order"}).route == "teacher"
    assert make(agree=lambda a, b: True).decide({"q": "reset my password"}).route == "student"


def test_similarity_policy_thresholds_the_best_score() -> None:
    router = make(route=SimilarityPolicy(min_score=0.7))
    assert router.decide({"q": "reset my password"}).route == "student"  # exact match: 1.0
    assert router.decide({"q": "my unrelated question"}).route == "teacher"  # 'my' only: 0.2


def test_callable_route_receives_select_examples_with_scores() -> None:
    seen: list[Any] = []

    def route(scored: list[tuple[dict[str, Any], float]]) -> str:
        seen.append(scored)
        return "student" if scored and scored[0][1] == 1.0 else "teacher"

    router = make(route=route)
    assert router.invoke({"q": "reset my password"}) == "account"
    selector = router.selector
    assert seen[0] == selector.select_examples_with_scores({"q": "reset my password"})


def test_callable_route_must_answer_student_or_teacher() -> None:
    router = make(route=lambda scored: "both")
    with pytest.raises(InvalidParameterError, match="'both'"):
        router.invoke({"q": "reset my password"})


def test_the_student_gets_the_input_and_the_examples() -> None:
    received: list[dict[str, Any]] = []

    def student(x: dict[str, Any]) -> str:
        received.append(x)
        return "billing"

    router = make(student=RunnableLambda(student), max_examples=2)
    router.invoke({"q": "refund my order", "extra": "kept"})
    assert received[0]["q"] == "refund my order"
    assert received[0]["extra"] == "kept"
    assert [e["q"] for e in received[0]["examples"]] == [
        "refund my order please",
        "refund my order now",
    ]


# -- learning ------------------------------------------------------------------------------
def test_teacher_answers_become_examples_and_later_go_to_the_student() -> None:
    teacher = Teacher()
    router = make([], teacher=RunnableLambda(teacher), route=SimilarityPolicy(min_score=0.5))
    assert router.invoke({"q": "alpha beta gamma"}) == "ALPHA"
    assert router.selector.examples == [{"q": "alpha beta gamma", "output": "ALPHA"}]
    assert router.invoke({"q": "alpha beta gamma delta"}) == "ALPHA"  # 0.75: the student
    assert len(teacher.calls) == 1
    assert router.stats.learned == 1


def test_identical_inputs_are_not_stored_twice() -> None:
    router = make([], route=AgreementPolicy(min_examples=2))  # one example never suffices
    for _ in range(3):
        router.invoke({"q": "same input"})
    assert len(router.selector) == 1
    assert router.stats.duplicates_skipped == 2


def test_identical_inputs_are_not_stored_twice_under_threads() -> None:
    router = make([], route=AgreementPolicy(min_examples=2))
    router.batch([{"q": "same input"}] * 40, config={"max_concurrency": 8})
    assert len(router.selector) == 1
    stats = router.stats
    assert stats.calls == 40
    assert stats.learned + stats.duplicates_skipped == 40


async def test_identical_inputs_are_not_stored_twice_under_asyncio() -> None:
    router = make([], route=AgreementPolicy(min_examples=2))
    await asyncio.gather(*(router.ainvoke({"q": "same input"}) for _ in range(20)))
    assert len(router.selector) == 1
    assert router.stats.calls == 20


def test_accept_gates_what_is_learned() -> None:
    seen: list[tuple[dict[str, Any], str]] = []

    def accept(inputs: dict[str, Any], answer: str) -> bool:
        seen.append((inputs, answer))
        return answer != "BAD"

    router = make([], accept=accept)
    router.invoke({"q": "bad input"})
    router.invoke({"q": "good input"})
    assert router.selector.examples == [{"q": "good input", "output": "GOOD"}]
    assert seen[0] == ({"q": "bad input"}, "BAD")
    assert router.stats.rejected == 1


def test_learn_false_stores_nothing() -> None:
    router = make([], learn=False)
    router.invoke({"q": "anything"})
    assert len(router.selector) == 0


def test_only_compared_fields_are_stored() -> None:
    router = make([], input_keys=["q"])
    router.invoke({"q": "hello world", "session": "abc"})
    assert router.selector.examples == [{"q": "hello world", "output": "HELLO"}]


# -- bad input -----------------------------------------------------------------------------
def test_a_failing_student_falls_back_to_the_teacher() -> None:
    def student(x: dict[str, Any]) -> str:
        raise TimeoutError("student down")

    router = make(student=RunnableLambda(student))
    assert router.invoke({"q": "refund my order"}) == "REFUND"
    stats = router.stats
    assert (stats.student_failures, stats.teacher.calls, stats.student.calls) == (1, 1, 0)


def test_a_failing_teacher_raises_a_typed_error_naming_the_input_and_stores_nothing() -> None:
    router = make([], teacher=RunnableLambda(Teacher(fail_on="broken")))
    with pytest.raises(TeacherError, match="broken input") as info:
        router.invoke({"q": "broken input"})
    assert info.value.input == {"q": "broken input"}
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(router.selector) == 0
    assert router.stats.teacher_failures == 1


async def test_a_failing_teacher_raises_the_typed_error_async() -> None:
    router = make([], teacher=RunnableLambda(Teacher(fail_on="broken")))
    with pytest.raises(TeacherError, match="broken input"):
        await router.ainvoke({"q": "broken input"})
    assert len(router.selector) == 0


class Ticket(BaseModel):
    label: str
    priority: int


@pytest.mark.parametrize(
    ("output", "stored"),
    [
        ({"label": "x", "n": 1}, '{"label": "x", "n": 1}'),
        (Ticket(label="x", priority=2), '{"label": "x", "priority": 2}'),
        ([1, 2], "[1, 2]"),
        (AIMessage(content="text answer"), "text answer"),
    ],
)
def test_non_text_teacher_outputs_are_stored_as_json(output: Any, stored: str) -> None:
    router = make([], teacher=RunnableLambda(lambda x: output))
    assert router.invoke({"q": "anything"}) == stored
    assert router.selector.examples[0]["output"] == stored
    if stored.startswith(("{", "[")):
        json.loads(stored)


@pytest.mark.parametrize("output", [None, {"when": object()}, float("nan")])
def test_unstorable_teacher_outputs_raise_answer_format_error(output: Any) -> None:
    router = make([], teacher=RunnableLambda(lambda x: output))
    with pytest.raises(AnswerFormatError, match="anything"):
        router.invoke({"q": "anything"})
    assert len(router.selector) == 0


def test_non_text_reject_refuses_non_text_outputs() -> None:
    router = make([], teacher=RunnableLambda(lambda x: {"label": "x"}), non_text="reject")
    with pytest.raises(AnswerFormatError, match="not text") as info:
        router.invoke({"q": "anything"})
    assert info.value.route == "teacher"
    assert len(router.selector) == 0


def test_a_non_text_student_answer_falls_back_to_the_teacher_with_reject() -> None:
    router = make(student=RunnableLambda(lambda x: {"a": 1}), non_text="reject")
    assert router.invoke({"q": "refund my order"}) == "REFUND"
    assert router.stats.student_failures == 1


def test_a_selector_whose_examples_lack_output_key_is_rejected_at_construction() -> None:
    selector = JaccardExampleSelector(examples=[{"q": "a", "answer": "x"}], input_keys=["q"])
    with pytest.raises(MissingKeyError, match="'output'"):
        TeacherStudentRouter(teacher=Teacher(), student=majority_student, selector=selector)
    # the same store with the right output_key is fine
    TeacherStudentRouter(
        teacher=Teacher(), student=majority_student, selector=selector, output_key="answer"
    )


def test_a_selector_that_drops_output_key_is_rejected() -> None:
    selector = JaccardExampleSelector(input_keys=["q"], example_keys=["q"])
    with pytest.raises(InvalidParameterError, match="example_keys"):
        TeacherStudentRouter(teacher=Teacher(), student=majority_student, selector=selector)
    selector = JaccardExampleSelector(input_keys=["q", "output"])
    with pytest.raises(InvalidParameterError, match="compares output_key"):
        TeacherStudentRouter(teacher=Teacher(), student=majority_student, selector=selector)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"selector": object()}, "selector"),
        ({"route": "cheapest"}, "route"),
        ({"route": 3}, "route"),
        ({"prices": {"gpt": (1.0,)}}, "prices"),
        ({"prices": {"gpt": (-1.0, 1.0)}}, "prices"),
        ({"prices": [("gpt", 1, 2)]}, "prices"),
        ({"non_text": "pickle"}, "non_text"),
        ({"input_keys": ["q", "output"]}, "input_keys"),
        ({"input_keys": "q"}, "input_keys"),
        ({"output_key": ""}, "output_key"),
        ({"accept": "yes"}, "accept"),
        ({"teacher": 42}, "teacher"),
        ({"max_examples": -1}, "max_examples"),
        ({"agree": "exact"}, "agree"),
        ({"agree": lambda a, b: True, "route": "similarity"}, "agree"),
    ],
)
def test_bad_settings_raise_typed_errors_naming_the_parameter(
    kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        make(**kwargs)
    assert info.value.name == name


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"min_examples": 0}, "min_examples"), ({"min_score": -0.1}, "min_score")],
)
def test_bad_policy_settings_raise_typed_errors(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AgreementPolicy(**kwargs)
    assert info.value.name == name
    policy = AgreementPolicy()
    with pytest.raises(InvalidParameterError):
        setattr(policy, name, kwargs[name])


def test_bad_inputs_raise_typed_errors() -> None:
    router = make(input_keys=["q"])
    with pytest.raises(InvalidExampleError):
        router.invoke("not a dict")  # type: ignore[arg-type]
    with pytest.raises(MissingKeyError, match="'q'"):
        router.invoke({"question": "x"})


# -- chat-model student ----------------------------------------------------------------------
def test_a_chat_model_student_gets_a_few_shot_chat_prompt() -> None:
    student = ScriptedChatModel(responses=["billing"])
    router = make(student=student)
    assert router.invoke({"q": "refund my order"}) == "billing"
    messages = student.calls[0].messages
    assert [m.type for m in messages] == [
        "system",
        "human",
        "ai",
        "human",
        "ai",
        "human",
        "ai",
        "human",
    ]
    assert messages[1].content == "refund my order please"
    assert messages[2].content == "billing"
    assert messages[-1].content == "refund my order"


def test_the_student_prompt_is_overridable() -> None:
    student = ScriptedChatModel(responses=["billing"])
    prompt = ChatPromptTemplate.from_messages([("human", "{n} examples. Q: {q}")]).partial(n="some")
    router = make(student=student, student_prompt=prompt)
    router.invoke({"q": "refund my order"})
    assert student.calls[0].text == "Human: some examples. Q: refund my order"


# -- run tree, config, LCEL -------------------------------------------------------------------
def _walk(run: Any) -> list[Any]:
    out = [run]
    for child in run.child_runs:
        out.extend(_walk(child))
    return out


@pytest.mark.parametrize("route", ["student", "teacher"])
def test_the_route_is_visible_in_the_run_tree(route: str) -> None:
    collector = RunCollectorCallbackHandler()
    router = make(student=ScriptedChatModel(responses=["billing"]))
    question = "refund my order" if route == "student" else "reset my password"
    router.invoke(
        {"q": question}, {"callbacks": [collector], "tags": ["mine"], "metadata": {"user": "u1"}}
    )
    root = collector.traced_runs[0]
    assert root.name == "TeacherStudentRouter"
    names = [child.name for child in root.child_runs]
    assert names == ["route", route]
    decision = root.child_runs[0]
    assert decision.outputs["route"] == route
    chosen = root.child_runs[1]
    assert f"route:{route}" in chosen.tags
    assert "mine" in chosen.tags
    assert chosen.extra["metadata"]["route"] == route
    assert chosen.extra["metadata"]["user"] == "u1"
    if route == "student":  # the chat model run is inside, with the caller's config
        llm_runs = [r for r in _walk(root) if r.run_type == "llm"]
        assert llm_runs
        assert "mine" in llm_runs[0].tags


async def test_async_run_tree_and_astream_events() -> None:
    router = make()
    events = [e async for e in router.astream_events({"q": "refund my order"}, version="v2")]
    starts = [e["name"] for e in events if e["event"] == "on_chain_start"]
    assert starts[:3] == ["TeacherStudentRouter", "route", "student"]
    assert events[-1]["event"] == "on_chain_end"


def test_composes_in_lcel_with_stream_and_batch() -> None:
    router = make()
    chain = RunnableLambda(lambda text: {"q": text}) | router | RunnableLambda(str.upper)
    assert chain.invoke("refund my order") == "BILLING"
    assert list(chain.stream("refund my order")) == ["BILLING"]
    assert chain.batch(["refund my order", "reset my password"]) == ["BILLING", "RESET"]
    assert list(router.stream({"q": "refund my order"})) in (["billing"], ["Billing."])


async def test_composes_in_lcel_async() -> None:
    router = make()
    chain = RunnableLambda(lambda text: {"q": text}) | router
    assert (await chain.ainvoke("reset my password")) == "RESET"
    chunks = [c async for c in chain.astream("reset my password")]
    assert chunks == ["RESET"]
    assert await chain.abatch(["reset my password"] * 3) == ["RESET"] * 3


# -- other selectors ---------------------------------------------------------------------------
def test_works_over_a_minhash_store() -> None:
    selector = MinHashExampleSelector(examples=STORED, k=3, input_keys=["q"])
    router = make(selector=selector)
    assert router.decide({"q": "refund my order please"}).route == "student"
    router.invoke({"q": "something new entirely"})
    assert len(selector) == len(STORED) + 1


def test_works_over_a_hybrid_store() -> None:
    selector = HybridExampleSelector.from_examples(
        STORED,
        DeterministicFakeEmbedding(size=16),
        InMemoryVectorStore,
        input_keys=["q"],
        k=3,
    )
    router = make(selector=selector, route=SimilarityPolicy(min_score=0.99))
    assert router.invoke({"q": "something new entirely"}) == "SOMETHING"
    assert len(selector) == len(STORED) + 1


def test_a_hybrid_store_lacking_output_key_is_rejected() -> None:
    selector = HybridExampleSelector.from_examples(
        [{"q": "a b", "label": "x"}],
        DeterministicFakeEmbedding(size=16),
        InMemoryVectorStore,
        input_keys=["q"],
    )
    with pytest.raises(MissingKeyError, match="'output'"):
        make(selector=selector)


# -- copy and pickle (LangChain's contract, issue 11) ---------------------------------------------
def upper_first_word(x: dict[str, Any]) -> str:
    return x["q"].split()[0].upper()


@pytest.mark.parametrize(
    "clone", [copy.deepcopy, lambda r: pickle.loads(pickle.dumps(r))], ids=["deepcopy", "pickle"]
)
def test_a_router_copies_and_pickles_into_an_independent_router(clone: Any) -> None:
    router = TeacherStudentRouter(
        teacher=RunnableLambda(upper_first_word),
        student=FakeListChatModel(responses=["billing"]),
        selector=JaccardExampleSelector(examples=STORED, k=3, input_keys=["q"]),
        route=SimilarityPolicy(min_score=0.9),
    )
    router.invoke({"q": "brand new question"})  # teacher, learned
    copied = clone(router)
    assert copied.stats == router.stats
    assert copied.selector.examples == router.selector.examples
    assert copied.decide({"q": "refund my order"}) == router.decide({"q": "refund my order"})
    copied.invoke({"q": "another new question"})  # learned by the copy only
    assert len(copied.selector) == len(router.selector) + 1
    assert copied.stats.calls == router.stats.calls + 1
    assert copied.invoke({"q": "brand new question"}) == "billing"  # the copy's student
    assert router.stats.calls == 1


def test_with_fallbacks_streams_the_fallback_when_the_teacher_fails() -> None:
    router = make([], teacher=RunnableLambda(Teacher(fail_on="broken")))
    guarded = router.with_fallbacks(
        [RunnableLambda(lambda x: "fallback answer")], exceptions_to_handle=(TeacherError,)
    )
    assert list(guarded.stream({"q": "broken input"})) == ["fallback answer"]
    assert guarded.invoke({"q": "fine input"}) == "FINE"
