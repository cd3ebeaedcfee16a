"""Evaluating PEARL on a dataset: accuracy, model calls and tokens per question.

:func:`load_quality_jsonl` reads the QuALITY dataset's JSON-lines files (one
article per line with its questions, options and 1-based ``gold_label``), the
setup of the PEARL paper, so anyone with an API key can reproduce it::

    data = load_quality_jsonl("QuALITY.v1.0.1.htmlstripped.dev", difficult_only=True)
    report = evaluate(PEARL(ChatOpenAI(model="gpt-4o")), data[:50])
    print(report.accuracy, report.model_calls_per_question)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from langchain_niche.pearl.errors import SavedFileError
from langchain_niche.pearl.grading import agrade, check_rows, grade, row_input
from langchain_niche.pearl.runnable import PEARL
from langchain_niche.pearl.trace import PEARLResult

__all__ = ["EvaluationItem", "EvaluationReport", "aevaluate", "evaluate", "load_quality_jsonl"]


class EvaluationItem(BaseModel):
    """The outcome of one question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    question: str
    expected: str
    answer: str | None = None
    correct: bool = False
    fallback_used: bool = False
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    """The exception, when the question failed (it then counts as wrong)."""


class EvaluationReport(BaseModel):
    """Accuracy and cost over a dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    questions: int
    correct: int
    accuracy: float
    """``correct / questions`` (failed questions count as wrong)."""
    errors: int
    """Questions that raised."""
    fallback_rate: float
    """Share of answered questions that needed the zero-shot fallback."""
    model_calls_per_question: float
    input_tokens_per_question: float
    output_tokens_per_question: float
    seconds_per_question: float
    items: list[EvaluationItem] = Field(default_factory=list)


def _items(
    rows: list[Mapping[str, Any]], outcomes: list[Any], verdicts: list[bool]
) -> list[EvaluationItem]:
    items = []
    for index, (row, outcome, correct) in enumerate(zip(rows, outcomes, verdicts, strict=True)):
        base = {"index": index, "question": row["question"], "expected": str(row["answer"])}
        if isinstance(outcome, PEARLResult):
            items.append(
                EvaluationItem(
                    **base,
                    answer=outcome.answer,
                    correct=correct,
                    fallback_used=outcome.fallback_used,
                    model_calls=outcome.usage.model_calls,
                    input_tokens=outcome.usage.input_tokens,
                    output_tokens=outcome.usage.output_tokens,
                    seconds=outcome.seconds,
                )
            )
        else:
            items.append(EvaluationItem(**base, error=f"{type(outcome).__name__}: {outcome}"))
    return items


def _report(items: list[EvaluationItem]) -> EvaluationReport:
    n = len(items)
    answered = [i for i in items if i.error is None]

    def per(values: Iterable[float]) -> float:
        return sum(values) / n if n else 0.0

    return EvaluationReport(
        questions=n,
        correct=sum(i.correct for i in items),
        accuracy=per(float(i.correct) for i in items),
        errors=n - len(answered),
        fallback_rate=sum(i.fallback_used for i in answered) / len(answered) if answered else 0.0,
        model_calls_per_question=per(i.model_calls for i in items),
        input_tokens_per_question=per(i.input_tokens for i in items),
        output_tokens_per_question=per(i.output_tokens for i in items),
        seconds_per_question=per(i.seconds for i in items),
        items=items,
    )


def evaluate(
    pearl: PEARL,
    dataset: Iterable[Mapping[str, Any]],
    *,
    judge: Runnable[Any, Any] | None = None,
    max_concurrency: int = 4,
    config: RunnableConfig | None = None,
) -> EvaluationReport:
    """Run PEARL over a dataset and report accuracy and cost.

    Args:
        pearl: The PEARL runnable.
        dataset: ``{"question", "document", "answer"}`` dicts, optionally with
            ``"options"`` (then ``answer`` is an option index, letter or text), e.g.
            from :func:`load_quality_jsonl`.
        judge: Decides free-form answers (see :func:`~langchain_niche.pearl.grading.grade`).
        max_concurrency: Questions answered at once.
        config: Config for every call.

    Returns:
        The report; a question that raised counts as wrong and its error is kept.
    """
    rows = check_rows(dataset, "dataset")
    batch_config: RunnableConfig = {**(config or {}), "max_concurrency": max_concurrency}
    outcomes = pearl.batch([row_input(r) for r in rows], batch_config, return_exceptions=True)
    verdicts = [
        isinstance(outcome, PEARLResult)
        and grade(outcome, row["answer"], options=row.get("options"), judge=judge, config=config)
        for row, outcome in zip(rows, outcomes, strict=True)
    ]
    return _report(_items(rows, outcomes, verdicts))


async def aevaluate(
    pearl: PEARL,
    dataset: Iterable[Mapping[str, Any]],
    *,
    judge: Runnable[Any, Any] | None = None,
    max_concurrency: int = 4,
    config: RunnableConfig | None = None,
) -> EvaluationReport:
    """Async twin of :func:`evaluate`."""
    rows = check_rows(dataset, "dataset")
    batch_config: RunnableConfig = {**(config or {}), "max_concurrency": max_concurrency}
    outcomes = await pearl.abatch(
        [row_input(r) for r in rows], batch_config, return_exceptions=True
    )
    verdicts = [
        isinstance(outcome, PEARLResult)
        and await agrade(
            outcome, row["answer"], options=row.get("options"), judge=judge, config=config
        )
        for row, outcome in zip(rows, outcomes, strict=True)
    ]
    return _report(_items(rows, outcomes, verdicts))


def load_quality_jsonl(
    path: str | os.PathLike[str], *, difficult_only: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    """Read a QuALITY JSON-lines file into PEARL evaluation rows.

    Each line is an article (``article_id``, ``title``, ``article``, ``questions``);
    each question has ``question``, four ``options`` and, outside the test split, a
    1-based ``gold_label``.

    Args:
        path: The ``.jsonl`` file (e.g. ``QuALITY.v1.0.1.htmlstripped.dev``).
        difficult_only: Keep only questions marked ``difficult`` (the hard subset).
        limit: Stop after this many questions.

    Returns:
        ``{"id", "question", "document", "options", "answer", "difficult",
        "article_id", "title"}`` dicts; ``answer`` is the gold option's text
        (``None`` when the file has no labels).

    Raises:
        SavedFileError: A line is not JSON or lacks the QuALITY fields (the
            message names the line).
    """
    rows: list[dict[str, Any]] = []
    source = Path(path)
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                article = json.loads(line)
                text = article["article"]
                questions = article["questions"]
                for q in questions:
                    options = [str(o) for o in q["options"]]
                    gold = q.get("gold_label")
                    if gold is not None and not 1 <= int(gold) <= len(options):
                        msg = f"gold_label {gold} is outside 1..{len(options)}"
                        raise ValueError(msg)
                    difficult = bool(q.get("difficult", 0))
                    if difficult_only and not difficult:
                        continue
                    rows.append(
                        {
                            "id": q.get(
                                "question_unique_id", f"{article.get('article_id')}-{len(rows)}"
                            ),
                            "question": str(q["question"]),
                            "document": str(text),
                            "options": options,
                            "answer": options[int(gold) - 1] if gold is not None else None,
                            "difficult": difficult,
                            "article_id": article.get("article_id"),
                            "title": article.get("title"),
                        }
                    )
                    if limit is not None and len(rows) >= limit:
                        return rows
            except (ValueError, KeyError, TypeError) as exc:
                msg = f"{source}, line {number}: not a QuALITY record ({type(exc).__name__}: {exc})"
                raise SavedFileError(msg, path=str(source)) from exc
    return rows
