"""TeacherStudentRouter over a MinHash store shared through a real redis-server by processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_niche import (
    MinHashExampleSelector,
    MissingKeyError,
    SimilarityPolicy,
    TeacherStudentRouter,
)
from tests.support.router_process import item, teacher_rule

ROOT = Path(__file__).resolve().parents[2]


def run(url: str, index: str, mode: str, start: int, stop: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.support.router_process",
        url,
        index,
        mode,
        str(start),
        str(stop),
    ]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def test_a_store_collected_in_one_process_serves_a_router_in_another(
    redis_url: str, index_name: str
) -> None:
    collected = result(run(redis_url, index_name, "collect", 0, 30))
    assert collected == {"learned": 30, "skipped": 0, "teacher_calls": 30}
    # another process: the 30 stored inputs go to the student, 10 new ones to the teacher
    served = result(run(redis_url, index_name, "serve", 0, 40))
    assert served == {
        "student": 30,
        "teacher": 10,
        "learned": 10,
        "correct": 40,
        "teacher_calls": 10,
    }
    # a third process resuming the collection asks the teacher about nothing
    resumed = result(run(redis_url, index_name, "collect", 0, 40))
    assert resumed == {"learned": 0, "skipped": 40, "teacher_calls": 0}
    store = MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    assert len(store) == 40


def test_two_processes_learning_at_once_share_what_they_learn(
    redis_url: str, index_name: str
) -> None:
    first, second = (
        run(redis_url, index_name, "serve", 0, 25),
        run(redis_url, index_name, "serve", 25, 50),
    )
    assert result(first)["learned"] == 25
    assert result(second)["learned"] == 25
    store = MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    assert len(store) == 50
    # this process's router now answers all 50 from the shared store, without the teacher
    calls: list[Any] = []
    router = TeacherStudentRouter(
        teacher=RunnableLambda(lambda x: calls.append(x) or teacher_rule(x)),
        student=RunnableLambda(lambda x: x["examples"][0]["output"]),
        selector=store,
        route=SimilarityPolicy(min_score=1.0),
    )
    inputs = [item(i) for i in range(50)]
    assert router.batch(inputs) == [teacher_rule(x) for x in inputs]
    assert calls == []
    assert router.stats.student.calls == 50


async def test_async_router_over_redis(redis_url: str, index_name: str) -> None:
    store = MinHashExampleSelector(
        redis_url=redis_url, index_name=index_name, input_keys=["question"], k=3
    )
    router = TeacherStudentRouter(
        teacher=RunnableLambda(teacher_rule),
        student=RunnableLambda(lambda x: x["examples"][0]["output"]),
        selector=store,
        route=SimilarityPolicy(min_score=1.0),
    )
    inputs = [item(i) for i in range(20)]
    assert await router.abatch(inputs) == [teacher_rule(x) for x in inputs]
    assert await router.abatch(inputs) == [teacher_rule(x) for x in inputs]
    stats = router.stats
    assert (stats.teacher.calls, stats.student.calls, stats.learned) == (20, 20, 20)
    assert len(store) == 20


def test_a_redis_store_lacking_output_key_is_rejected_on_selection(
    redis_url: str, index_name: str
) -> None:
    store = MinHashExampleSelector(
        redis_url=redis_url, index_name=index_name, input_keys=["question"]
    )
    store.add_examples([item(i) | {"label": "x"} for i in range(3)])
    router = TeacherStudentRouter(
        teacher=RunnableLambda(teacher_rule),
        student=RunnableLambda(lambda x: "s"),
        selector=store,
    )  # no full read of a Redis store at construction
    with pytest.raises(MissingKeyError, match="'output'"):
        router.invoke(item(1))
