"""A scripted 'model' for PEARL tests: it routes PEARL's prompts by kind.

Plans come from a list (the last one repeats); a step's reply is computed by a
function of the step's variable and prompt text; fallback, synthesis and option
prompts get fixed replies. Every reply is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_niche.pearl.prompts import FALLBACK_SYSTEM, PLANNER_SYSTEM, STEP_SYSTEM
from langchain_niche.testing import ScriptedCall, ScriptedChatModel

_STEP = re.compile(r"\[This step\]\n(\w+) = ")


def prompt_kind(messages: Sequence[BaseMessage]) -> tuple[str, str | None]:
    """``("plan" | "step" | "fallback" | "synthesis" | "options", step variable)``."""
    system = str(messages[0].text)
    text = "\n".join(str(m.text) for m in messages)
    if system == PLANNER_SYSTEM:
        return "plan", None
    if system == STEP_SYSTEM:
        found = _STEP.search(text)
        return "step", found.group(1) if found else None
    if system == FALLBACK_SYSTEM:
        if "[Answer options]" in text and "choose the best answer option" in text:
            return "options", None
        if "<findings-" in text or "The findings" in text:
            return "synthesis", None
        return "fallback", None
    return "other", None


class PearlScript:
    """Responder for :class:`ScriptedChatModel` that plays every PEARL role."""

    def __init__(
        self,
        plans: Sequence[str] | str,
        *,
        step: Callable[[str, str], Any] | None = None,
        option: str = "B",
        fallback: str = "zero-shot answer",
        synthesis: str = "synthesized answer",
    ) -> None:
        self.plans = [plans] if isinstance(plans, str) else list(plans)
        self.step = step or (lambda variable, prompt: f"<{variable}>")
        self.option = option
        self.fallback = fallback
        self.synthesis = synthesis
        self.plan_calls = 0

    def __call__(self, messages: list[BaseMessage], call: ScriptedCall) -> Any:
        kind, variable = prompt_kind(messages)
        if kind == "plan":
            plan = self.plans[min(self.plan_calls, len(self.plans) - 1)]
            self.plan_calls += 1
            return plan
        if kind == "step":
            return self.step(variable or "?", call.text)
        if kind == "options":
            return self.option
        if kind == "synthesis":
            return self.synthesis
        return self.fallback


def scripted(plans: Sequence[str] | str, **kwargs: Any) -> ScriptedChatModel:
    """A ScriptedChatModel answering PEARL prompts (``latency`` goes to the model)."""
    latency = kwargs.pop("latency", 0.0)
    return ScriptedChatModel(responder=PearlScript(plans, **kwargs), latency=latency)


def calls_of(model: ScriptedChatModel, kind: str) -> list[ScriptedCall]:
    """The recorded calls of one prompt kind."""
    return [c for c in model.calls if prompt_kind(c.messages)[0] == kind]


def step_calls(model: ScriptedChatModel, variable: str) -> list[ScriptedCall]:
    """The recorded calls of one step."""
    return [c for c in model.calls if prompt_kind(c.messages) == ("step", variable)]
