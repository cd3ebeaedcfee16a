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

from langchain_niche._sansio import adrive, drive
from langchain_niche.errors import (
    InvalidParameterError,
    preview,
)
from langchain_niche.pearl.demonstrations import Demonstration
from langchain_niche.pearl.grading import agrade, check_rows, grade, row_input
from langchain_niche.pearl.runnable import PEARL
from langchain_niche.pearl.trace import PEARLResult

__all__ = ["arefine_demonstrations", "refine_demonstrations"]

logger = logging.getLogger(__name__)


def _check_tries(max_tries: Any) -> None:
    if not isinstance(max_tries, int) or isinstance(max_tries, bool) or max_tries < 1:
        msg = f"max_tries must be an integer >= 1, got {preview(max_tries)}"
        raise InvalidParameterError(msg, name="max_tries", value=max_tries)


def _refinement(
    example: Mapping[str, Any], max_tries: int
) -> Generator[tuple[str, Any], Any, Demonstration | None]:
    """The refinement of one example, sans I/O.

    Yields ``("invoke", input)`` (reply: a result; an error thrown in ends the
    example) and ``("grade", result)`` (reply: whether it is right); returns the
    demonstration.
    """
    failed: list[str] = []
    for _ in range(max_tries):
        try:
            result: PEARLResult = yield ("invoke", row_input(example, avoid_plans=list(failed)))
        except Exception:
            logger.warning(
                "refinement of %r stopped by an error", example["question"], exc_info=True
            )
            return None
        if result.plan is None:  # a zero-shot fallback has no plan to keep
            continue
        if (yield ("grade", result)):
            plan = result.plan.render()
            return Demonstration(question=str(example["question"]), plan=plan, answer=result.answer)
        failed.append(result.plan.render())
    return None


@dataclass(frozen=True)
class _Refiner:
    """Refines one example at a time: the requests of :func:`_refinement`, carried out."""

    pearl: PEARL
    judge: Runnable[Any, Any] | None
    max_tries: int
    config: RunnableConfig | None

    def refine(self, example: Mapping[str, Any]) -> Demonstration | None:
        def serve(request: tuple[str, Any]) -> Any:
            kind, value = request
            if kind == "invoke":
                return self.pearl.invoke(value, self.config)
            return grade(
                value,
                example["answer"],
                options=example.get("options"),
                judge=self.judge,
                config=self.config,
            )

        found: Demonstration | None = drive(_refinement(example, self.max_tries), serve)
        return found

    async def arefine(self, example: Mapping[str, Any]) -> Demonstration | None:
        async def serve(request: tuple[str, Any]) -> Any:
            kind, value = request
            if kind == "invoke":
                return await self.pearl.ainvoke(value, self.config)
            return await agrade(
                value,
                example["answer"],
                options=example.get("options"),
                judge=self.judge,
                config=self.config,
            )

        found: Demonstration | None = await adrive(_refinement(example, self.max_tries), serve)
        return found


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
    items = check_rows(examples, "examples")
    _check_tries(max_tries)
    refiner = _Refiner(pearl, judge, max_tries, config)
    with ContextThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        found = list(pool.map(refiner.refine, items))
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
    items = check_rows(examples, "examples")
    _check_tries(max_tries)
    refiner = _Refiner(pearl, judge, max_tries, config)
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def one(example: Mapping[str, Any]) -> Demonstration | None:
        async with gate:
            return await refiner.arefine(example)

    found = await asyncio.gather(*(one(e) for e in items))
    return [demo for demo in found if demo is not None]
