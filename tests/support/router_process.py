"""A separate process using a router over a shared Redis store (for the Redis router tests).

Usage: ``python -m tests.support.router_process URL INDEX MODE START STOP``

* ``collect``: ``collect_examples`` for inputs ``START .. STOP - 1``;
* ``serve``: a ``TeacherStudentRouter`` answers them (exact repeats go to the student).

Prints one JSON line: what this process did (report or stats, and the teacher's calls).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langchain_core.runnables import RunnableLambda

from langchain_niche import (
    MinHashExampleSelector,
    SimilarityPolicy,
    TeacherStudentRouter,
    collect_examples,
)


def item(i: int) -> dict[str, str]:
    """Input ``i``: distinct words, the answer is derivable (the teacher's rule)."""
    return {"question": f"ticket {i} about topic{i % 5} and item{i}"}


def teacher_rule(x: dict[str, Any]) -> str:
    return x["question"].split()[3].upper()


def main() -> None:
    url, index, mode, start, stop = sys.argv[1:6]
    store = MinHashExampleSelector(redis_url=url, index_name=index, input_keys=["question"], k=3)
    calls: list[str] = []

    def teacher(x: dict[str, Any]) -> str:
        calls.append(x["question"])
        return teacher_rule(x)

    inputs = [item(i) for i in range(int(start), int(stop))]
    if mode == "collect":
        report = collect_examples(RunnableLambda(teacher), inputs, store, progress=False)
        out: dict[str, Any] = {"learned": report.learned, "skipped": report.skipped}
    else:
        router = TeacherStudentRouter(
            teacher=RunnableLambda(teacher),
            student=RunnableLambda(lambda x: x["examples"][0]["output"]),
            selector=store,
            route=SimilarityPolicy(min_score=1.0),
        )
        answers = router.batch(inputs, config={"max_concurrency": 4})
        stats = router.stats
        out = {
            "student": stats.student.calls,
            "teacher": stats.teacher.calls,
            "learned": stats.learned,
            "correct": sum(a == teacher_rule(x) for a, x in zip(answers, inputs, strict=True)),
        }
    out["teacher_calls"] = len(calls)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
