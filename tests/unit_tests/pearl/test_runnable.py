"""PEARL end to end with scripted models: planning, self-correction, steps, answers."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.runnables import RunnableLambda

from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
)
from langchain_niche.pearl import (
    DEFAULT_DEMONSTRATIONS,
    PEARL,
    Demonstration,
    PEARLResult,
    Usage,
)
from langchain_niche.testing import ScriptedChatModel

from .script import PearlScript, calls_of, prompt_kind, scripted, step_calls

PLAN = """New actions:
- None

1. mayor = FIND_CHARACTER(CTX, "the mayor") : who the mayor is
2. reasons = FIND_REASON(CTX, "why the mayor, a lawyer, resigned") : find the stated reasons
3. both = CONCAT(mayor, reasons) : combine
4. view = COMPARE(mayor, "a typical mayor") : how he differs
5. tone = FIND_TONE(CTX)
"""
DOC = "The mayor, a lawyer named Ada Stone, resigned in May.\n\nShe cited the budget."
QUESTION = "Why did the mayor resign?"


def run(model: ScriptedChatModel, **kwargs: Any) -> PEARLResult:
    return PEARL(model, **kwargs).invoke({"question": QUESTION, "document": DOC})


def test_one_call_per_model_step_and_concat_runs_locally() -> None:
    model = scripted(PLAN)
    result = run(model)
    assert len(calls_of(model, "plan")) == 1
    assert sorted(prompt_kind(c.messages)[1] for c in calls_of(model, "step")) == [
        "mayor",
        "reasons",
        "tone",
        "view",
    ]
    both = result.steps[2]
    assert both.local
    assert both.output == "<mayor>\n<reasons>"
    assert both.usage == Usage()
    assert result.usage.model_calls == len(model.calls) == 5
    assert not result.fallback_used
    assert result.plan is not None
    assert result.plan_text == PLAN


def test_answer_is_the_unconsumed_outputs_in_plan_order() -> None:
    result = run(scripted(PLAN))
    # mayor and reasons are consumed; both, view and tone are not.
    assert result.open_answer == "<mayor>\n<reasons>\n\n<view>\n\n<tone>"
    assert result.answer == result.open_answer
    assert [s.variable for s in result.steps] == ["mayor", "reasons", "both", "view", "tone"]


def test_step_prompt_has_definition_arguments_description_question_and_document_only_with_ctx() -> (
    None
):
    model = scripted(PLAN, step=lambda v, _: f"output of {v}: Ada, 52")
    run(model)
    [reasons] = step_calls(model, "reasons")
    text = reasons.text
    assert "FIND_REASON(CTX, X) : Explain, from the document, what caused X" in text
    assert "X = why the mayor, a lawyer, resigned" in text
    assert "[Step description]\nfind the stated reasons" in text
    assert f"[Original question]\n{QUESTION}" in text
    assert DOC in text
    [view] = step_calls(model, "view")
    assert DOC not in view.text  # COMPARE does not take CTX
    assert "output of mayor: Ada, 52" in view.text  # earlier output substituted
    assert "Y = a typical mayor" in view.text
    [tone] = step_calls(model, "tone")
    assert "[Step description]" not in tone.text  # no description written


def test_planning_prompt_has_similar_demonstrations_and_no_document() -> None:
    model = scripted(PLAN)
    question = "How many times does the narrator visit the lighthouse?"
    PEARL(model, num_demonstrations=2).invoke({"question": question, "document": DOC})
    [plan_call] = calls_of(model, "plan")
    text = plan_call.text
    assert DOC not in text
    assert "Question: How many times does the narrator visit the old lighthouse?" in text
    assert text.count("Question: ") == 2
    assert "FIND_REASON(CTX, X)" in text  # the action list
    assert text.rstrip().endswith("Plan:")


def test_demonstrations_are_topped_up_when_none_shares_a_word() -> None:
    pearl = PEARL(scripted(PLAN), num_demonstrations=3)
    shown = pearl.select_demonstrations("zzz qqq")
    assert [q for q, _ in shown] == [d.question for d in DEFAULT_DEMONSTRATIONS[:3]]
    assert PEARL(scripted(PLAN), num_demonstrations=0).select_demonstrations("why") == []
    assert PEARL(scripted(PLAN), demonstrations=[]).select_demonstrations("why") == []


def test_custom_demonstration_selector_is_used() -> None:
    class Fixed(BaseExampleSelector):
        def add_example(self, example: dict[str, str]) -> Any:
            return None

        def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, str]]:
            return [{"question": "Q-custom", "plan": "1. a = SUMMARIZE(CTX)"}]

    model = scripted(PLAN)
    result = PEARL(model, demonstration_selector=Fixed(), num_demonstrations=1).invoke(
        {"question": QUESTION, "document": DOC}
    )
    assert result.demonstrations == ["Q-custom"]
    assert "Question: Q-custom" in calls_of(model, "plan")[0].text


def test_self_correction_sends_back_the_error_and_all_earlier_errors() -> None:
    model = scripted(["1. a = FIND_ZZZ(CTX)", '1. a = FIND_X(CTX)\n2. b = FIND_X(CTX, "x")', PLAN])
    result = run(model)
    plans = calls_of(model, "plan")
    assert len(plans) == 3
    assert [a.error is None for a in result.plan_attempts] == [False, False, True]
    assert result.plan_attempts[0].line == 1
    assert "unknown action FIND_ZZZ" in (result.plan_attempts[0].error or "")
    third = plans[2].text
    assert "This plan is invalid: line 1: FIND_X(CTX, X) takes exactly 2 arguments" in third
    assert "attempt 1: line 1: unknown action FIND_ZZZ" in third
    assert "AI: 1. a = FIND_X(CTX)" in third  # the invalid plan goes back as the model's turn
    assert result.usage.model_calls == 3 + 4


def test_garbage_forever_ends_in_the_zero_shot_fallback() -> None:
    model = scripted("I'd rather not plan.")
    result = run(model)
    assert len(calls_of(model, "plan")) == 8
    assert len(calls_of(model, "fallback")) == 1
    assert result.fallback_used
    assert result.answer == "zero-shot answer"
    assert result.plan is None
    assert result.steps == []
    assert len(result.plan_attempts) == 8
    fallback_prompt = calls_of(model, "fallback")[0].text
    assert DOC in fallback_prompt
    assert QUESTION in fallback_prompt


def test_max_plan_attempts_is_configurable() -> None:
    model = scripted("nope")
    assert run(model, max_plan_attempts=2).fallback_used
    assert len(calls_of(model, "plan")) == 2


def test_options_are_mapped_to_a_letter() -> None:
    model = scripted(PLAN, option="The answer is (C).")
    result = PEARL(model).invoke(
        {"question": QUESTION, "document": DOC, "options": ["money", "health", "budget", "age"]}
    )
    assert result.option_index == 2
    assert result.option_label == "C"
    assert result.answer == "budget"
    assert result.open_answer.startswith("<mayor>")
    prompt = calls_of(model, "options")[0].text
    assert "A. money\nB. health\nC. budget\nD. age" in prompt
    assert "money" not in calls_of(model, "plan")[0].text  # the paper plans from the question alone


def test_plan_with_options_shows_the_options_to_the_planner() -> None:
    model = scripted(PLAN, option="C")
    PEARL(model, plan_with_options=True).invoke(
        {"question": QUESTION, "document": DOC, "options": ["money", "health", "budget", "age"]}
    )
    assert "A. money\nB. health" in calls_of(model, "plan")[0].text


def test_option_reply_without_letter_falls_back_to_text_then_similarity() -> None:
    options = ["the budget crisis", "her health"]
    by_text = PEARL(scripted(PLAN, option="I think her health.")).invoke(
        {"question": QUESTION, "document": DOC, "options": options}
    )
    assert by_text.option_index == 1
    assert any("chosen by text" in n for n in by_text.notes)
    by_words = PEARL(scripted(PLAN, option="a crisis of budgets and the budget")).invoke(
        {"question": QUESTION, "document": DOC, "options": options}
    )
    assert by_words.option_index == 0
    assert any("similarity" in n for n in by_words.notes)


def test_synthesis_adds_one_call_and_keeps_the_open_answer() -> None:
    model = scripted(PLAN)
    result = run(model, synthesize_answer=True)
    assert result.answer == "synthesized answer"
    assert result.open_answer.startswith("<mayor>")
    [call] = calls_of(model, "synthesis")
    assert "<mayor>" in call.text
    assert DOC not in call.text


def test_separate_planner_model_writes_the_plans() -> None:
    planner = scripted(PLAN)
    executor = scripted("unused")
    PEARL(executor, planner=planner).invoke({"question": QUESTION, "document": DOC})
    assert len(planner.calls) == 1
    assert len(calls_of(executor, "plan")) == 0
    assert len(calls_of(executor, "step")) == 4


def test_usage_sums_the_models_usage_metadata() -> None:
    model = scripted(PLAN)
    result = run(model)
    assert result.usage.total_tokens > 0
    per_step = sum(s.usage.total_tokens for s in result.steps)
    planning = sum(a.usage.total_tokens for a in result.plan_attempts)
    assert result.usage.total_tokens == per_step + planning
    assert not result.usage.estimated


def test_string_returning_models_get_estimated_usage() -> None:
    script = PearlScript(PLAN)
    llm = RunnableLambda(lambda messages: script(messages, _FakeCall(messages)))
    result = PEARL(llm).invoke({"question": QUESTION, "document": DOC})
    assert result.usage.estimated
    assert result.usage.input_tokens > 0
    assert result.answer.startswith("<mayor>")


class _FakeCall:
    def __init__(self, messages: Any) -> None:
        self.text = "\n".join(str(m.text) for m in messages)


def test_results_serialize_to_json() -> None:
    result = run(scripted(PLAN))
    assert PEARLResult.model_validate_json(result.model_dump_json()) == result


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("just a string", InvalidExampleError, "must be a dict"),
        ({"document": "d"}, MissingKeyError, "'question'"),
        ({"question": "q"}, MissingKeyError, "'document'"),
        ({"question": 3, "document": "d"}, InvalidExampleError, "'question' must be a string"),
        ({"question": "  ", "document": "d"}, InvalidExampleError, "empty"),
        (
            {"question": "q", "document": "d", "options": ["only one"]},
            InvalidExampleError,
            "options",
        ),
        ({"question": "q", "document": "d", "options": "AB"}, InvalidExampleError, "options"),
        ({"question": "q", "document": "d", "options": ["a", ""]}, InvalidExampleError, "options"),
        (
            {"question": "q", "document": "d", "avoid_plans": "x"},
            InvalidExampleError,
            "avoid_plans",
        ),
    ],
)
def test_bad_inputs_raise_typed_errors(value: Any, error: type[Exception], match: str) -> None:
    model = scripted(PLAN)
    with pytest.raises(error, match=match):
        PEARL(model).invoke(value)
    assert model.calls == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_plan_attempts": 0}, "max_plan_attempts must be an integer >= 1, got 0"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_steps": True}, "max_steps"),
        ({"max_context_tokens": 0}, "max_context_tokens"),
        ({"max_context_tokens": 500, "reserved_output_tokens": 500}, "smaller than"),
        ({"num_demonstrations": -1}, "num_demonstrations"),
        ({"token_counter": 5}, "token_counter"),
        ({"planner": "gpt-4"}, "planner must be a chat model"),
        (
            {"demonstrations": [{"question": "q", "plan": "1. a = NOPE(CTX)"}]},
            r"demonstrations\[0\]",
        ),
        ({"demonstrations": [{"question": "q"}]}, r"demonstrations\[0\]"),
        ({"actions": "FIND_X"}, "actions must be"),
    ],
)
def test_bad_settings_raise_invalid_parameter_error(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        PEARL(scripted(PLAN), **kwargs)


def test_llm_is_required_and_must_be_a_runnable() -> None:
    with pytest.raises(InvalidParameterError, match="needs a model"):
        PEARL()
    with pytest.raises(InvalidParameterError, match="llm must be a chat model"):
        PEARL("gpt-4o")


def test_settings_are_checked_on_assignment_too() -> None:
    pearl = PEARL(scripted(PLAN))
    with pytest.raises(InvalidParameterError):
        pearl.max_concurrency = 0
    pearl.demonstrations = [Demonstration(question="Only demo?", plan="1. a = SUMMARIZE(CTX)")]
    assert [q for q, _ in pearl.select_demonstrations("only demo")] == ["Only demo?"]


def test_input_and_output_schemas() -> None:
    pearl = PEARL(scripted(PLAN))
    assert set(pearl.get_input_schema().model_json_schema()["properties"]) == {
        "question",
        "document",
        "options",
        "avoid_plans",
    }
    assert pearl.get_output_schema() is PEARLResult


def test_avoid_plans_reach_the_planner() -> None:
    model = scripted(PLAN)
    PEARL(model).invoke(
        {"question": QUESTION, "document": DOC, "avoid_plans": ["1. x = SUMMARIZE(CTX)"]}
    )
    text = calls_of(model, "plan")[0].text
    assert "[Plans that led to wrong answers for this question]\n1. x = SUMMARIZE(CTX)" in text


def test_a_rejected_assignment_leaves_the_object_unchanged() -> None:
    pearl = PEARL(scripted(PLAN), max_context_tokens=1000, reserved_output_tokens=100)
    with pytest.raises(InvalidParameterError, match="smaller than"):
        pearl.max_context_tokens = 50
    assert pearl.max_context_tokens == 1000
