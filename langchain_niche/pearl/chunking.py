"""Long prompts: split the document to fit a token budget, map, then reduce.

Nothing is ever truncated. When a prompt exceeds the budget, its document is
split into consecutive parts at paragraph, line, sentence or word boundaries
(characters as a last resort) that together are exactly the document; the task
runs on every part and the partial outputs are combined, in further rounds if
they do not fit one prompt. If even the fixed part of a prompt leaves no room
for document text, :class:`ContextBudgetError` is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

from langchain_niche._validation import require_integer_at_least
from langchain_niche.pearl._protocol import CallResult, Calls, Phase, TaskOutcome
from langchain_niche.pearl.errors import ContextBudgetError
from langchain_niche.pearl.plan import PlanStep
from langchain_niche.pearl.prompts import TaskPrompt
from langchain_niche.pearl.trace import Usage
from langchain_niche.text_budget import split_spans
from langchain_niche.tokens import TokenCounter

__all__ = ["Budget", "count_messages", "run_prompt", "split_text"]

MESSAGE_OVERHEAD = 4
"""Tokens added per chat message (role and separators), as OpenAI's chat format does."""
MIN_CHUNK_TOKENS = 32
"""Below this much room for document text, splitting is refused (ContextBudgetError)."""
MAX_REDUCE_ROUNDS = 8


def split_text(text: str, max_tokens: int, counter: TokenCounter) -> list[str]:
    """Split ``text`` into consecutive parts of at most ``max_tokens`` tokens each.

    Parts end at paragraph breaks where possible, then at line breaks, sentence
    ends, spaces, and only as a last resort inside a word (the package's one
    splitter, :mod:`langchain_niche.text_budget`). Nothing is lost:
    ``"".join(parts) == text``.

    Args:
        text: The text.
        max_tokens: Token limit per part (at least 1).
        counter: Counts the tokens of a string.

    Returns:
        The parts (``[]`` for an empty text).

    Raises:
        InvalidParameterError: ``max_tokens < 1``.
        ContextBudgetError: A single character exceeds ``max_tokens``.
    """
    require_integer_at_least("max_tokens", max_tokens, 1)
    parts = [text[start:end] for start, end in split_spans(text, max_tokens, counter)]
    for part in parts:
        if counter(part) > max_tokens:  # only a single character can be left over the limit
            msg = f"a single character {part!r} needs more than {max_tokens} tokens"
            raise ContextBudgetError(msg, needed=counter(part), budget=max_tokens)
    return parts


def count_messages(messages: Sequence[BaseMessage], counter: TokenCounter) -> int:
    """Tokens of a chat prompt: its texts plus a small per-message overhead."""
    return sum(counter(str(m.text)) + MESSAGE_OVERHEAD for m in messages)


@dataclass
class Budget:
    """The prompt budget of a run and a cache of document token counts."""

    max_prompt_tokens: int | None
    """``max_context_tokens - reserved_output_tokens`` (``None``: no limit)."""
    counter: TokenCounter
    _cache: dict[str, int] = field(default_factory=dict)

    def count(self, text: str) -> int:
        """Tokens of ``text`` (cached: the same document is counted once per run)."""
        found = self._cache.get(text)
        if found is None:
            found = self._cache[text] = self.counter(text)
        return found

    def prompt_tokens(self, prompt: TaskPrompt) -> int:
        """Tokens of the whole prompt (fixed part + document, counted separately)."""
        fixed = count_messages(prompt.without_document().messages(), self.counter)
        return fixed + (self.count(prompt.document) if prompt.document else 0)


def _call(
    prompts: list[list[BaseMessage]], phase: Phase, step: PlanStep | None, labels: list[str]
) -> Calls:
    return Calls(prompts=prompts, phase=phase, step=step, labels=labels)


def run_prompt(
    prompt: TaskPrompt, budget: Budget, *, phase: Phase, step: PlanStep | None = None
) -> Generator[Calls, list[CallResult], TaskOutcome]:
    """Run a prompt, mapping it over document parts and reducing when it is too long.

    Yields :class:`Calls` requests; returns the outcome (text, usage, parts, notes).

    Raises:
        ContextBudgetError: The fixed part of the prompt (or one partial output)
            leaves no room within the budget.
    """
    limit = budget.max_prompt_tokens
    if limit is None or budget.prompt_tokens(prompt) <= limit:
        [reply] = yield _call([prompt.messages()], phase, step, ["whole"])
        return TaskOutcome(text=reply.text, usage=reply.usage, retries=reply.retries)
    needed = budget.prompt_tokens(prompt)
    what = f"step {step.variable!r}" if step is not None else f"the {phase} prompt"
    if not prompt.document:
        msg = (
            f"{what} needs {needed} tokens but max_context_tokens leaves {limit} for the "
            "prompt, and it has no document to split (its arguments are too long); "
            "raise max_context_tokens"
        )
        raise ContextBudgetError(msg, needed=needed, budget=limit)
    document_tokens = budget.count(prompt.document)
    fixed = count_messages(prompt.chunk_messages("", 999, 999), budget.counter)
    room = limit - fixed - 8
    if room < MIN_CHUNK_TOKENS:
        msg = (
            f"{what} cannot be split to fit max_context_tokens: its fixed part (instructions, "
            f"arguments, question) takes {fixed} tokens of the {limit} available for the prompt; "
            "raise max_context_tokens or shorten the arguments"
        )
        raise ContextBudgetError(msg, needed=fixed, budget=limit)
    chunks = split_text(prompt.document, room, budget.counter)
    total = len(chunks)
    replies = yield _call(
        [prompt.chunk_messages(chunk, i, total) for i, chunk in enumerate(chunks, 1)],
        phase,
        step,
        [f"part {i} of {total}" for i in range(1, total + 1)],
    )
    usages = [r.usage for r in replies]
    retries = sum(r.retries for r in replies)
    texts = [r.text for r in replies]
    reduce_calls = 0
    for _ in range(MAX_REDUCE_ROUNDS):
        final_prompt = prompt.reduce_messages(texts, final=True)
        if count_messages(final_prompt, budget.counter) <= limit:
            [reply] = yield _call([final_prompt], phase, step, ["combine"])
            note = (
                f"the prompt needs {needed} tokens, over the {limit}-token budget "
                f"(max_context_tokens minus reserved output): the {prompt.label} "
                f"({document_tokens} tokens) was split into {total} parts of at most {room} "
                f"tokens, processed separately and combined in {reduce_calls + 1} call(s)"
            )
            return TaskOutcome(
                text=reply.text,
                usage=Usage.total([*usages, reply.usage]),
                chunks=total,
                reduce_calls=reduce_calls + 1,
                retries=retries + reply.retries,
                notes=(note,),
            )
        groups = _group(
            texts,
            limit,
            lambda g: count_messages(prompt.reduce_messages(g, final=False), budget.counter),
        )
        merged = yield _call(
            [prompt.reduce_messages(g, final=False) for g in groups],
            phase,
            step,
            [f"merge {i} of {len(groups)}" for i in range(1, len(groups) + 1)],
        )
        reduce_calls += len(groups)
        usages.extend(r.usage for r in merged)
        retries += sum(r.retries for r in merged)
        texts = [r.text for r in merged]
    msg = f"the partial outputs of {what} still exceed {limit} tokens after {MAX_REDUCE_ROUNDS} merge rounds"
    raise ContextBudgetError(msg, needed=needed, budget=limit)


def _group(texts: list[str], limit: int, cost: Callable[[list[str]], int]) -> list[list[str]]:
    """Pack consecutive texts into groups whose merge prompt fits ``limit``."""
    groups: list[list[str]] = []
    current: list[str] = []
    for text in texts:
        if cost([text]) > limit:
            msg = f"one partial output alone needs {cost([text])} tokens, over the {limit}-token budget"
            raise ContextBudgetError(msg, needed=cost([text]), budget=limit)
        if current and cost([*current, text]) > limit:
            groups.append(current)
            current = []
        current.append(text)
    if current:
        groups.append(current)
    return groups
