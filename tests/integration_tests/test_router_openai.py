"""The real-model evaluation command and the router with ChatOpenAI, against a local server."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from langchain_niche import JaccardExampleSelector, TeacherStudentRouter
from tests.support.openai_server import FakeOpenAIServer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def labeller(gold: dict[str, str]) -> Any:
    """Teacher model: the gold label of the last message; student model: the majority of
    the example answers in its prompt (both scripted, over HTTP)."""

    def respond(body: dict[str, Any]) -> str:
        messages = body["messages"]
        if body["model"] == "teacher-model":
            return gold.get(messages[-1]["content"], "unknown")
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        return Counter(answers).most_common(1)[0][0] if answers else "unknown"

    return respond


def test_evaluation_command_runs_offline_against_a_local_server(
    openai_server: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    eval_router_models = importlib.import_module("eval_router_models")
    corpus = importlib.import_module("labelled_corpora").stdlib()
    openai_server.responder = labeller(dict(zip(corpus.texts, corpus.labels, strict=True)))
    code = eval_router_models.main(
        [
            "--teacher", "teacher-model", "--student", "student-model",
            "--base-url", openai_server.base_url, "--api-key", "test",
            "--n-warm", "60", "--n-dev", "30", "--n-test", "30",
            "--price", "teacher-model=0.12,0.12", "--price", "student-model=0.02,0.02",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "all teacher (teacher-model)" in out
    assert "router (student-model + teacher-model)" in out
    assert "cost vs all-teacher" in out
    bodies = openai_server.requests
    assert {b["model"] for b in bodies} == {"teacher-model", "student-model"}
    # the reference run: accuracy 1.000 (the teacher is the gold label here)
    reference_row = next(line for line in out.splitlines() if line.startswith("| all teacher"))
    assert "| 1.000 " in reference_row


def test_evaluation_command_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    eval_router_models = importlib.import_module("eval_router_models")
    assert eval_router_models.main(["--teacher", "a", "--student", "b"]) == 2


def test_router_with_chat_openai_counts_usage(openai_server: FakeOpenAIServer) -> None:
    gold = {"refund please": "billing", "password reset": "account"}
    openai_server.responder = labeller(gold)

    def model(name: str) -> ChatOpenAI:
        return ChatOpenAI(
            model=name, base_url=openai_server.base_url, api_key="test", max_retries=0
        )

    teacher = ChatPromptTemplate.from_messages([("human", "{q}")]) | model("teacher-model")
    router = TeacherStudentRouter(
        teacher=teacher,
        student=model("student-model"),
        selector=JaccardExampleSelector(input_keys=["q"], k=2),
        route="similarity",
        prices={"teacher-model": (1.0, 1.0), "student-model": (0.1, 0.1)},
    )
    assert router.invoke({"q": "refund please"}) == "billing"  # teacher, learned
    assert router.invoke({"q": "refund please now"}) == "billing"  # student, one example
    stats = router.stats
    assert (stats.teacher.calls, stats.student.calls) == (1, 1)
    assert stats.teacher.input_tokens > 0
    assert stats.student.input_tokens > 0
    assert stats.teacher.cost > 0
    assert stats.student.cost > 0
    student_request = openai_server.requests[-1]
    assert [m["role"] for m in student_request["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
