"""Usage and cost accounting per route; answer normalisation; policy signals."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_niche import (
    AgreementPolicy,
    InvalidParameterError,
    JaccardExampleSelector,
    MissingKeyError,
    SimilarityPolicy,
    TeacherStudentRouter,
)
from langchain_niche.routing import exact_match, normalize_answer
from langchain_niche.routing.answers import answer_text
from langchain_niche.routing.costs import check_prices, price_for
from langchain_niche.testing import ScriptedChatModel

STORED = [{"q": f"refund my order {i}", "output": "billing"} for i in range(3)]


def priced_router(
    **kwargs: Any,
) -> tuple[TeacherStudentRouter, ScriptedChatModel, ScriptedChatModel]:
    teacher_model = ScriptedChatModel(
        responder=lambda m, c: AIMessage(
            content="TEACHER",
            usage_metadata={"input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100},
        ),
        model_name="gpt-4o-2024-08-06",
    )
    student_model = ScriptedChatModel(
        responder=lambda m, c: AIMessage(
            content="billing",
            usage_metadata={"input_tokens": 2000, "output_tokens": 10, "total_tokens": 2010},
        ),
        model_name="gpt-4o-mini",
    )
    teacher = ChatPromptTemplate.from_messages([("human", "{q}")]) | teacher_model
    options: dict[str, Any] = {
        "teacher": teacher,
        "student": student_model,
        "selector": JaccardExampleSelector(examples=STORED, k=3, input_keys=["q"]),
        "prices": {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": {"input": 0.15, "output": 0.6}},
        "learn": False,
    }
    options.update(kwargs)
    return TeacherStudentRouter(**options), teacher_model, student_model


def test_cost_per_route_from_usage_metadata_and_prices() -> None:
    router, _, _ = priced_router()
    router.invoke({"q": "refund my order"})  # student: the three examples agree
    router.invoke({"q": "where is the parcel"})  # teacher
    stats = router.stats
    assert stats.student.calls == 1
    assert (stats.student.input_tokens, stats.student.output_tokens) == (2000, 10)
    assert stats.student.cost == pytest.approx(2 * 0.15 + 0.01 * 0.6)  # exact model name
    assert stats.teacher.cost == pytest.approx(1 * 2.5 + 0.1 * 10.0)  # longest prefix "gpt-4o"
    assert stats.cost == pytest.approx(stats.student.cost + stats.teacher.cost)
    assert stats.all_teacher_cost == pytest.approx(2 * 3.5)
    assert stats.savings == pytest.approx(1 - stats.cost / 7.0)
    assert stats.teacher_share == 0.5


def test_unpriced_models_are_listed_not_guessed() -> None:
    router, _, _ = priced_router(prices={"gpt-4o-mini": (0.15, 0.6)})
    router.invoke({"q": "where is the parcel"})
    stats = router.stats
    assert stats.teacher.cost == 0.0
    assert stats.teacher.unpriced_models == ("gpt-4o-2024-08-06",)
    assert stats.teacher.input_tokens == 1000


def test_route_names_price_models_without_a_matching_name() -> None:
    router, _, _ = priced_router(prices={"teacher": (1.0, 1.0), "student": (0.0, 0.0)})
    router.invoke({"q": "where is the parcel"})
    assert router.stats.teacher.cost == pytest.approx(1.1)


def test_usage_of_a_runnable_returning_a_message_is_counted() -> None:
    message = AIMessage(
        content="X",
        usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
        response_metadata={"model_name": "big"},
    )
    router = TeacherStudentRouter(
        teacher=RunnableLambda(lambda x: message),
        student=RunnableLambda(lambda x: "s"),
        selector=JaccardExampleSelector(input_keys=["q"]),
        prices={"big": (1.0, 2.0)},
    )
    router.invoke({"q": "hello"})
    assert router.stats.teacher.cost == pytest.approx(0.02)


def test_all_teacher_cost_is_unknown_before_a_teacher_call() -> None:
    router, _, _ = priced_router()
    router.invoke({"q": "refund my order"})
    assert router.stats.all_teacher_cost is None
    assert router.stats.savings is None
    router.reset_stats()
    assert router.stats.calls == 0


def test_stats_are_exact_under_threads_and_asyncio() -> None:
    router, teacher, student = priced_router()
    inputs = [{"q": "refund my order"}, {"q": "where is the parcel"}] * 50
    router.batch(inputs, config={"max_concurrency": 8})

    async def run() -> None:
        await asyncio.gather(*(router.ainvoke(x) for x in inputs))

    asyncio.run(run())
    stats = router.stats
    assert stats.calls == 200
    assert stats.student.calls == stats.teacher.calls == 100
    assert stats.teacher.input_tokens == 100 * 1000
    assert stats.student.output_tokens == 100 * 10
    assert len(teacher.calls) == len(student.calls) == 100


@pytest.mark.parametrize(
    "prices",
    [
        {"m": (1.0, math.nan)},
        {"m": (1.0, math.inf)},
        {"m": {"input": 1.0}},
        {"m": (True, 1.0)},
        {3: (1, 1)},
    ],
)
def test_bad_price_tables_are_rejected(prices: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_prices(prices)
    assert info.value.name == "prices"


def test_price_lookup_prefers_exact_then_longest_prefix_then_route() -> None:
    table = check_prices({"gpt-4o": (1, 1), "gpt-4o-mini": (2, 2), "teacher": (3, 3)})
    assert price_for(table, "gpt-4o-mini", "teacher") == (2.0, 2.0)
    assert price_for(table, "gpt-4o-mini-2024", "teacher") == (2.0, 2.0)
    assert price_for(table, "gpt-4o-2024", "teacher") == (1.0, 1.0)
    assert price_for(table, "claude", "teacher") == (3.0, 3.0)
    assert price_for(table, None, "student") is None


# -- normalisation and policies -----------------------------------------------------------------
@given(st.text())
def test_normalize_answer_is_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once


@given(st.text(), st.text())
def test_exact_match_is_symmetric_and_reflexive(a: str, b: str) -> None:
    assert exact_match(a, a)
    assert exact_match(a, b) == exact_match(b, a)


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1))
def test_case_spacing_and_edge_punctuation_do_not_matter(word: str) -> None:
    # upper() is not inverted by casefold() for every letter (Turkish dotless i), casefold() is
    assert exact_match(word.casefold(), f"  {word}. ")
    assert exact_match(word, f'"{word.casefold()}"')
    assert exact_match(word, f"({word})!")


def test_inner_punctuation_matters() -> None:
    assert not exact_match("os.path", "os path")
    assert normalize_answer("  Paris,  France. ") == "paris, france"


def ex(answer: str) -> dict[str, str]:
    return {"q": "x", "output": answer}


def test_agreement_signal_is_the_lowest_score_of_agreeing_examples() -> None:
    scored = [(ex("A"), 0.9), (ex("a"), 0.6), (ex("B"), 0.5)]
    policy = AgreementPolicy()
    assert policy.signal(scored, "output", 1) == 0.9
    assert policy.signal(scored, "output", 2) == 0.6
    assert policy.signal(scored, "output", 3) == -math.inf  # B disagrees
    assert policy.signal(scored, "output", 4) == -math.inf  # too few
    assert policy.signal([], "output", 1) == -math.inf
    decision = AgreementPolicy(min_examples=2, min_score=0.6).decide(scored, "output")
    assert decision.route == "student"
    assert decision.scores == (0.9, 0.6, 0.5)
    assert (
        AgreementPolicy(min_examples=2, min_score=0.61).decide(scored, "output").route == "teacher"
    )


def test_similarity_signal_is_the_best_score() -> None:
    assert SimilarityPolicy().signal([(ex("A"), 0.4)], "output") == 0.4
    assert SimilarityPolicy().signal([], "output") == -math.inf
    assert (
        SimilarityPolicy(min_score=math.inf).decide([(ex("A"), 1.0)], "output").route == "teacher"
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), json_values, max_size=5) | st.lists(json_values, max_size=5))
def test_non_text_answers_round_trip_through_json(value: Any) -> None:
    text = answer_text(value, route="teacher", non_text="json")
    assert json.loads(text) == value
    assert (
        answer_text(value, route="teacher", non_text="json") == text
    )  # deterministic (sorted keys)


@given(st.text())
def test_text_answers_are_kept_as_they_are(text: str) -> None:
    assert answer_text(text, route="teacher", non_text="reject") == text
    assert answer_text(AIMessage(content=text), route="student", non_text="reject") == text


def test_a_policy_given_examples_without_the_answer_field_raises_a_typed_error() -> None:
    with pytest.raises(MissingKeyError, match="'output'"):
        AgreementPolicy(min_examples=2).decide([({"q": "a"}, 0.9), ({"q": "b"}, 0.8)], "output")
