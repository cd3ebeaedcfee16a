"""The zero-shot baseline the PEARL paper compares against, as a Runnable.

:class:`ZeroShotQA` answers from the whole document in one call (split and
combined like a PEARL step when it does not fit ``max_context_tokens``), without
the answer options, then maps the free-form answer to an option with the same
call PEARL uses: the paper's generative baseline. It returns a
:class:`~langchain_niche.pearl.PEARLResult` without a plan, so
:func:`~langchain_niche.pearl.evaluate` grades and costs both the same way.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from langchain_niche.pearl.chunking import run_prompt
from langchain_niche.pearl.pipeline import QuestionRun
from langchain_niche.pearl.prompts import fallback_prompt
from langchain_niche.pearl.runnable import PEARL, PEARLInput
from langchain_niche.pearl.trace import PEARLResult, PlanAttempt, Usage

__all__ = ["ZeroShotQA"]


class _ZeroShotRun(QuestionRun):
    """A question run without planning: one open answer, then the option mapping."""

    def run(self) -> Generator[Any, Any, PEARLResult]:
        prompt = fallback_prompt(self.question, self.document, None, tag=self.tag)
        outcome = yield from self._prompt(run_prompt(prompt, self.budget, phase="fallback"))
        open_answer = answer = outcome.text
        answer, option_index = yield from self._choose_option(answer)
        attempts: list[PlanAttempt] = []
        result = self.result(
            answer, open_answer, option_index, plan_attempts=attempts, usage=Usage.total(self.usage)
        )
        yield self.event("answer", f"answer: {answer.strip()[:120]}", result=result)
        return result


class ZeroShotQA(PEARL):
    """Zero-shot question answering over a whole document (the paper's baseline).

    Takes the same input as :class:`~langchain_niche.pearl.PEARL` and returns a
    ``PEARLResult`` with no plan (``plan_attempts`` empty, ``fallback_used``
    ``False``). Model settings shared with PEARL (``max_context_tokens``,
    ``retry``, ``max_concurrency``, ``token_counter``) mean the same; planning
    settings are ignored.

    Example:
        ```python
        from langchain_niche.pearl import ZeroShotQA
        from langchain_niche.testing import ScriptedChatModel

        baseline = ZeroShotQA(ScriptedChatModel(responses=["She resigned over the budget.", "B"]))
        result = baseline.invoke(
            {"question": "Why?", "document": "...", "options": ["age", "the budget"]}
        )
        result.answer  # 'the budget'
        ```
    """

    def __init__(self, llm: Any = None, **kwargs: Any) -> None:
        """Create the baseline (``llm`` may be given positionally)."""
        kwargs.setdefault("demonstrations", [])
        super().__init__(llm, **kwargs)

    def _question_run(self, data: PEARLInput, demonstrations: list[tuple[str, str]]) -> QuestionRun:
        run = super()._question_run(data, [])
        zero_shot = _ZeroShotRun.__new__(_ZeroShotRun)
        zero_shot.__dict__.update(run.__dict__)
        return zero_shot
