"""Answering one question, written once for both the sync and the async runner.

:class:`QuestionRun` is sans-I/O: its methods are generators that yield requests
(:mod:`langchain_niche.pearl._protocol`) and receive results. Planning with
self-correction, the zero-shot fallback, each step's prompt and its map-reduce,
answer composition, synthesis and option mapping all live here;
:mod:`langchain_niche.pearl.execute` only performs the calls and schedules steps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_niche.pearl._protocol import Calls, Emit, RunPlan, TaskOutcome
from langchain_niche.pearl.actions import ActionSet
from langchain_niche.pearl.chunking import Budget, count_messages, run_prompt
from langchain_niche.pearl.errors import ContextBudgetError, PlanParseError, StepExecutionError
from langchain_niche.pearl.plan import Plan, PlanStep, parse_plan
from langchain_niche.pearl.prompts import (
    PromptStyle,
    correction_messages,
    document_tag,
    fallback_prompt,
    option_letter,
    options_prompt,
    planning_messages,
    step_prompt,
    synthesis_prompt,
)
from langchain_niche.pearl.trace import (
    EventType,
    PEARLEvent,
    PEARLResult,
    PlanAttempt,
    StepRecord,
    Usage,
)
from langchain_niche.text import default_tokenizer, jaccard

__all__ = ["QuestionRun", "RunSettings", "choose_option", "echo"]


@dataclass(frozen=True)
class RunSettings:
    """What a question run needs from the PEARL configuration."""

    actions: ActionSet
    max_plan_attempts: int
    max_steps: int
    synthesize_answer: bool
    budget_tokens: int | None
    prompt_style: PromptStyle = "grounded"
    plan_with_options: bool = False


_ECHO_HEAD = 3000
_ECHO_TAIL = 500
_ERROR_CHARS = 1000


def echo(text: str, head: int = _ECHO_HEAD, tail: int = _ECHO_TAIL) -> str:
    """``text`` as a correction prompt shows it: long texts keep their start and end.

    The middle of a text longer than ``head + tail`` characters is replaced by a
    visible marker saying how many characters were cut, so a huge invalid reply
    cannot push the correction prompt over the context budget.
    """
    if len(text) <= head + tail:
        return text
    cut = len(text) - head - tail
    marked = f"{text[:head]}\n[... {cut:,} characters cut ...]"
    return f"{marked}\n{text[len(text) - tail :]}" if tail else marked


_LETTER_ALONE = re.compile(r"\(?([A-Z])\)?[.):]?")
_LETTER_LEAD = re.compile(
    r"(?:(?:the\s+)?(?:best\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*)?\(?([A-Z])\)?(?:[.):]|\s|$)",
    re.IGNORECASE,
)


def choose_option(reply: str, options: Sequence[str]) -> tuple[int, str]:
    """Read the option a model chose from its reply.

    Tries, in order: a bare letter, a leading letter (``"B. ..."``, ``"Answer: B"``),
    exactly one option's text contained in the reply, and finally the option whose
    words overlap most with the reply (Jaccard).

    Args:
        reply: The model's reply.
        options: The options.

    Returns:
        ``(index, how)`` with ``how`` one of ``"letter"``, ``"text"``, ``"similarity"``.
    """
    text = reply.strip()
    for pattern in (_LETTER_ALONE, _LETTER_LEAD):
        found = pattern.fullmatch(text) if pattern is _LETTER_ALONE else pattern.match(text)
        if found:
            index = ord(found.group(1).upper()) - ord("A")
            if 0 <= index < len(options) and (pattern is _LETTER_ALONE or found.group(1).isupper()):
                return index, "letter"
    lowered = text.lower()
    contained = [
        i
        for i, option in enumerate(options)
        if option.strip() and option.strip().lower() in lowered
    ]
    if len(contained) == 1:
        return contained[0], "text"
    words = set(default_tokenizer(text))
    scores = [jaccard(words, set(default_tokenizer(option))) for option in options]
    return max(range(len(options)), key=lambda i: (scores[i], -i)), "similarity"


class QuestionRun:
    """The state and logic of answering one question."""

    def __init__(
        self,
        settings: RunSettings,
        budget: Budget,
        *,
        question: str,
        document: str,
        options: Sequence[str] | None,
        demonstrations: Sequence[tuple[str, str]],
        avoid_plans: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.question = question
        self.document = document
        self.options = list(options) if options else None
        self.demonstrations = list(demonstrations)
        self.avoid_plans = list(avoid_plans)
        self.tag = document_tag(document)
        self.started = time.perf_counter()
        self.usage: list[Usage] = []
        self.notes: list[str] = []
        self.plan: Plan | None = None
        self.records: list[StepRecord] = []

    # -- helpers -------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def event(self, kind: EventType, message: str, **fields: Any) -> Emit:
        """A progress event request."""
        return Emit(PEARLEvent(type=kind, message=message, seconds=self.elapsed(), **fields))

    def _attach(self, error: StepExecutionError) -> None:
        if error.plan is None:
            error.plan = self.plan
        if not error.completed_steps:
            error.completed_steps = list(self.records)

    def _prompt(self, gen: Generator[Any, Any, TaskOutcome]) -> Generator[Any, Any, TaskOutcome]:
        try:
            outcome = yield from gen
        except StepExecutionError as error:
            self._attach(error)
            raise
        self.usage.append(outcome.usage)
        self.notes.extend(outcome.notes)
        return outcome

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> Generator[Any, Any, PEARLResult]:
        """Plan (with self-correction), execute, compose and map the answer."""
        attempts: list[PlanAttempt] = []
        plan = yield from self.make_plan(attempts)
        self.plan = plan
        if plan is None:
            yield self.event(
                "fallback",
                f"no valid plan after {len(attempts)} attempts: answering zero-shot",
            )
            prompt = fallback_prompt(self.question, self.document, self.options, tag=self.tag)
            outcome = yield from self._prompt(run_prompt(prompt, self.budget, phase="fallback"))
            open_answer = outcome.text
        else:
            records: list[StepRecord] = yield RunPlan(plan)
            self.records = records
            self.usage.extend(r.usage for r in records)
            self.notes.extend(f"step {r.variable!r}: {note}" for r in records for note in r.notes)
            by_name = {r.variable: r for r in records}
            open_answer = "\n\n".join(
                by_name[s.variable].output.strip() for s in plan.final_steps()
            )
        answer = open_answer
        if self.settings.synthesize_answer:
            prompt = synthesis_prompt(self.question, open_answer, tag=self.tag)
            answer = (
                yield from self._prompt(run_prompt(prompt, self.budget, phase="synthesis"))
            ).text
        answer, option_index = yield from self._choose_option(answer)
        result = self.result(
            answer,
            open_answer,
            option_index,
            plan_text=plan.text if plan else None,
            plan=plan,
            steps=list(self.records),
            plan_attempts=attempts,
            fallback_used=plan is None,
            demonstrations=[q for q, _ in self.demonstrations],
            usage=Usage.total([a.usage for a in attempts] + self.usage),
        )
        shown = answer.strip()
        shown = shown if len(shown) <= 120 else shown[:119].rstrip() + "…"
        yield self.event("answer", f"answer: {shown}", result=result)
        return result

    def result(
        self, answer: str, open_answer: str, option_index: int | None, **fields: Any
    ) -> PEARLResult:
        """The run's result: the chosen answer and option, time and notes, and ``fields``."""
        return PEARLResult(
            question=self.question,
            answer=answer,
            open_answer=open_answer,
            option_index=option_index,
            option_label=option_letter(option_index) if option_index is not None else None,
            seconds=self.elapsed(),
            notes=list(self.notes),
            **fields,
        )

    def _choose_option(self, answer: str) -> Generator[Any, Any, tuple[str, int | None]]:
        """Map an open answer to one of the options (one model call); as is without options."""
        if not self.options:
            return answer, None
        prompt = options_prompt(self.question, answer, self.options, tag=self.tag)
        reply = (yield from self._prompt(run_prompt(prompt, self.budget, phase="options"))).text
        option_index, how = choose_option(reply, self.options)
        if how != "letter":
            self.notes.append(
                f"the option reply {reply.strip()[:80]!r} named no letter; option "
                f"{option_letter(option_index)} was chosen by {how}"
            )
        return self.options[option_index], option_index

    def _fits(self, messages: list[BaseMessage]) -> bool:
        limit = self.settings.budget_tokens
        return limit is None or count_messages(messages, self.budget.counter) <= limit

    def _fitting_demonstrations(
        self, build: Callable[[list[tuple[str, str]]], list[BaseMessage]]
    ) -> list[tuple[str, str]]:
        """The most similar demonstrations whose planning prompt fits the budget.

        Raises:
            ContextBudgetError: Even without demonstrations the prompt is too long.
        """
        shown = list(self.demonstrations)
        while not self._fits(build(shown)):
            if not shown:
                needed = count_messages(build([]), self.budget.counter)
                limit = self.settings.budget_tokens or 0
                msg = (
                    f"the planning prompt (actions, rules, question) needs {needed} tokens, over "
                    f"the {limit} max_context_tokens leaves for prompts; raise max_context_tokens"
                )
                raise ContextBudgetError(msg, needed=needed, budget=limit)
            shown.pop()  # the least similar one
        if len(shown) < len(self.demonstrations):
            note = (
                f"{len(self.demonstrations) - len(shown)} of {len(self.demonstrations)} "
                "demonstrations were left out of a planning prompt to fit max_context_tokens"
            )
            if note not in self.notes:
                self.notes.append(note)
        return shown

    def _correction(
        self,
        build: Callable[[list[tuple[str, str]]], list[BaseMessage]],
        base: list[BaseMessage],
        invalid: str,
        error: str,
        earlier: list[str],
    ) -> list[BaseMessage]:
        """The correction prompt, with fewer demonstrations if it would not fit.

        The invalid reply and the errors are echoed at most a few thousand
        characters long (:func:`echo`), so a huge reply cannot make it overflow.
        """
        invalid = echo(invalid)
        error = echo(error, _ERROR_CHARS, 0)
        earlier = [echo(e, _ERROR_CHARS, 0) for e in earlier]
        messages = correction_messages(base, invalid, error, earlier)
        if self._fits(messages):
            return messages

        def rebuilt(shown: list[tuple[str, str]]) -> list[BaseMessage]:
            return correction_messages(build(shown), invalid, error, earlier)

        return rebuilt(self._fitting_demonstrations(rebuilt))

    def make_plan(self, attempts: list[PlanAttempt]) -> Generator[Any, Any, Plan | None]:
        """Ask for a plan; send invalid ones back with every error so far.

        Returns:
            The accepted plan, or ``None`` after ``max_plan_attempts`` invalid ones.
        """

        def build(shown: list[tuple[str, str]]) -> list[BaseMessage]:
            return planning_messages(
                self.settings.actions,
                shown,
                self.question,
                options=self.options if self.settings.plan_with_options else None,
                avoid_plans=self.avoid_plans,
                style=self.settings.prompt_style,
            )

        base = build(self._fitting_demonstrations(build))
        messages = base
        errors: list[str] = []
        for number in range(1, self.settings.max_plan_attempts + 1):
            try:
                [reply] = yield Calls(
                    prompts=[messages], phase="plan", labels=[f"attempt {number}"], planner=True
                )
            except StepExecutionError as error:
                self._attach(error)
                raise
            try:
                plan = parse_plan(
                    reply.text, self.settings.actions, max_steps=self.settings.max_steps
                )
            except PlanParseError as error:
                attempt = PlanAttempt(
                    attempt=number,
                    text=reply.text,
                    error=str(error),
                    line=error.line,
                    usage=reply.usage,
                )
                attempts.append(attempt)
                yield self.event(
                    "plan_attempt", f"plan {number} rejected: {error}", attempt=attempt
                )
                messages = self._correction(build, base, reply.text, str(error), errors)
                errors.append(str(error))
                continue
            attempt = PlanAttempt(attempt=number, text=reply.text, usage=reply.usage)
            attempts.append(attempt)
            yield self.event("plan_attempt", f"plan {number} accepted", attempt=attempt)
            yield self.event(
                "plan",
                f"plan: {len(plan.steps)} steps in {plan.depth} rounds",
                plan=plan,
            )
            return plan
        return None

    def step_task(
        self, plan: Plan, step: PlanStep, values: dict[str, str]
    ) -> Generator[Calls, Any, TaskOutcome]:
        """Execute one step (``CONCAT`` locally, anything else with the model)."""
        action = plan.action(step)
        if action.is_local:
            joined = "\n".join(
                values[a.value] if a.kind == "variable" else a.value for a in step.arguments
            )
            return TaskOutcome(text=joined, usage=Usage())
        prompt = step_prompt(
            step,
            action,
            values,
            self.question,
            self.document,
            tag=self.tag,
            style=self.settings.prompt_style,
        )
        return (yield from run_prompt(prompt, self.budget, phase="step", step=step))

    def record(
        self, plan: Plan, step: PlanStep, outcome: TaskOutcome, started: float, finished: float
    ) -> StepRecord:
        """The record of a finished step."""
        return StepRecord(
            index=plan.variables.index(step.variable),
            variable=step.variable,
            action=step.action,
            call=step.call_text(),
            description=step.description,
            output=outcome.text,
            local=plan.action(step).is_local,
            chunks=outcome.chunks,
            reduce_calls=outcome.reduce_calls,
            retries=outcome.retries,
            usage=outcome.usage,
            started=started,
            finished=finished,
            notes=list(outcome.notes),
        )
