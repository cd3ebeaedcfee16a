"""collect_examples: bootstrap a store, resumable, failures reported, progress bar."""

from __future__ import annotations

import builtins
import sys
import threading
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_niche import (
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    MissingKeyError,
    TeacherError,
    acollect_examples,
    collect_examples,
    dedupe_examples,
)
from langchain_niche.routing import AnswerFormatError


class Teacher:
    def __init__(self, fail_on: str | None = None) -> None:
        self.seen: list[str] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, x: dict[str, Any]) -> Any:
        with self.lock:
            self.seen.append(x["q"])
        if self.fail_on and self.fail_on in x["q"]:
            raise ConnectionError("down")
        if "structured" in x["q"]:
            return {"label": x["q"].upper()}
        return x["q"].upper()


INPUTS = [{"q": f"question number {i}"} for i in range(30)]


def test_collects_teacher_answers_as_examples() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    teacher = Teacher()
    report = collect_examples(
        RunnableLambda(teacher), INPUTS, store, max_concurrency=3, progress=False
    )
    assert (report.total, report.learned, report.skipped, report.failed) == (30, 30, 0, [])
    assert len(store) == 30
    assert store.examples[0] == {"q": "question number 0", "output": "QUESTION NUMBER 0"}
    assert sorted(teacher.seen) == sorted(x["q"] for x in INPUTS)
    assert len(report.ids) == 30


def test_collection_is_resumable() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    collect_examples(Teacher(), INPUTS[:12], store, progress=False)  # an interrupted run
    teacher = Teacher()
    report = collect_examples(teacher, INPUTS, store, progress=False)
    assert (report.learned, report.skipped) == (18, 12)
    assert sorted(teacher.seen) == sorted(x["q"] for x in INPUTS[12:])
    assert len(store) == 30


def test_repeated_inputs_in_one_batch_are_asked_once() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    teacher = Teacher()
    report = collect_examples(teacher, [{"q": "same"}] * 10, store, progress=False)
    assert (report.learned, report.skipped, len(teacher.seen), len(store)) == (1, 9, 1, 1)


def test_teacher_failures_are_reported_and_not_stored() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    report = collect_examples(Teacher(fail_on="number 7"), INPUTS[:10], store, progress=False)
    assert report.learned == 9
    assert [f.index for f in report.failed] == [7]
    failure = report.failed[0]
    assert isinstance(failure.error, TeacherError)
    assert "question number 7" in str(failure.error)
    assert isinstance(failure.error.__cause__, ConnectionError)
    # running again retries the failed input only
    teacher = Teacher()
    again = collect_examples(teacher, INPUTS[:10], store, progress=False)
    assert (again.learned, again.skipped, teacher.seen) == (1, 9, ["question number 7"])


def test_non_text_answers_are_json_or_reported() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    report = collect_examples(Teacher(), [{"q": "structured one"}], store, progress=False)
    assert store.examples[0]["output"] == '{"label": "STRUCTURED ONE"}'
    assert report.learned == 1
    store = JaccardExampleSelector(input_keys=["q"])
    report = collect_examples(
        Teacher(), [{"q": "structured one"}], store, progress=False, non_text="reject"
    )
    assert report.learned == 0
    assert isinstance(report.failed[0].error, AnswerFormatError)


def test_accept_gates_collection() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    report = collect_examples(
        Teacher(), INPUTS[:10], store, progress=False, accept=lambda x, a: a.endswith("1")
    )
    assert (report.learned, report.rejected) == (1, 9)


def test_progress_bar_uses_tqdm_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    store = JaccardExampleSelector(input_keys=["q"])
    collect_examples(Teacher(), INPUTS[:5], store)
    err = capsys.readouterr().err
    assert "collecting teacher answers:   0%|" in err  # tqdm's bar (cleared when done)
    assert "?input/s" in err  # in the unit collect_examples gives it


def test_progress_off_a_terminal_prints_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    collect_examples(Teacher(), INPUTS[:5], store)
    assert "collecting teacher answers: 5/5" in capsys.readouterr().err


def test_progress_without_tqdm_prints_plain_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def no_tqdm(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    store = JaccardExampleSelector(input_keys=["q"])
    collect_examples(Teacher(), INPUTS[:5], store)
    assert "collecting teacher answers: 5/5" in capsys.readouterr().err


async def test_acollect_examples_over_minhash() -> None:
    store = MinHashExampleSelector(input_keys=["q"])
    report = await acollect_examples(Teacher(), INPUTS, store, progress=False)
    assert report.learned == len(store) == 30
    again = await acollect_examples(Teacher(), INPUTS, store, progress=False)
    assert again.skipped == 30


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"max_concurrency": 0}, "max_concurrency"), ({"output_key": 1}, "output_key")],
)
def test_bad_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        collect_examples(Teacher(), INPUTS, JaccardExampleSelector(), progress=False, **kwargs)
    assert info.value.name == name


def test_bad_inputs_teacher_and_store() -> None:
    with pytest.raises(InvalidParameterError):
        collect_examples(Teacher(), {"q": "a"}, JaccardExampleSelector(), progress=False)
    with pytest.raises(InvalidParameterError):
        collect_examples(42, INPUTS, JaccardExampleSelector(), progress=False)
    lacking = JaccardExampleSelector(examples=[{"q": "a", "label": "b"}])
    with pytest.raises(MissingKeyError):
        collect_examples(Teacher(), INPUTS, lacking, progress=False)


def test_dedupe_examples_cleans_a_collected_store() -> None:
    store = JaccardExampleSelector(input_keys=["q"])
    near = [{"q": "how do I reset my password"}, {"q": "how do I reset my password ?"}]
    report = collect_examples(Teacher(), [*near, {"q": "refund my order"}], store, progress=False)
    assert report.learned == 3  # different text: both near-duplicates were asked and stored
    clean = dedupe_examples(store.examples, threshold=0.9, input_keys=["q"])
    assert [e["q"] for e in clean] == ["how do I reset my password", "refund my order"]
