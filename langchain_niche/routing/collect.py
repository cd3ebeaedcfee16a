"""Bootstrap an example store from a batch of inputs answered by the teacher.

Resumable: an input whose compared fields are already stored (by an earlier,
interrupted run, another process sharing a Redis store, or earlier in the same
batch) is skipped without calling the teacher, and answers are stored chunk by
chunk, so a run that stops keeps what it collected.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import ensure_config, patch_config

from langchain_niche._progress import ProgressUpdate
from langchain_niche._progress import progress as show_progress
from langchain_niche._sansio import Call, arun_calls, run_calls
from langchain_niche._validation import require_integer_at_least
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.routing.answers import (
    NonText,
    answer_text,
    fingerprint,
    input_fields,
    query_of,
)
from langchain_niche.routing.errors import RoutingError, TeacherError
from langchain_niche.routing.store import AcceptFn, already_stored, check_selector

__all__ = ["CollectFailure", "CollectReport", "acollect_examples", "collect_examples"]


@dataclass(frozen=True)
class CollectFailure:
    """An input the teacher failed on (nothing stored for it)."""

    index: int
    """Position in ``inputs``."""
    input: dict[str, Any]
    error: RoutingError
    """A :class:`TeacherError` (cause chained) or an ``AnswerFormatError``."""


@dataclass(frozen=True)
class CollectReport:
    """What :func:`collect_examples` did."""

    total: int
    """Inputs given."""
    learned: int = 0
    """Teacher answers stored."""
    skipped: int = 0
    """Inputs already stored (earlier run, other process, repeated in the batch)."""
    rejected: int = 0
    """Teacher answers refused by ``accept``."""
    failed: list[CollectFailure] = field(default_factory=list)
    """Inputs the teacher failed on; run again to retry them."""
    ids: list[str] = field(default_factory=list)
    """Ids of the stored examples."""


def _check_args(
    teacher: Any, inputs: Any, selector: Any, max_concurrency: Any, output_key: Any
) -> tuple[Runnable[Any, Any], list[Any]]:
    if isinstance(teacher, Runnable):
        runnable: Runnable[Any, Any] = teacher
    elif callable(teacher):
        runnable = RunnableLambda(teacher, name="teacher")
    else:
        msg = f"teacher must be a Runnable or a callable, got {type(teacher).__name__} {preview(teacher)}"
        raise InvalidParameterError(msg, name="teacher", value=teacher)
    if isinstance(inputs, Mapping | str) or not isinstance(inputs, Iterable):
        msg = f"inputs must be an iterable of input dicts, got {preview(inputs)}"
        raise InvalidParameterError(msg, name="inputs", value=inputs)
    require_integer_at_least("max_concurrency", max_concurrency, 1)
    if not isinstance(output_key, str) or not output_key:
        msg = f"output_key must be a non-empty field name, got {preview(output_key)}"
        raise InvalidParameterError(msg, name="output_key", value=output_key)
    check_selector(selector, output_key)
    return runnable, list(inputs)


@dataclass
class _Collector:
    """One collection: its checked arguments, bookkeeping and steps (no I/O of its own)."""

    teacher: Any
    inputs: Iterable[Any]
    selector: Any
    max_concurrency: int
    input_keys: Sequence[str] | None
    output_key: str
    accept: AcceptFn | None
    non_text: NonText
    runnable: Runnable[Any, Any] = field(init=False)
    """The teacher as a Runnable."""
    items: list[Any] = field(init=False)
    """The inputs, checked."""
    seen: set[str] = field(default_factory=set)
    learned: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: list[CollectFailure] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runnable, self.items = _check_args(
            self.teacher, self.inputs, self.selector, self.max_concurrency, self.output_key
        )

    def queries(self, chunk: range) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for i in chunk:
            keys = input_fields(self.items[i], self.input_keys, self.output_key)
            out.append((i, query_of(self.items[i], keys)))
        return out

    def todo(
        self,
        queries: list[tuple[int, dict[str, Any]]],
        scored: list[list[tuple[dict[str, Any], float]]],
    ) -> list[tuple[int, dict[str, Any]]]:
        """Inputs that still need the teacher (the rest are counted as skipped)."""
        out = []
        for (i, query), found in zip(queries, scored, strict=True):
            key = fingerprint(query)
            if key in self.seen or already_stored(query, found):
                self.skipped += 1
                continue
            self.seen.add(key)
            out.append((i, query))
        return out

    def examples(
        self, todo: list[tuple[int, dict[str, Any]]], outputs: list[Any]
    ) -> list[dict[str, Any]]:
        """Turn teacher outputs into examples to store (failures and rejections recorded)."""
        out = []
        for (i, query), output in zip(todo, outputs, strict=True):
            if isinstance(output, Exception):
                msg = f"the teacher failed on input {i} {preview(query)}: {type(output).__name__}: {output}"
                error = TeacherError(msg, input=query)
                error.__cause__ = output
                self.failed.append(CollectFailure(i, query, error))
                self.seen.discard(fingerprint(query))
                continue
            try:
                answer = answer_text(output, route="teacher", non_text=self.non_text, inputs=query)
            except RoutingError as exc:
                self.failed.append(CollectFailure(i, query, exc))
                self.seen.discard(fingerprint(query))
                continue
            if self.accept is not None and not self.accept(dict(query), answer):
                self.rejected += 1
                continue
            out.append({**query, self.output_key: answer})
        return out

    def stored(self, ids: list[str]) -> None:
        self.learned += len(ids)
        self.ids.extend(ids)

    def collecting(
        self, config: RunnableConfig | None, progress: bool
    ) -> Generator[Call, Any, CollectReport]:
        """Look up, ask and store chunk by chunk (sans I/O: the selector and teacher calls)."""
        with show_progress(len(self.items), _PROGRESS, enabled=progress, unit="input") as update:
            yield from self._chunks(config, update)
        return self.report()

    def _chunks(
        self, config: RunnableConfig | None, update: ProgressUpdate
    ) -> Generator[Call, Any, None]:
        runnable, selector = self.runnable, self.selector
        config = patch_config(ensure_config(config), max_concurrency=self.max_concurrency)
        step = self.max_concurrency * 4
        for start in range(0, len(self.items), step):
            chunk = range(start, min(start + step, len(self.items)))
            queries = self.queries(chunk)
            scored = []
            for _, query in queries:
                scored.append(
                    (yield _selector_call(selector, "select_examples_with_scores", query))
                )
            todo = self.todo(queries, scored)
            if todo:
                asked = [self.items[i] for i, _ in todo]
                outputs = yield Call(
                    runnable.batch, runnable.abatch, (asked, config), {"return_exceptions": True}
                )
                examples = self.examples(todo, outputs)
                if examples:
                    self.stored(list((yield _selector_call(selector, "add_examples", examples))))
            update(len(chunk))

    def report(self) -> CollectReport:
        return CollectReport(
            total=len(self.items),
            learned=self.learned,
            skipped=self.skipped,
            rejected=self.rejected,
            failed=self.failed,
            ids=self.ids,
        )


_PROGRESS = "collecting teacher answers"


def _selector_call(selector: Any, method: str, argument: Any) -> Call:
    """Call the selector's ``method`` (its ``a``-prefixed twin in async code)."""
    return Call(getattr(selector, method), getattr(selector, f"a{method}"), (argument,))


def collect_examples(
    teacher: Runnable[Any, Any] | Any,
    inputs: Iterable[dict[str, Any]],
    selector: Any,
    *,
    max_concurrency: int = 4,
    input_keys: Sequence[str] | None = None,
    output_key: str = "output",
    accept: AcceptFn | None = None,
    non_text: NonText = "json",
    progress: bool = True,
    config: RunnableConfig | None = None,
) -> CollectReport:
    """Ask the teacher about inputs and store its answers as examples in ``selector``.

    Inputs already stored (same compared fields) are skipped, so running it
    again after an interruption (or from another process on a shared Redis
    store) only asks about what is missing. Teacher failures do not stop the run:
    they are reported and nothing is stored for them.

    Args:
        teacher: Any Runnable taking the input dict (or a callable).
        inputs: Input dicts.
        selector: The store (Jaccard, MinHash in memory or Redis, Hybrid).
        max_concurrency: Teacher calls in flight at once.
        input_keys: Compared and stored fields (default: every field of each input).
        output_key: The answer field of the stored examples.
        accept: ``accept(input, answer) -> bool`` gates what is stored.
        non_text: ``"json"`` or ``"reject"`` for answers that are not text.
        progress: Show a progress bar (tqdm when installed, the ``cli`` extra;
            otherwise a line on stderr now and then).
        config: Passed to the teacher (callbacks, tags ...).

    Returns:
        A :class:`CollectReport`.

    Example:
        ```python
        from langchain_niche import JaccardExampleSelector, collect_examples

        store = JaccardExampleSelector(input_keys=["q"])
        report = collect_examples(lambda x: x["q"].upper(), [{"q": "a"}, {"q": "b"}], store, progress=False)
        report.learned  # 2
        collect_examples(lambda x: x["q"].upper(), [{"q": "a"}], store, progress=False).skipped  # 1
        ```
    """
    run = _Collector(
        teacher, inputs, selector, max_concurrency, input_keys, output_key, accept, non_text
    )
    report: CollectReport = run_calls(run.collecting(config, progress))
    return report


async def acollect_examples(
    teacher: Runnable[Any, Any] | Any,
    inputs: Iterable[dict[str, Any]],
    selector: Any,
    *,
    max_concurrency: int = 4,
    input_keys: Sequence[str] | None = None,
    output_key: str = "output",
    accept: AcceptFn | None = None,
    non_text: NonText = "json",
    progress: bool = True,
    config: RunnableConfig | None = None,
) -> CollectReport:
    """Async twin of :func:`collect_examples` (``abatch``, native async Redis)."""
    run = _Collector(
        teacher, inputs, selector, max_concurrency, input_keys, output_key, accept, non_text
    )
    report: CollectReport = await arun_calls(run.collecting(config, progress))
    return report
