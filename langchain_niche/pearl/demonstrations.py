"""Plan demonstrations: the few-shot examples of the planning prompt.

A :class:`Demonstration` pairs a question with a plan that answered it well.
PEARL shows the planner the demonstrations whose questions are most similar to
the question at hand (chosen by :class:`~langchain_niche.JaccardExampleSelector`).
:data:`DEFAULT_DEMONSTRATIONS` use :data:`~langchain_niche.pearl.DEFAULT_ACTIONS`;
:func:`~langchain_niche.pearl.refine_demonstrations` grows a library from your
own data, and :func:`save_demonstrations` / :func:`load_demonstrations` keep it as
JSON.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.pearl._files import read_json_file, write_json_file
from langchain_niche.pearl.errors import SavedFileError

__all__ = [
    "DEFAULT_DEMONSTRATIONS",
    "Demonstration",
    "load_demonstrations",
    "save_demonstrations",
]

_FILE_KIND = "langchain-niche-pearl-demonstrations"
_FILE_VERSION = 1


class Demonstration(BaseModel):
    """A question and a plan that answers it (a few-shot example for the planner)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    """The question."""
    plan: str
    """The plan, in the plan language."""
    answer: str | None = None
    """The answer the plan led to, when known (kept for reference; not shown)."""

    @field_validator("question", "plan")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "must not be empty"
            raise ValueError(msg)
        return value


def coerce_demonstrations(
    items: Iterable[Demonstration | dict[str, str]], *, name: str = "demonstrations"
) -> list[Demonstration]:
    """Accept demonstrations or ``{"question", "plan"}`` dicts.

    Raises:
        InvalidParameterError: An item is neither (the message names its index).
    """
    out = []
    for index, item in enumerate(items):
        if isinstance(item, Demonstration):
            out.append(item)
            continue
        try:
            out.append(Demonstration.model_validate(item))
        except ValidationError as exc:
            msg = f"{name}[{index}] must be a Demonstration or a dict with 'question' and 'plan', got {preview(item)}: {exc.errors()[0]['msg']}"
            raise InvalidParameterError(msg, name=name, value=item) from exc
    return out


def save_demonstrations(
    demonstrations: Iterable[Demonstration], path: str | os.PathLike[str]
) -> Path:
    """Write demonstrations to a JSON file (atomically).

    Args:
        demonstrations: The demonstrations.
        path: Destination.

    Returns:
        The path written.
    """
    items = [d.model_dump(mode="json") for d in coerce_demonstrations(demonstrations)]
    return write_json_file(
        path, kind=_FILE_KIND, version=_FILE_VERSION, payload={"demonstrations": items}
    )


def load_demonstrations(path: str | os.PathLike[str]) -> list[Demonstration]:
    """Read demonstrations written by :func:`save_demonstrations`.

    Raises:
        SavedFileError: Not a demonstrations file, or an entry is malformed.
    """
    data = read_json_file(path, kind=_FILE_KIND, version=_FILE_VERSION)
    items = data.get("demonstrations")
    if not isinstance(items, list):
        msg = f"{path} has no 'demonstrations' list"
        raise SavedFileError(msg, path=str(path))
    try:
        return coerce_demonstrations(items)
    except InvalidParameterError as exc:
        msg = f"{path}: {exc}"
        raise SavedFileError(msg, path=str(path)) from exc


DEFAULT_DEMONSTRATIONS: tuple[Demonstration, ...] = tuple(
    Demonstration(question=q, plan=p)
    for q, p in [
        (
            "Why does the captain refuse to leave the ship at the end of the story?",
            """New actions:
- None

1. captain = FIND_CHARACTER(CTX, "the captain") : who the captain is, what he values and how he acts
2. ending = FIND_EVENTS(CTX, "the captain refusing to leave the ship at the end") : what happens at the end around the ship
3. reasons = FIND_REASON(CTX, "the captain refusing to leave the ship") : the reasons the text gives or implies for his refusal
4. ans = CONCAT(captain, ending, reasons) : the character, the events and the reasons together""",
        ),
        (
            "How many times does the narrator visit the old lighthouse?",
            """New actions:
- None

1. visits = FIND_EVENTS(CTX, "the narrator visiting the old lighthouse") : every visit of the narrator to the lighthouse, in order
2. count = COUNT(CTX, "visits of the narrator to the old lighthouse") : how many separate visits there are, listing each one""",
        ),
        (
            "How does Mara's attitude toward the city council change over the course of the article?",
            """New actions:
- None

1. early = FIND_EMOTION(CTX, "Mara toward the city council at the beginning") : her attitude early on
2. late = FIND_EMOTION(CTX, "Mara toward the city council at the end") : her attitude at the end
3. change = FIND_CHANGE(CTX, "Mara's attitude toward the city council") : how and why it shifts
4. ans = CONCAT(early, late, change) : both attitudes and the change between them""",
        ),
        (
            "What is the main point the author wants readers to take away?",
            """New actions:
- None

1. summary = SUMMARIZE(CTX) : a general summary of the text
2. moral = FIND_MORAL(CTX) : the lesson or message the author intends
3. tone = FIND_TONE(CTX) : the author's tone and intended audience
4. ans = CONCAT(summary, moral, tone) : what the text says, its message and how it is said""",
        ),
        (
            "Which of these is NOT one of the reasons the expedition failed?",
            """New actions:
- None

1. failure = FIND_EVENTS(CTX, "the expedition failing") : how the expedition failed
2. reasons = FIND_REASON(CTX, "the failure of the expedition") : every cause the text gives, as a list
3. ans = CONCAT(failure, reasons) : the failure and its causes, to compare with the options""",
        ),
        (
            "What is the relationship between the inventor and the woman who funds his work?",
            """New actions:
- None

1. inventor = FIND_CHARACTER(CTX, "the inventor") : who the inventor is
2. funder = FIND_CHARACTER(CTX, "the woman who funds the inventor's work") : who she is and why she pays
3. relation = FIND_RELATION(CTX, inventor, funder) : how the two are connected and how that connection develops
4. ans = CONCAT(relation) : the relationship""",
        ),
        (
            "Would the new policy have prevented the accident described in the report?",
            """New actions:
- PREDICT_OUTCOME(CTX, X, Y) : Predict what would most likely have happened in situation X if Y had been true, reasoning from the document.

1. accident = FIND_EVENTS(CTX, "the accident described in the report") : what happened, in order
2. causes = FIND_REASON(CTX, "the accident") : what caused the accident
3. policy = FIND_X(CTX, "the new policy") : what the new policy requires
4. outcome = PREDICT_OUTCOME(CTX, accident, policy) : whether the accident would still have happened under the policy
5. ans = EVALUATE("the new policy would have prevented the accident", outcome) : a judgement with reasons""",
        ),
        (
            "In what order did the three companies enter the market, and what made the last one succeed?",
            """New actions:
- None

1. entries = FIND_TIMELINE(CTX, "the three companies entering the market") : when each company entered, in chronological order
2. last = FIND_X(CTX, "the company that entered the market last") : which company was last and what it did
3. success = FIND_REASON(CTX, "the success of the last company to enter the market") : why it succeeded
4. ans = CONCAT(entries, success) : the order and the reasons for the last one's success""",
        ),
        (
            'What does the term "slow money" mean in the essay, and does the author approve of it?',
            """New actions:
- None

1. meaning = DEFINE(CTX, "slow money") : what the essay means by the term
2. quotes = EXTRACT(CTX, "passages where the author judges slow money") : the author's own words about it
3. stance = INFER(CTX, "whether the author approves of slow money") : the author's view, with reasons
4. ans = CONCAT(meaning, quotes, stance) : the definition and the author's stance""",
        ),
        (
            "Compare how the two brothers react to their father's death.",
            """New actions:
- None

1. elder = FIND_EMOTION(CTX, "the elder brother after the father's death") : how the elder brother reacts and why
2. younger = FIND_EMOTION(CTX, "the younger brother after the father's death") : how the younger brother reacts and why
3. comparison = COMPARE(elder, younger) : similarities and differences between the two reactions""",
        ),
    ]
)
"""Plan demonstrations written for :data:`~langchain_niche.pearl.DEFAULT_ACTIONS`."""
