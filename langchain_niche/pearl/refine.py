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
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor

from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)
from langchain_niche.pearl.demonstrations import Demonstration
from langchain_niche.pearl.grading import agrade, grade
from langchain_niche.pearl.runnable import PEARL
from langchain_niche.pearl.trace import PEARLResult

__all__ = ["arefine_demonstrations", "refine_demonstrations"]

logger = logging.getLogger(__name__)


def _check_examples(examples: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    items = list(examples)
    for index, example in enumerate(items):
        if not isinstance(example, Mapping):
            msg = f"examples[{index}] must be a dict with 'question', 'document' and 'answer', got {preview(example)}"
            raise InvalidExampleError(msg, index=index)
        for key in ("question", "document", "answer"):
            if key not in example:
                msg = f"examples[{index}] has no {key!r}; it has {sorted(map(str, example))}"
                raise MissingKeyError(msg, index=index, key=key)
    return items


def _check_tries(max_tries: Any) -> None:
    if not isinstance(max_tries, int) or isinstance(max_tries, bool) or max_tries < 1:
        msg = f"max_tries must be an integer >= 1, got {preview(max_tries)}"
        raise InvalidParameterError(msg, name="max_tries", value=max_tries)


def _input(example: Mapping[str, Any], failed: list[str]) -> dict[str, Any]:
    data = {
        "question": example["question"],
        "document": example["document"],
        "avoid_plans": list(failed),
    }
    if example.get("options"):
        data["options"] = list(example["options"])
    return data


def _keep(example: Mapping[str, Any], result: PEARLResult) -> Demonstration:
    assert result.plan is not None
    return Demonstration(
        question=str(example["question"]), plan=result.plan.render(), answer=result.answer
    )


def _refine_one(
    pearl: PEARL,
    example: Mapping[str, Any],
    judge: Runnable[Any, Any] | None,
    max_tries: int,
    config: RunnableConfig | None,
) -> Demonstration | None:
    failed: list[str] = []
    for _ in range(max_tries):
        try:
            result = pearl.invoke(_input(example, failed), config)
        except Exception:
            logger.warning(
                "refinement of %r stopped by an error", example["question"], exc_info=True
            )
            return None
        if result.plan is None:
            continue
        if grade(
            result, example["answer"], options=example.get("options"), judge=judge, config=config
        ):
            return _keep(example, result)
        failed.append(result.plan.render())
    return None


async def _arefine_one(
    pearl: PEARL,
    example: Mapping[str, Any],
    judge: Runnable[Any, Any] | None,
    max_tries: int,
    config: RunnableConfig | None,
) -> Demonstration | None:
    failed: list[str] = []
    for _ in range(max_tries):
        try:
            result = await pearl.ainvoke(_input(example, failed), config)
        except Exception:
            logger.warning(
                "refinement of %r stopped by an error", example["question"], exc_info=True
            )
            return None
        if result.plan is None:
            continue
        if await agrade(
            result, example["answer"], options=example.get("options"), judge=judge, config=config
        ):
            return _keep(example, result)
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
    items = _check_examples(examples)
    _check_tries(max_tries)
    with ContextThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        found = list(pool.map(lambda e: _refine_one(pearl, e, judge, max_tries, config), items))
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
    items = _check_examples(examples)
    _check_tries(max_tries)
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def one(example: Mapping[str, Any]) -> Demonstration | None:
        async with gate:
            return await _arefine_one(pearl, example, judge, max_tries, config)

    found = await asyncio.gather(*(one(e) for e in items))
    return [demo for demo in found if demo is not None]
