"""Self-refinement: keep the plans that lead to right answers as demonstrations.

For every training example PEARL plans and executes; when the answer is right
(option match, exact match or a judge) the plan becomes a demonstration. After a
wrong answer PEARL plans again, told which plans failed, up to ``max_tries``
times. Examples whose every try fails, or raises, contribute nothing; the others
are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor

from langchain_niche._sansio import Call, arun_calls, run_calls
from langchain_niche._validation import require_integer_at_least
from langchain_niche.pearl.demonstrations import Demonstration
from langchain_niche.pearl.grading import agrade, check_rows, grade, row_input
from langchain_niche.pearl.runnable import PEARL
from langchain_niche.pearl.trace import PEARLResult

__all__ = ["arefine_demonstrations", "refine_demonstrations"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Refinement:
    """A checked refinement run: one sans-I/O task per example, for both runners."""

    items: list[Mapping[str, Any]]
    pearl: PEARL
    judge: Runnable[Any, Any] | None
    max_tries: int
    config: RunnableConfig | None

    @classmethod
    def of(
        cls,
        pearl: PEARL,
        examples: Iterable[Mapping[str, Any]],
        judge: Runnable[Any, Any] | None,
        max_tries: int,
        config: RunnableConfig | None,
    ) -> _Refinement:
        items = check_rows(examples, "examples")
        require_integer_at_least("max_tries", max_tries, 1)
        return cls(items, pearl, judge, max_tries, config)

    def task(self, example: Mapping[str, Any]) -> Generator[Call, Any, Demonstration | None]:
        """The refinement of one example (PEARL and grading calls yielded); its demonstration."""
        failed: list[str] = []
        for _ in range(self.max_tries):
            try:
                asked = row_input(example, avoid_plans=list(failed))
                result: PEARLResult = yield Call.invoke(self.pearl, asked, self.config)
            except Exception:
                logger.warning(
                    "refinement of %r stopped by an error", example["question"], exc_info=True
                )
                return None
            if result.plan is None:  # a zero-shot fallback has no plan to keep
                continue
            grading = {
                "options": example.get("options"),
                "judge": self.judge,
                "config": self.config,
            }
            if (yield Call(grade, agrade, (result, example["answer"]), grading)):
                plan = result.plan.render()
                return Demonstration(
                    question=str(example["question"]), plan=plan, answer=result.answer
                )
            failed.append(result.plan.render())
        return None


def refine_demonstrations(
    pearl: PEARL,
    examples: Iterable[Mapping[str, Any]],
    judge: Runnable[Any, Any] | None = None,
    max_tries: int = 4,
    *,
    max_concurrency: int = 4,
    config: RunnableConfig | None = None,
) -> list[Demonstration]:
    """Keep the plans that answer training examples correctly.

    Args:
        pearl: The PEARL runnable (its current demonstrations guide the planning).
        examples: ``{"question", "document", "answer"}`` dicts, optionally with
            ``"options"`` (then ``answer`` is an option index, letter or text).
        judge: Decides free-form answers that are not an exact match (see
            :func:`~langchain_niche.pearl.grading.llm_judge`).
        max_tries: Plans tried per example.
        max_concurrency: Examples refined at once.
        config: Config for every call.

    Returns:
        One demonstration per example solved, in example order (plans in
        canonical form). Use ``PEARL(..., demonstrations=old + new)`` and
        :func:`~langchain_niche.pearl.save_demonstrations` to keep them.
    """
    run = _Refinement.of(pearl, examples, judge, max_tries, config)
    with ContextThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        found = list(pool.map(lambda example: run_calls(run.task(example)), run.items))
    return [demo for demo in found if demo is not None]


async def arefine_demonstrations(
    pearl: PEARL,
    examples: Iterable[Mapping[str, Any]],
    judge: Runnable[Any, Any] | None = None,
    max_tries: int = 4,
    *,
    max_concurrency: int = 4,
    config: RunnableConfig | None = None,
) -> list[Demonstration]:
    """Async twin of :func:`refine_demonstrations`."""
    run = _Refinement.of(pearl, examples, judge, max_tries, config)
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def one(example: Mapping[str, Any]) -> Demonstration | None:
        async with gate:
            found: Demonstration | None = await arun_calls(run.task(example))
            return found

    found = await asyncio.gather(*(one(e) for e in run.items))
    return [demo for demo in found if demo is not None]
