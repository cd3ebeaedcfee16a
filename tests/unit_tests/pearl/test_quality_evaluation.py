"""QuALITY in its real format, grading by option position, the evaluation report, the
zero-shot baseline on the same rows and the evaluation command (offline)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage

from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl import (
    PEARL,
    RetryPolicy,
    SavedFileError,
    ZeroShotQA,
    aevaluate,
    bootstrap_interval,
    compare,
    evaluate,
    format_reports,
    load_quality_jsonl,
)
from langchain_niche.pearl.grading import expected_option
from langchain_niche.pearl.quality import context_length, unwrap_lines
from langchain_niche.pearl.reproduce import main
from langchain_niche.testing import ScriptedCall, ScriptedChatModel

from .script import calls_of, prompt_kind

ROOT = Path(__file__).resolve().parents[3]
PLAN = '1. why = FIND_REASON(CTX, "the guard staying calm") : the reasons'


def validation(*ratings: int) -> list[dict[str, Any]]:
    """Untimed validation records as QuALITY stores them."""
    return [
        {
            "untimed_annotator_id": f"a{i}",
            "untimed_answer": 1,
            "untimed_eval1_answerability": 1,
            "untimed_eval2_context": rating,
            "untimed_best_distractor": 2,
        }
        for i, rating in enumerate(ratings)
    ]


def question(
    text: str, options: list[str], gold: int | None, *ratings: int, **extra: Any
) -> dict[str, Any]:
    q: dict[str, Any] = {
        "question": text,
        "question_unique_id": f"q-{text[:12]}",
        "options": options,
        "writer_label": gold or 1,
        "difficult": extra.pop("difficult", 0),
        "validation": validation(*ratings),
        "speed_validation": [{"speed_annotator_id": "s1", "speed_answer": 1}],
        **extra,
    }
    if gold is not None:
        q["gold_label"] = gold
    return q


ARTICLE = (
    "THE CALM GUARD\n\nBy A. Writer\n\nThe guard sat by the gate and\nwatched the road "
    "all night.\nHe never raised his voice.\n\nIn the morning he was still\ncalm."
)


def write_quality(tmp_path: Path, questions: list[dict[str, Any]], article: str = ARTICLE) -> Path:
    record = {
        "article_id": "20001",
        "set_unique_id": "20001_1",
        "batch_num": "21",
        "writer_id": "1001",
        "source": "Gutenberg",
        "title": "The Calm Guard",
        "year": 1957,
        "author": "A. Writer",
        "topic": "fiction",
        "url": "https://example.invalid/20001",
        "license": "public domain",
        "article": article,
        "questions": questions,
    }
    path = tmp_path / "QuALITY.v1.0.1.htmlstripped.dev"
    path.write_text(json.dumps(record) + "\n")
    return path


LETTER_OPTIONS = ["B", "A", "C", "D"]
ALIKE_OPTIONS = ["The dog", "A dog", "a cat", "the bird"]


def quality_rows(tmp_path: Path) -> list[dict[str, Any]]:
    return load_quality_jsonl(
        write_quality(
            tmp_path,
            [
                question(
                    "Which letter is the second one?", LETTER_OPTIONS, 2, 3, 4, 3, difficult=1
                ),
                question("Who barks at night?", ALIKE_OPTIONS, 2, 1, 2, 1),
            ],
        )
    )


def answering(letter_for: dict[str, str], plan: str = PLAN) -> ScriptedChatModel:
    """Plans with PLAN, answers the option prompt of each question with a fixed letter."""

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> str:
        kind, _ = prompt_kind(messages)
        if kind == "plan":
            return plan
        if kind == "options":
            return next(letter for cue, letter in letter_for.items() if cue in call.text)
        return "He stayed calm."

    return ScriptedChatModel(responder=respond)


# -- loading ---------------------------------------------------------------------------------------


def test_rows_keep_the_gold_position_ratings_and_the_file_order(tmp_path: Path) -> None:
    rows = quality_rows(tmp_path)
    assert [r["answer"] for r in rows] == [1, 1]
    assert [r["gold_label"] for r in rows] == [2, 2]
    assert [r["position"] for r in rows] == [0, 1]
    assert rows[0]["context_ratings"] == [3, 4, 3]
    assert [r["context_length"] for r in rows] == ["long", "short"]
    assert rows[0]["difficult"]
    assert not rows[1]["difficult"]


def test_context_filter_and_exact_id_lists(tmp_path: Path) -> None:
    path = write_quality(
        tmp_path,
        [
            question("Long one?", ["a", "b"], 1, 3, 4, 2),
            question("Short one?", ["a", "b"], 1, 1, 2, 4),
            question("Unrated?", ["a", "b"], 1),
            question("Hard but short?", ["a", "b"], 1, 1, 1, difficult=1),
        ],
    )
    assert [r["question"] for r in load_quality_jsonl(path, context="long")] == ["Long one?"]
    assert [r["question"] for r in load_quality_jsonl(path, context="short")] == [
        "Short one?",
        "Hard but short?",
    ]
    assert [r["question"] for r in load_quality_jsonl(path, difficult_only=True)] == [
        "Hard but short?"
    ]
    assert [r["question"] for r in load_quality_jsonl(path, question_ids=[2, "q-Long one?"])] == [
        "Long one?",
        "Unrated?",
    ]
    with pytest.raises(InvalidParameterError, match="context must be"):
        load_quality_jsonl(path, context="hard")  # type: ignore[arg-type]


def test_hard_wrapped_lines_are_joined_paragraphs_kept(tmp_path: Path) -> None:
    [row] = load_quality_jsonl(write_quality(tmp_path, [question("Q?", ["a", "b"], 1, 3)]))
    assert row["document"] == (
        "THE CALM GUARD\n\nBy A. Writer\n\nThe guard sat by the gate and watched the road "
        "all night. He never raised his voice.\n\nIn the morning he was still calm."
    )
    [raw] = load_quality_jsonl(
        write_quality(tmp_path, [question("Q?", ["a", "b"], 1, 3)]), join_lines=False
    )
    assert raw["document"] == ARTICLE


def test_raw_html_files_are_rejected_clearly(tmp_path: Path) -> None:
    html = "<html><head><title>x</title></head><body><p>The guard sat.</p><br/></body></html>"
    path = write_quality(tmp_path, [question("Q?", ["a", "b"], 1, 3)], article=html)
    with pytest.raises(SavedFileError, match=r"line 1: article '20001' is HTML.*htmlstripped"):
        load_quality_jsonl(path)


def test_bad_gold_labels_name_the_line(tmp_path: Path) -> None:
    path = write_quality(tmp_path, [question("Q?", ["a", "b"], 3, 3)])
    with pytest.raises(SavedFileError, match=r"line 1: .*gold_label 3 is outside 1\.\.2"):
        load_quality_jsonl(path)


# -- grading by position ----------------------------------------------------------------------------


def test_letter_options_are_graded_by_position(tmp_path: Path) -> None:
    rows = quality_rows(tmp_path)[:1]  # gold: option 2, whose text is "A"
    right = evaluate(PEARL(answering({"Which letter": "B"})), rows)
    assert right.items[0].option_index == 1
    assert right.accuracy == 1.0
    wrong = evaluate(PEARL(answering({"Which letter": "A"})), rows)
    assert wrong.accuracy == 0.0


def test_options_that_normalise_alike_are_graded_by_position(tmp_path: Path) -> None:
    rows = quality_rows(tmp_path)[1:]  # gold: "A dog" (B), which normalises like "The dog" (A)
    assert evaluate(PEARL(answering({"barks": "B"})), rows).accuracy == 1.0
    assert evaluate(PEARL(answering({"barks": "A"})), rows).accuracy == 0.0


def test_ambiguous_text_answers_are_refused_before_any_model_call() -> None:
    with pytest.raises(InvalidParameterError, match="designates several options"):
        expected_option("B", LETTER_OPTIONS)
    with pytest.raises(InvalidParameterError, match="designates several options"):
        expected_option("the dog", ALIKE_OPTIONS)
    assert expected_option("A dog", ALIKE_OPTIONS) == 1  # exact text first
    assert expected_option(1, LETTER_OPTIONS) == 1
    model = answering({"": "B"})
    row = {"question": "q", "document": "d", "options": LETTER_OPTIONS, "answer": "B"}
    with pytest.raises(InvalidParameterError, match=r"dataset\[0\].*several options"):
        evaluate(PEARL(model), [row])
    assert model.calls == []


def test_unlabelled_rows_give_predictions_with_accuracy_none(tmp_path: Path) -> None:
    path = write_quality(tmp_path, [question("Which letter?", LETTER_OPTIONS, None, 3)])
    rows = load_quality_jsonl(path)
    assert rows[0]["answer"] is None
    report = evaluate(PEARL(answering({"Which letter": "C"})), rows)
    assert report.accuracy is None
    assert report.accuracy_interval is None
    assert (report.labelled, report.questions, report.errors) == (0, 1, 0)
    assert report.items[0].correct is None
    assert report.items[0].option_index == 2
    assert "n/a" in format_reports({"PEARL": report})


# -- the report ---------------------------------------------------------------------------------------


def test_report_has_the_papers_columns_and_the_baseline_runs_on_the_same_rows(
    tmp_path: Path,
) -> None:
    rows = quality_rows(tmp_path)
    plans = iter(['1. x = NOT_AN_ACTION(CTX, "x")', PLAN, PLAN])

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> str:
        kind, _ = prompt_kind(messages)
        if kind == "plan":
            return next(plans)
        if kind == "options":
            return "B"
        return "He stayed calm."

    pearl_model = ScriptedChatModel(responder=respond)
    baseline_model = answering({"": "A"})
    reports = compare(
        {
            "PEARL": PEARL(pearl_model, max_concurrency=1),
            "zero-shot": ZeroShotQA(baseline_model),
        },
        rows,
        max_concurrency=1,
        prices=(10.0, 30.0),
    )
    pearl, zero = reports["PEARL"], reports["zero-shot"]
    assert (pearl.correct, zero.correct) == (2, 0)
    assert pearl.accuracy_interval == (1.0, 1.0)
    assert pearl.plan_attempt_histogram == {1: 1, 2: 1}  # one plan was sent back once
    assert pearl.fallback_rate == 0.0
    assert zero.plan_attempt_histogram == {}
    assert pearl.model_calls_per_question == pytest.approx((4 + 3) / 2)  # plans, step, options
    assert zero.model_calls_per_question == 2.0  # open answer, option mapping
    assert pearl.cost_per_question == pytest.approx(
        (pearl.input_tokens_per_question * 10 + pearl.output_tokens_per_question * 30) / 1e6
    )
    assert next(c.text for c in calls_of(baseline_model, "fallback")).count("Answer options") == 0
    table = format_reports(reports)
    for label in (
        "accuracy",
        "95% bootstrap interval",
        "model calls / question",
        "prompt tokens / question",
        "completion tokens / question",
        "cost / question",
        "fallback rate",
        "plan attempts: questions",
    ):
        assert f"| {label}" in table
    assert re.search(r"\| accuracy +\| 100\.0% +\| 0\.0% +\|", table)


async def test_aevaluate_matches_evaluate(tmp_path: Path) -> None:
    rows = quality_rows(tmp_path)
    model = answering({"Which letter": "B", "barks": "A"})
    report = await aevaluate(PEARL(model), rows)
    assert (report.correct, report.labelled) == (1, 2)


def test_failed_questions_count_as_wrong(tmp_path: Path) -> None:
    rows = quality_rows(tmp_path)
    broken = ScriptedChatModel(responses=[ConnectionError("down")], cycle=True)
    report = evaluate(ZeroShotQA(broken, retry=RetryPolicy(max_attempts=1)), rows)
    assert (report.errors, report.correct, report.accuracy) == (2, 0, 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(0, 5))
def test_bootstrap_interval_brackets_the_accuracy(outcomes: list[bool], seed: int) -> None:
    low, high = bootstrap_interval(outcomes, seed=seed, resamples=300)
    mean = sum(outcomes) / len(outcomes)
    assert 0.0 <= low <= high <= 1.0
    assert low <= mean + 1e-9
    assert mean - 1e-9 <= high
    if len(set(outcomes)) == 1:
        assert low == high == mean
    assert bootstrap_interval(outcomes, seed=seed, resamples=300) == (low, high)


def test_bootstrap_interval_narrows_with_more_questions() -> None:
    small = bootstrap_interval([True, False] * 10)
    large = bootstrap_interval([True, False] * 500)
    assert large[1] - large[0] < small[1] - small[0]
    with pytest.raises(InvalidParameterError, match="at least one outcome"):
        bootstrap_interval([])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="ab \n", min_size=0, max_size=12), min_size=1, max_size=6))
def test_unwrap_lines_keeps_paragraphs_and_words(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    out = unwrap_lines(text)
    assert out.split() == text.split()  # no word lost, split or merged
    assert "\n\n\n" not in out
    assert all("\n" not in p for p in out.split("\n\n"))
    assert unwrap_lines(out) == out


def test_context_length_votes() -> None:
    assert context_length([3, 4, 2]) == "long"
    assert context_length([1, 2, 4]) == "short"
    assert context_length([2, 3]) is None
    assert context_length([]) is None


# -- the command -----------------------------------------------------------------------------------


def test_the_evaluation_command_runs_offline() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--offline", "--prices", "2.5", "10"]) == 0
    text = out.getvalue()
    assert "context=long; 3 questions" in text
    assert "prompts: paper; planner sees options: False" in text
    assert "| PEARL" in text
    assert "| zero-shot" in text
    assert "| plan attempts: questions" in text
    assert "| cost / question " in text


def test_the_benchmark_script_runs_offline() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "eval_pearl_quality.py"),
            "--offline",
            "--limit",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "1 questions" in completed.stdout
    assert "| accuracy" in completed.stdout


def test_the_command_needs_data_and_a_model_without_offline() -> None:
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        main([])


async def test_zero_shot_baseline_async_stream_and_config() -> None:
    model = answering({"": "C"})
    baseline = ZeroShotQA(model)
    data = {"question": "Which letter?", "document": ARTICLE, "options": LETTER_OPTIONS}
    result = await baseline.ainvoke(data, {"run_name": "baseline-run", "tags": ["eval"]})
    assert (result.option_index, result.plan, result.fallback_used) == (2, None, False)
    assert result.usage.model_calls == 2
    chunks = [c async for c in baseline.astream(data)]
    assert [c.option_index for c in chunks] == [2]  # stream yields the result, as invoke does
    events = [e async for e in baseline.astream_progress(data)]
    assert [e.type for e in events] == ["answer"]
    names = [
        e["name"]
        async for e in baseline.astream_events(data, {"run_name": "zs"})
        if e["event"] == "on_chain_start"
    ]
    assert names[0] == "zs"
    fallback_prompt = calls_of(model, "fallback")[0].text
    assert "Which letter?" in fallback_prompt
    assert "Answer options" not in fallback_prompt  # the open answer is written without options


@pytest.mark.parametrize("resamples", [0, True, 2.5, "10"])
def test_bootstrap_interval_names_a_bad_resamples(resamples: Any) -> None:
    # a bool is not a count (True was taken for 1 resample)
    with pytest.raises(InvalidParameterError, match="resamples must be an integer >= 1") as info:
        bootstrap_interval([True, False], resamples=resamples)
    assert (info.value.name, info.value.value) == ("resamples", resamples)
