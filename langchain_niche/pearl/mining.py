"""Action mining: grow a task-specific action set from training questions.

:func:`mine_actions` shows the model the seed actions and one training question
at a time, and asks how it would answer it, declaring any new action it needs;
the new actions are aggregated by name. :func:`simplify_actions` then has the
model merge overlapping actions, shard by shard, until the set is small enough
(the PEARL paper went from 407 mined actions to 81 this way).
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_niche._validation import require_integer_at_least
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.pearl.actions import CONCAT, SEED_ACTIONS, Action, ActionSet, parse_action
from langchain_niche.pearl.errors import ActionFormatError, StepExecutionError
from langchain_niche.pearl.prompts import PROMPT_STYLES, PromptStyle

__all__ = [
    "amine_actions",
    "asimplify_actions",
    "extract_actions",
    "mine_actions",
    "simplify_actions",
]

logger = logging.getLogger(__name__)

_SEED_NAMES = tuple(SEED_ACTIONS.names)

MINING_RULES = """\
Imagine you must answer the question below about a long document you have not read \
yet, using actions like functions: each takes arguments (CTX is the document) and \
returns text that later actions can use. Show how you would answer it.

First list any new actions you need that the list lacks, as \
`- NAME(PARAMETERS) : one-sentence definition` (or "- None"). New actions must be \
general and reusable for many questions about documents, not specific to this one. \
Then write the steps, one per line, as `N. name = ACTION(arguments) : description`.

Reply in this format:
New actions:
- NAME(CTX, X) : definition

Plan:
1. name = ACTION(CTX, "text") : description"""

PAPER_MINING_INSTRUCTIONS = """\
You are given a question about an article and the list of actions above, which you \
can execute to answer it. Think of the actions as functions of a program: each takes \
input arguments and returns an output, and an output can be passed to another action. \
The output of the last action is the answer. You have not read the article yet: write \
the sequence of actions you would use to answer the question.

Two worked examples:
```
Question:
Why does the narrator keep returning to the harbour?

My new actions:
- FIND_MOTIVE(CTX, X) : Find and summarize what drives X to act as they do, given the input CTX.

My sequence of actions:
1. visits = FIND_X(CTX, "the narrator's visits to the harbour") : Find and summarize every visit of the narrator to the harbour.
2. ans = FIND_MOTIVE(CTX, visits) : Find what drives the narrator to make these visits.
```

```
Question:
What is the overall message of the story?

My new actions:
- None

My sequence of actions:
1. message = FIND_MORAL(CTX) : Find the intended lesson or message of the input CTX.
```

Rules for your answer:
1. Keep the sequence minimal: no unnecessary actions.
2. Make it specific, covering every detail of the question.
3. Use as many of the existing actions as you can.
4. You may create new actions, but they must be as reusable and general as possible, \
useful for other reading-comprehension questions too.
5. The arguments must cover every detail of the question."""

PAPER_MINING_ANSWER = """\
Now write the plan for the question above, in this format:
```
My new actions (if any):
- NEW_ACTION_1(arguments) : [one-sentence explanation]
...

My sequence of actions:
1. output_1 = ACTION_1(arguments) : [one-sentence explanation]
2. output_2 = ACTION_2(arguments) : [one-sentence explanation]
...
```"""

SIMPLIFY_RULES = """\
These actions were proposed for answering questions about long documents. Many \
overlap. Rewrite the list as at most {target} actions: merge actions that do the same \
thing into one general action with a clear definition, drop ones that are too \
specific, keep distinct useful ones. Keep parameter names short (CTX is the document).

Reply with the list only, one action per line: `- NAME(PARAMETERS) : definition`."""


def _text(output: Any) -> str:
    if isinstance(output, BaseMessage):
        return str(output.text)
    if isinstance(output, str):
        return output
    msg = f"the model returned {type(output).__name__}; expected a message or a string"
    raise TypeError(msg)


def extract_actions(text: str) -> list[Action]:
    """Every well-formed ``- NAME(PARAMS) : definition`` line of a reply (others skipped)."""
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith(("-", "*")) or "(" not in stripped:
            continue
        try:
            found.append(parse_action(stripped))
        except ActionFormatError:
            logger.debug("skipped a malformed action line: %s", stripped)
    return found


def _new_actions_block(text: str) -> str:
    lowered = text.lower()
    start = lowered.find("new actions")
    if start < 0:
        return ""
    ends = [
        i
        for i in (lowered.find("plan:", start), lowered.find("sequence of actions", start))
        if i >= 0
    ]
    return text[start : min(ends) if ends else len(text)]


def _mining_messages(
    seed: ActionSet, question: str, style: PromptStyle = "grounded"
) -> list[BaseMessage]:
    if style == "paper":
        return [
            SystemMessage(content="You design small, reusable actions for reading long documents."),
            HumanMessage(
                content=f"[Actions]\n{seed.render()}\n\n[Instructions]\n{PAPER_MINING_INSTRUCTIONS}"
                f"\n\n[Question]\n{question}\n\n[Answer]\n{PAPER_MINING_ANSWER}"
            ),
        ]
    return [
        SystemMessage(content="You design small, reusable actions for reading long documents."),
        HumanMessage(
            content=f"[Actions]\n{seed.render()}\n\n[Instructions]\n{MINING_RULES}\n\n[Question]\n{question}"
        ),
    ]


class _Progress:
    """A progress bar: tqdm when installed, else a line on stderr."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled, self.done = total, label, enabled, 0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm  # noqa: PLC0415 - optional dependency

                self._bar = tqdm(total=total, desc=label)
            except ImportError:
                self._bar = None

    def update(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self.enabled:
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total}{end}")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _check_questions(questions: Iterable[str]) -> list[str]:
    items = list(questions)
    bad = [i for i, q in enumerate(items) if not isinstance(q, str) or not q.strip()]
    if bad:
        msg = (
            f"questions must be non-empty strings; questions[{bad[0]}] is {preview(items[bad[0]])}"
        )
        raise InvalidParameterError(msg, name="questions", value=items[bad[0]])
    return items


def _check_style(style: Any) -> None:
    if style not in PROMPT_STYLES:
        msg = f"prompt_style must be one of {list(PROMPT_STYLES)}, got {preview(style)}"
        raise InvalidParameterError(msg, name="prompt_style", value=style)


def _aggregate(seed: ActionSet, replies: list[str | BaseException], min_count: int) -> ActionSet:
    failures = [r for r in replies if isinstance(r, BaseException)]
    if replies and len(failures) == len(replies):
        msg = f"all {len(replies)} mining calls failed; first error: {failures[0]!r}"
        raise StepExecutionError(msg, phase="mining") from failures[0]
    if failures:
        warnings.warn(
            f"{len(failures)} of {len(replies)} mining calls failed and were skipped; "
            f"first error: {failures[0]!r}",
            RuntimeWarning,
            stacklevel=3,
        )
    counts: Counter[str] = Counter()
    variants: dict[str, Counter[Action]] = {}
    for reply in replies:
        if isinstance(reply, BaseException):
            continue
        seen_here = set()
        for action in extract_actions(_new_actions_block(reply)):
            if action.name in seed or action.name in seen_here:
                continue
            seen_here.add(action.name)
            counts[action.name] += 1
            variants.setdefault(action.name, Counter())[action] += 1
    mined = [
        variants[name].most_common(1)[0][0]
        for name, count in sorted(counts.items(), key=lambda kv: -kv[1])
        if count >= min_count
    ]
    return seed | mined


class _Mining:
    """One mining run's prompts, replies and progress (shared by the sync and async twins)."""

    def __init__(
        self, seed: ActionSet, questions: Iterable[str], style: PromptStyle, progress: bool
    ) -> None:
        items = _check_questions(questions)
        _check_style(style)
        self.prompts = [_mining_messages(seed, q, style) for q in items]
        self.replies: list[str | BaseException] = [RuntimeError("not run")] * len(items)
        self._bar = _Progress(len(items), "mining actions", progress)

    def record(self, index: int, output: Any) -> None:
        """Keep the reply to prompt ``index`` (an error stays an error)."""
        self.replies[index] = output if isinstance(output, BaseException) else _text(output)
        self._bar.update()

    def __enter__(self) -> _Mining:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.close()


def _mining_config(config: RunnableConfig | None, max_concurrency: int) -> RunnableConfig:
    return {**(config or {}), "max_concurrency": max_concurrency}


def mine_actions(
    llm: Runnable[Any, Any],
    questions: Iterable[str],
    seed: ActionSet = SEED_ACTIONS,
    *,
    min_count: int = 1,
    max_concurrency: int = 8,
    progress: bool = False,
    config: RunnableConfig | None = None,
    prompt_style: PromptStyle = "grounded",
) -> ActionSet:
    """Mine task-specific actions from training questions (one call per question).

    Args:
        llm: A chat model.
        questions: Training questions (no documents needed).
        seed: The starting actions (kept, first).
        min_count: Keep actions proposed for at least this many questions.
        max_concurrency: Calls in flight at once.
        progress: Show a progress bar (tqdm when installed).
        config: Config for the calls (callbacks, tags ...).
        prompt_style: ``"grounded"`` (rules and the reply format) or ``"paper"``
            (the paper's structure: instructions, two worked examples, five rules).

    Returns:
        ``seed`` plus the mined actions, most often proposed first. For an action
        proposed with different signatures, the most common one wins.

    Raises:
        StepExecutionError: Every call failed (a few failures only warn).
    """
    with _Mining(seed, questions, prompt_style, progress) as run:
        for index, output in llm.batch_as_completed(
            run.prompts, _mining_config(config, max_concurrency), return_exceptions=True
        ):
            run.record(index, output)
    return _aggregate(seed, run.replies, min_count)


async def amine_actions(
    llm: Runnable[Any, Any],
    questions: Iterable[str],
    seed: ActionSet = SEED_ACTIONS,
    *,
    min_count: int = 1,
    max_concurrency: int = 8,
    progress: bool = False,
    config: RunnableConfig | None = None,
    prompt_style: PromptStyle = "grounded",
) -> ActionSet:
    """Async twin of :func:`mine_actions`."""
    with _Mining(seed, questions, prompt_style, progress) as run:
        outputs: AsyncIterator[tuple[int, Any]] = llm.abatch_as_completed(
            run.prompts, _mining_config(config, max_concurrency), return_exceptions=True
        )
        async for index, output in outputs:
            run.record(index, output)
    return _aggregate(seed, run.replies, min_count)


# -- simplification -------------------------------------------------------------------------


def _simplify_messages(shard: Sequence[Action], target: int) -> list[BaseMessage]:
    listed = "\n".join(f"- {a.to_line()}" for a in shard)
    return [
        SystemMessage(
            content="You curate a small, general vocabulary of actions for reading documents."
        ),
        HumanMessage(content=f"{SIMPLIFY_RULES.format(target=target)}\n\n[Actions]\n{listed}"),
    ]


class _Simplifier:
    """Shard bookkeeping shared by the sync and async simplification."""

    def __init__(
        self, actions: ActionSet, max_actions: int, shard_size: int, keep: Iterable[str]
    ) -> None:
        require_integer_at_least("max_actions", max_actions, 1)
        require_integer_at_least("shard_size", shard_size, 2)
        protected = {CONCAT, *(name.upper() for name in keep)}
        self.kept = [a for a in actions if a.name in protected]
        self.candidates = [a for a in actions if a.name not in protected]
        self.max_actions = max_actions
        self.shard_size = shard_size
        self._shards: list[list[Action]] = []
        self._shrank = False

    def done(self) -> bool:
        return len(self.kept) + len(self.candidates) <= self.max_actions

    def shards(self) -> tuple[list[list[Action]], list[list[BaseMessage]]]:
        room = max(1, self.max_actions - len(self.kept))
        shards = [
            self.candidates[i : i + self.shard_size]
            for i in range(0, len(self.candidates), self.shard_size)
        ]
        prompts = [
            _simplify_messages(shard, max(1, len(shard) * room // len(self.candidates)))
            for shard in shards
        ]
        return shards, prompts

    def rounds(self, max_rounds: int) -> Iterator[list[list[BaseMessage]]]:
        """Each round's prompts, while the set is too large and the last round shrank it.

        Send each round's replies to :meth:`absorb` before taking the next round.
        """
        for _ in range(max_rounds):
            if self.done():
                return
            self._shards, prompts = self.shards()
            yield prompts
            if not self._shrank:
                return

    def absorb(self, outputs: list[Any]) -> None:
        """Take the merged shards of the round (an error keeps its shard)."""
        merged: dict[str, Action] = {}
        for shard, output in zip(self._shards, outputs, strict=True):
            parsed = [] if isinstance(output, BaseException) else extract_actions(_text(output))
            kept_names = {a.name for a in self.kept}
            parsed = [a for a in parsed if a.name not in kept_names]
            for action in parsed or shard:  # an unusable reply keeps its shard unchanged
                merged.setdefault(action.name, action)
        self._shrank = len(merged) < len(self.candidates)
        if self._shrank:
            self.candidates = list(merged.values())

    def result(self) -> ActionSet:
        if not self.done():
            warnings.warn(
                f"simplify_actions stopped at {len(self.kept) + len(self.candidates)} actions "
                f"(max_actions={self.max_actions}): the model did not merge further",
                RuntimeWarning,
                stacklevel=3,
            )
        return ActionSet([*self.kept, *self.candidates])


def simplify_actions(
    llm: Runnable[Any, Any],
    actions: ActionSet,
    max_actions: int = 40,
    *,
    shard_size: int = 40,
    keep: Iterable[str] = _SEED_NAMES,
    max_rounds: int = 3,
    max_concurrency: int = 8,
    config: RunnableConfig | None = None,
) -> ActionSet:
    """Have the model merge overlapping actions, shard by shard, until few enough remain.

    Args:
        llm: A chat model.
        actions: The actions (typically from :func:`mine_actions`).
        max_actions: Target size of the result.
        shard_size: Actions shown to the model per call.
        keep: Action names never merged away (``CONCAT`` always stays).
        max_rounds: Rounds of merging at most.
        max_concurrency: Calls in flight at once.
        config: Config for the calls.

    Returns:
        The simplified set: kept actions first, then the merged ones. A shard whose
        reply holds no usable action keeps its actions unchanged.
    """
    state = _Simplifier(actions, max_actions, shard_size, keep)
    batch_config = _mining_config(config, max_concurrency)
    for prompts in state.rounds(max_rounds):
        state.absorb(llm.batch(prompts, batch_config, return_exceptions=True))
    return state.result()


async def asimplify_actions(
    llm: Runnable[Any, Any],
    actions: ActionSet,
    max_actions: int = 40,
    *,
    shard_size: int = 40,
    keep: Iterable[str] = _SEED_NAMES,
    max_rounds: int = 3,
    max_concurrency: int = 8,
    config: RunnableConfig | None = None,
) -> ActionSet:
    """Async twin of :func:`simplify_actions`."""
    state = _Simplifier(actions, max_actions, shard_size, keep)
    batch_config = _mining_config(config, max_concurrency)
    for prompts in state.rounds(max_rounds):
        state.absorb(await llm.abatch(prompts, batch_config, return_exceptions=True))
    return state.result()
