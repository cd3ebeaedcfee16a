"""Self-refinement, demonstrations on disk, grading, evaluation, the QuALITY loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_niche.errors import InvalidParameterError, MissingKeyError
from langchain_niche.pearl import (
    DEFAULT_DEMONSTRATIONS,
    PEARL,
    Demonstration,
    RetryPolicy,
    SavedFileError,
    aevaluate,
    arefine_demonstrations,
    evaluate,
    grade,
    llm_judge,
    load_demonstrations,
    load_quality_jsonl,
    refine_demonstrations,
    save_demonstrations,
)
from langchain_niche.pearl.grading import expected_option, normalize_answer
from langchain_niche.pearl.trace import PEARLResult
from langchain_niche.testing import ScriptedChatModel

from .script import calls_of, prompt_kind, scripted

BAD_PLAN = '1. x = FIND_X(CTX, "the weather")'
GOOD_PLAN = '1. y = FIND_REASON(CTX, "the resignation")'


def by_plan(messages: Any, call: Any) -> str:
    """Answers 'budget' only when the plan looked for the reason."""
    return "budget" if "FIND_REASON" in call.text else "sunny"


EXAMPLES = [
    {
        "question": "Why did she resign?",
        "document": "She resigned over the budget.",
        "answer": "budget",
    },
    {"question": "Why did he leave?", "document": "He left over the budget.", "answer": "budget"},
]


def refining_model() -> ScriptedChatModel:
    """First plan of each question is bad; after feedback, the good one."""

    def respond(messages: Any, call: Any) -> str:
        kind = calls_kind(call)
        if kind == "plan":
            return GOOD_PLAN if "led to wrong answers" in call.text else BAD_PLAN
        return by_plan(messages, call)

    return ScriptedChatModel(responder=respond)


def calls_kind(call: Any) -> str:
    return prompt_kind(call.messages)[0]


def test_refinement_keeps_plans_that_answer_right_after_replanning() -> None:
    model = refining_model()
    demos = refine_demonstrations(PEARL(model), EXAMPLES, max_tries=3)
    assert [d.question for d in demos] == [e["question"] for e in EXAMPLES]
    assert all(d.plan == GOOD_PLAN for d in demos)
    assert all(d.answer == "budget" for d in demos)
    retry_prompts = [c for c in calls_of(model, "plan") if "led to wrong answers" in c.text]
    assert len(retry_prompts) == 2
    assert BAD_PLAN in retry_prompts[0].text


async def test_async_refinement_matches() -> None:
    demos = await arefine_demonstrations(PEARL(refining_model()), EXAMPLES, max_tries=3)
    assert [d.plan for d in demos] == [GOOD_PLAN, GOOD_PLAN]


def test_examples_never_solved_are_dropped_others_kept() -> None:
    examples = [
        *EXAMPLES,
        {"question": "Why is the sky blue?", "document": "x", "answer": "rayleigh"},
    ]
    demos = refine_demonstrations(PEARL(refining_model()), examples, max_tries=2)
    assert len(demos) == 2


def test_max_tries_bounds_replanning() -> None:
    model = ScriptedChatModel(
        responder=lambda m, c: BAD_PLAN if calls_kind(c) == "plan" else "sunny"
    )
    assert refine_demonstrations(PEARL(model), EXAMPLES[:1], max_tries=4) == []
    assert len(calls_of(model, "plan")) == 4


def test_a_judge_decides_free_form_answers() -> None:
    model = ScriptedChatModel(
        responder=lambda m, c: (
            GOOD_PLAN if calls_kind(c) == "plan" else "Because of the money trouble."
        )
    )
    judge = RunnableLambda(lambda d: "money" in d["answer"] and d["expected"] == "budget")
    demos = refine_demonstrations(PEARL(model), EXAMPLES[:1], judge=judge)
    assert len(demos) == 1
    assert refine_demonstrations(PEARL(model), EXAMPLES[:1], max_tries=1) == []


def test_refinement_with_options() -> None:
    model = scripted(GOOD_PLAN, option="B")
    example = {"question": "Why?", "document": "d", "options": ["sun", "budget"], "answer": "B"}
    [demo] = refine_demonstrations(PEARL(model), [example])
    assert demo.answer == "budget"


def test_refinement_survives_errors_and_checks_input() -> None:
    broken = ScriptedChatModel(responses=[ConnectionError("down")], cycle=True)
    assert refine_demonstrations(PEARL(broken, retry=RetryPolicy(max_attempts=1)), EXAMPLES) == []
    with pytest.raises(MissingKeyError, match="answer"):
        refine_demonstrations(PEARL(broken), [{"question": "q", "document": "d"}])
    with pytest.raises(InvalidParameterError, match="max_tries"):
        refine_demonstrations(PEARL(broken), EXAMPLES, max_tries=0)


def test_demonstrations_round_trip_as_json(tmp_path: Path) -> None:
    demos = [
        *DEFAULT_DEMONSTRATIONS[:2],
        Demonstration(question="q?", plan=GOOD_PLAN, answer="budget"),
    ]
    path = save_demonstrations(demos, tmp_path / "demos.json")
    assert load_demonstrations(path) == demos
    data = json.loads(path.read_text())
    assert data["format"] == "langchain-niche-pearl-demonstrations"
    assert (
        PEARL(
            ScriptedChatModel(responses=[]), demonstrations=load_demonstrations(path)
        ).demonstrations
        == demos
    )


def test_loading_bad_demonstration_files_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "format": "langchain-niche-pearl-demonstrations",
                "version": 1,
                "demonstrations": [{"question": "q"}],
            }
        )
    )
    with pytest.raises(SavedFileError, match=r"demonstrations\[0\]"):
        load_demonstrations(path)
    path.write_text(json.dumps({"format": "langchain-niche-pearl-demonstrations", "version": 1}))
    with pytest.raises(SavedFileError, match="no 'demonstrations'"):
        load_demonstrations(path)


# -- grading ------------------------------------------------------------------------------------


def result(answer: str, option_index: int | None = None) -> PEARLResult:
    return PEARLResult(question="q", answer=answer, open_answer=answer, option_index=option_index)


def test_grading_rules() -> None:
    assert normalize_answer("The  Budget!") == "budget"
    assert grade(result("the budget."), "Budget")
    assert not grade(result("budget crisis"), "budget")
    options = ["sun", "the budget", "rain"]
    assert expected_option("B", options) == 1
    assert expected_option(2, options) == 2
    assert expected_option("Budget", options) == 1
    assert expected_option("snow", options) is None
    assert grade(result("the budget", 1), "b", options=options)
    assert not grade(result("sun", 0), 1, options=options)
    with pytest.raises(InvalidParameterError, match="not an option"):
        grade(result("sun", 0), "snow", options=options)


def test_llm_judge_reads_yes_and_no() -> None:
    judge = llm_judge(ScriptedChatModel(responses=["Yes.", "no, different", "maybe"]))
    assert grade(result("money trouble"), "budget", judge=judge)
    assert not grade(result("money trouble"), "budget", judge=judge)
    with pytest.raises(InvalidParameterError, match="yes/no"):
        grade(result("money trouble"), "budget", judge=judge)


# -- evaluation ---------------------------------------------------------------------------------


def quality_file(tmp_path: Path) -> Path:
    articles = [
        {
            "article_id": "1",
            "title": "Budget",
            "article": "She resigned over the budget.",
            "questions": [
                {
                    "question": "Why did she resign?",
                    "options": ["sun", "budget", "rain", "age"],
                    "gold_label": 2,
                    "difficult": 1,
                    "question_unique_id": "1-a",
                },
                {
                    "question": "What season?",
                    "options": ["spring", "summer", "fall", "winter"],
                    "gold_label": 1,
                    "difficult": 0,
                    "question_unique_id": "1-b",
                },
            ],
        },
        {
            "article_id": "2",
            "title": "Unlabelled",
            "article": "Text.",
            "questions": [{"question": "What?", "options": ["a", "b", "c", "d"], "difficult": 1}],
        },
    ]
    path = tmp_path / "quality.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in articles) + "\n\n")
    return path


def test_load_quality_jsonl(tmp_path: Path) -> None:
    rows = load_quality_jsonl(quality_file(tmp_path))
    assert [r["id"] for r in rows[:2]] == ["1-a", "1-b"]
    assert rows[0]["answer"] == 1  # the gold option's index, never its text
    assert rows[0]["options"][1] == "budget"
    assert rows[0]["document"] == "She resigned over the budget."
    assert rows[2]["answer"] is None
    assert len(load_quality_jsonl(quality_file(tmp_path), difficult_only=True)) == 2
    assert len(load_quality_jsonl(quality_file(tmp_path), limit=1)) == 1


def test_load_quality_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"article": "x", "questions": []}\n{"article": "x"}\n')
    with pytest.raises(SavedFileError, match="line 2"):
        load_quality_jsonl(path)
    path.write_text(
        '{"article": "x", "questions": [{"question": "q", "options": ["a"], "gold_label": 3}]}\n'
    )
    with pytest.raises(SavedFileError, match="gold_label 3"):
        load_quality_jsonl(path)


def evaluation_model() -> ScriptedChatModel:
    def respond(messages: Any, call: Any) -> str:
        kind = calls_kind(call)
        if kind == "plan":
            return GOOD_PLAN
        if kind == "options":
            return "B"
        if "What?" in call.text:
            raise ConnectionError("unanswerable")
        return "found it"

    return ScriptedChatModel(responder=respond)


def test_evaluate_reports_accuracy_calls_and_tokens(tmp_path: Path) -> None:
    rows = [r for r in load_quality_jsonl(quality_file(tmp_path)) if r["answer"] is not None]
    rows.append({"question": "What?", "document": "x", "answer": "x"})
    pearl = PEARL(evaluation_model(), retry=RetryPolicy(max_attempts=1))
    report = evaluate(pearl, rows)
    assert report.questions == 3
    assert report.correct == 1  # "budget" is B; "spring" is A
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.errors == 1
    assert report.items[2].error is not None
    assert "unanswerable" in report.items[2].error
    assert report.model_calls_per_question == pytest.approx((3 + 3 + 0) / 3)  # plan, step, options
    assert report.input_tokens_per_question > 0
    assert report.fallback_rate == 0.0


async def test_aevaluate_matches(tmp_path: Path) -> None:
    rows = [r for r in load_quality_jsonl(quality_file(tmp_path)) if r["answer"] is not None]
    report = await aevaluate(PEARL(evaluation_model()), rows)
    assert report.correct == 1
    assert report.questions == 2


def test_evaluate_checks_rows() -> None:
    with pytest.raises(MissingKeyError, match="answer"):
        evaluate(PEARL(ScriptedChatModel(responses=[])), [{"question": "q", "document": "d"}])
