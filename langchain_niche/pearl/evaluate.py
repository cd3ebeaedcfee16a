"""Evaluating PEARL on a dataset, side by side with the zero-shot baseline.

:func:`evaluate` runs a PEARL (or :class:`~langchain_niche.pearl.ZeroShotQA`)
Runnable over labelled rows and reports the PEARL paper's columns: accuracy with
a bootstrap interval, model calls, prompt and completion tokens and cost per
question, the histogram of planning attempts and the fallback rate.
:func:`compare` runs several Runnables on the same rows and
:func:`format_reports` prints them side by side::

    rows = load_quality_jsonl("QuALITY.v1.0.1.htmlstripped.dev", context="long")
    reports = compare(
        {"PEARL": PEARL(llm, prompt_style="paper"), "zero-shot": ZeroShotQA(llm)}, rows[:50]
    )
    print(format_reports(reports))

``python benchmarks/eval_pearl_quality.py`` does this from the command line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from langchain_niche._sansio import adrive, drive
from langchain_niche._validation import require_integer_at_least
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.pearl.grading import agrade, check_rows, expected_option, grade, row_input
from langchain_niche.pearl.quality import load_quality_jsonl
from langchain_niche.pearl.trace import PEARLResult

__all__ = [
    "EvaluationItem",
    "EvaluationReport",
    "aevaluate",
    "bootstrap_interval",
    "compare",
    "evaluate",
    "format_reports",
    "load_quality_jsonl",
]


class EvaluationItem(BaseModel):
    """The outcome of one question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    """Position of the row in the dataset."""
    question: str
    expected: str
    """The expected answer as text (``""`` for an unlabelled row)."""
    expected_index: int | None = None
    """The gold option's 0-based index (rows with options)."""
    answer: str | None = None
    option_index: int | None = None
    """The chosen option's 0-based index."""
    correct: bool | None = False
    """Whether the answer is right (``None``: the row has no answer to grade)."""
    fallback_used: bool = False
    plan_attempts: int = 0
    """Plans requested for this question (0 for the zero-shot baseline)."""
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    """The exception, when the question failed (it then counts as wrong)."""


class EvaluationReport(BaseModel):
    """Accuracy and cost over a dataset (the PEARL paper's columns)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    questions: int
    labelled: int = 0
    """Questions with an expected answer (the others are predictions only)."""
    correct: int
    accuracy: float | None
    """``correct / labelled`` (failed questions count as wrong; ``None`` when no
    row has an answer)."""
    accuracy_interval: tuple[float, float] | None = None
    """95% percentile-bootstrap interval of the accuracy (``None`` without labels)."""
    errors: int
    """Questions that raised."""
    fallback_rate: float
    """Share of answered questions that needed the zero-shot fallback."""
    plan_attempt_histogram: dict[int, int] = Field(default_factory=dict)
    """``{planning attempts: questions}`` over answered questions (empty for the
    zero-shot baseline)."""
    model_calls_per_question: float
    input_tokens_per_question: float
    """Prompt tokens."""
    output_tokens_per_question: float
    """Completion tokens."""
    cost_per_question: float | None = None
    """In the currency of ``prices`` (``None`` when no prices were given)."""
    tokens_estimated: bool = False
    """Some token counts were estimated (a model reported no usage)."""
    seconds_per_question: float
    items: list[EvaluationItem] = Field(default_factory=list)


def bootstrap_interval(
    outcomes: Sequence[bool], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of a mean of right/wrong outcomes.

    Args:
        outcomes: One bool per graded question.
        confidence: Coverage of the interval.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling (the interval is reproducible).

    Returns:
        ``(low, high)``; ``(mean, mean)`` when every outcome is the same.

    Raises:
        InvalidParameterError: No outcomes, or ``confidence`` not in (0, 1).
    """
    if not outcomes:
        msg = "bootstrap_interval needs at least one outcome, got none"
        raise InvalidParameterError(msg, name="outcomes", value=outcomes)
    if not 0.0 < confidence < 1.0:
        msg = f"confidence must be in (0, 1), got {preview(confidence)}"
        raise InvalidParameterError(msg, name="confidence", value=confidence)
    require_integer_at_least("resamples", resamples, 1)
    values = np.asarray(outcomes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _check_prices(prices: Any) -> tuple[float, float] | None:
    if prices is None:
        return None
    if (
        not isinstance(prices, tuple | list)
        or len(prices) != 2
        or not all(
            isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in prices
        )
    ):
        msg = (
            "prices must be (input, output) prices per million tokens, two numbers >= 0, "
            f"got {preview(prices)}"
        )
        raise InvalidParameterError(msg, name="prices", value=prices)
    return float(prices[0]), float(prices[1])


def _expected(rows: list[Mapping[str, Any]]) -> list[int | None]:
    """Resolve every labelled row's gold option before any model call."""
    out: list[int | None] = []
    for index, row in enumerate(rows):
        options = row.get("options")
        if row["answer"] is None or not options:
            out.append(None)
            continue
        try:
            wanted = expected_option(row["answer"], options)
        except InvalidParameterError as exc:
            msg = f"dataset[{index}]: {exc}"
            raise InvalidParameterError(msg, name="dataset", value=row["answer"]) from exc
        if wanted is None:
            msg = (
                f"dataset[{index}]: expected answer {preview(row['answer'])} is not an option "
                f"index, letter or option text of {preview(list(options))}"
            )
            raise InvalidParameterError(msg, name="dataset", value=row["answer"])
        out.append(wanted)
    return out


def _expected_text(row: Mapping[str, Any], wanted: int | None) -> str:
    if wanted is not None:
        return str(row["options"][wanted])
    return "" if row["answer"] is None else str(row["answer"])


def _item(
    index: int, row: Mapping[str, Any], wanted: int | None, outcome: Any, correct: bool | None
) -> EvaluationItem:
    base: dict[str, Any] = {
        "index": index,
        "question": str(row["question"]),
        "expected": _expected_text(row, wanted),
        "expected_index": wanted,
    }
    if not isinstance(outcome, PEARLResult):
        failed = None if row["answer"] is None else False
        return EvaluationItem(**base, correct=failed, error=f"{type(outcome).__name__}: {outcome}")
    return EvaluationItem(
        **base,
        answer=outcome.answer,
        option_index=outcome.option_index,
        correct=correct,
        fallback_used=outcome.fallback_used,
        plan_attempts=len(outcome.plan_attempts),
        model_calls=outcome.usage.model_calls,
        input_tokens=outcome.usage.input_tokens,
        output_tokens=outcome.usage.output_tokens,
        seconds=outcome.seconds,
    )


def _report(
    items: list[EvaluationItem], prices: tuple[float, float] | None, estimated: bool
) -> EvaluationReport:
    n = len(items)
    answered = [i for i in items if i.error is None]
    graded = [bool(i.correct) for i in items if i.correct is not None]

    def per(values: Iterable[float]) -> float:
        return sum(values) / n if n else 0.0

    input_tokens = per(i.input_tokens for i in items)
    output_tokens = per(i.output_tokens for i in items)
    cost = None
    if prices is not None:
        cost = (input_tokens * prices[0] + output_tokens * prices[1]) / 1_000_000
    histogram = Counter(i.plan_attempts for i in answered if i.plan_attempts)
    return EvaluationReport(
        questions=n,
        labelled=len(graded),
        correct=sum(graded),
        accuracy=sum(graded) / len(graded) if graded else None,
        accuracy_interval=bootstrap_interval(graded) if graded else None,
        errors=n - len(answered),
        fallback_rate=sum(i.fallback_used for i in answered) / len(answered) if answered else 0.0,
        plan_attempt_histogram=dict(sorted(histogram.items())),
        model_calls_per_question=per(i.model_calls for i in items),
        input_tokens_per_question=input_tokens,
        output_tokens_per_question=output_tokens,
        cost_per_question=cost,
        tokens_estimated=estimated,
        seconds_per_question=per(i.seconds for i in items),
        items=items,
    )


def _estimated(outcomes: list[Any]) -> bool:
    return any(isinstance(o, PEARLResult) and o.usage.estimated for o in outcomes)


class _Evaluation:
    """A checked dataset and the grading of its outcomes (shared by the sync and async twins)."""

    def __init__(
        self,
        dataset: Iterable[Mapping[str, Any]],
        prices: tuple[float, float] | None,
        max_concurrency: int,
        config: RunnableConfig | None,
    ) -> None:
        self.rows = check_rows(dataset, "dataset")
        self.wanted = _expected(self.rows)
        self.cost = _check_prices(prices)
        self.inputs = [row_input(r) for r in self.rows]
        self.batch_config: RunnableConfig = {**(config or {}), "max_concurrency": max_concurrency}

    def grading(
        self, outcomes: list[Any]
    ) -> Generator[tuple[PEARLResult, Mapping[str, Any]], bool, EvaluationReport]:
        """The report, sans I/O.

        An answer that needs :func:`~langchain_niche.pearl.grading.grade` (not an
        option match) is yielded as ``(result, row)``; the reply is whether it is right.
        """
        items = []
        rows = zip(self.rows, self.wanted, outcomes, strict=True)
        for index, (row, gold, outcome) in enumerate(rows):
            correct: bool | None = None
            if isinstance(outcome, PEARLResult) and row["answer"] is not None:
                if gold is not None and outcome.option_index is not None:
                    correct = outcome.option_index == gold
                else:
                    correct = yield outcome, row
            items.append(_item(index, row, gold, outcome, correct))
        return _report(items, self.cost, _estimated(outcomes))


def evaluate(
    pearl: Runnable[Any, Any],
    dataset: Iterable[Mapping[str, Any]],
    *,
    judge: Runnable[Any, Any] | None = None,
    max_concurrency: int = 4,
    prices: tuple[float, float] | None = None,
    config: RunnableConfig | None = None,
) -> EvaluationReport:
    """Run PEARL (or :class:`~langchain_niche.pearl.ZeroShotQA`) over a dataset.

    Args:
        pearl: A PEARL or ZeroShotQA Runnable (anything returning ``PEARLResult``).
        dataset: ``{"question", "document", "answer"}`` dicts, optionally with
            ``"options"`` (then ``answer`` is the gold option's 0-based index, as
            :func:`load_quality_jsonl` gives it, or an unambiguous letter or
            option text). ``answer=None`` marks an unlabelled row: it is answered
            but not graded.
        judge: Decides free-form answers (see :func:`~langchain_niche.pearl.grading.grade`).
        max_concurrency: Questions answered at once.
        prices: ``(input, output)`` prices per million tokens, for
            ``cost_per_question``.
        config: Config for every call.

    Returns:
        The report; a question that raised counts as wrong and its error is kept.
        Without any labelled row, ``accuracy`` is ``None`` and the items are the
        predictions.

    Raises:
        MissingKeyError: A row lacks ``question``, ``document`` or ``answer``.
        InvalidParameterError: A row's answer designates no option or several
            (raised before the first model call).
    """
    run = _Evaluation(dataset, prices, max_concurrency, config)
    outcomes = pearl.batch(run.inputs, run.batch_config, return_exceptions=True)

    def judged(request: tuple[PEARLResult, Mapping[str, Any]]) -> bool:
        outcome, row = request
        return grade(outcome, row["answer"], options=row.get("options"), judge=judge, config=config)

    report: EvaluationReport = drive(run.grading(outcomes), judged)
    return report


async def aevaluate(
    pearl: Runnable[Any, Any],
    dataset: Iterable[Mapping[str, Any]],
    *,
    judge: Runnable[Any, Any] | None = None,
    max_concurrency: int = 4,
    prices: tuple[float, float] | None = None,
    config: RunnableConfig | None = None,
) -> EvaluationReport:
    """Async twin of :func:`evaluate`."""
    run = _Evaluation(dataset, prices, max_concurrency, config)
    outcomes = await pearl.abatch(run.inputs, run.batch_config, return_exceptions=True)

    async def judged(request: tuple[PEARLResult, Mapping[str, Any]]) -> bool:
        outcome, row = request
        options = row.get("options")
        return await agrade(outcome, row["answer"], options=options, judge=judge, config=config)

    report: EvaluationReport = await adrive(run.grading(outcomes), judged)
    return report


def compare(
    runnables: Mapping[str, Runnable[Any, Any]],
    dataset: Iterable[Mapping[str, Any]],
    **kwargs: Any,
) -> dict[str, EvaluationReport]:
    """Evaluate several Runnables on the same rows (e.g. PEARL and ZeroShotQA).

    Args:
        runnables: ``{name: runnable}``, in the order to report them.
        dataset: The rows (see :func:`evaluate`); every runnable gets the same.
        **kwargs: Passed to :func:`evaluate` (``judge``, ``max_concurrency``,
            ``prices``, ``config``).

    Returns:
        ``{name: report}``.
    """
    rows = check_rows(dataset, "dataset")
    _expected(rows)  # refuse bad labels before any model call
    return {name: evaluate(runnable, rows, **kwargs) for name, runnable in runnables.items()}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def format_reports(reports: Mapping[str, EvaluationReport]) -> str:
    """The reports side by side, one column each, as a Markdown table.

    Rows: questions, accuracy with its 95% bootstrap interval, errors, model
    calls, prompt and completion tokens and cost per question, fallback rate and
    the plan-attempt histogram.
    """
    names = list(reports)

    def cost(r: EvaluationReport) -> str:
        return "n/a" if r.cost_per_question is None else f"{r.cost_per_question:.4f}"

    def interval(r: EvaluationReport) -> str:
        if r.accuracy_interval is None:
            return "n/a"
        low, high = r.accuracy_interval
        return f"{low * 100:.1f}-{high * 100:.1f}%"

    def histogram(r: EvaluationReport) -> str:
        if not r.plan_attempt_histogram:
            return "-"
        return ", ".join(f"{k}: {v}" for k, v in r.plan_attempt_histogram.items())

    estimated = any(r.tokens_estimated for r in reports.values())
    lines_spec: list[tuple[str, Any]] = [
        ("questions (graded)", lambda r: f"{r.questions} ({r.labelled})"),
        ("accuracy", lambda r: _percent(r.accuracy)),
        ("95% bootstrap interval", interval),
        ("errors", lambda r: str(r.errors)),
        ("model calls / question", lambda r: f"{r.model_calls_per_question:.2f}"),
        ("prompt tokens / question", lambda r: f"{r.input_tokens_per_question:,.0f}"),
        ("completion tokens / question", lambda r: f"{r.output_tokens_per_question:,.0f}"),
        ("cost / question", cost),
        ("fallback rate", lambda r: _percent(r.fallback_rate) if r.plan_attempt_histogram else "-"),
        ("plan attempts: questions", histogram),
    ]
    table = [["", *names]] + [[label, *(fn(reports[n]) for n in names)] for label, fn in lines_spec]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out = []
    for number, row in enumerate(table):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if number == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if estimated:
        out.append("(token counts partly estimated: a model reported no usage)")
    return "\n".join(out)
