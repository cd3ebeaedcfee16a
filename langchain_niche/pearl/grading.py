"""Deciding whether a PEARL answer is right: option match, exact match, or a judge."""

from __future__ import annotations

import re
import string
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_niche._sansio import Call, arun_calls, run_calls
from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)
from langchain_niche.pearl.trace import PEARLResult

__all__ = ["agrade", "expected_option", "grade", "llm_judge", "normalize_answer"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES = re.compile(r"\s*(?:\**)?\s*(yes|correct|true|right)\b", re.IGNORECASE)
_NO = re.compile(r"\s*(?:\**)?\s*(no|incorrect|false|wrong)\b", re.IGNORECASE)


def check_rows(rows: Iterable[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """Check labelled rows: dicts with ``question``, ``document`` and ``answer``.

    Raises:
        InvalidExampleError: A row is not a dict (the message names its index).
        MissingKeyError: A row lacks a field.
    """
    items = list(rows)
    for index, row in enumerate(items):
        if not isinstance(row, Mapping):
            msg = f"{name}[{index}] must be a dict with 'question', 'document' and 'answer', got {preview(row)}"
            raise InvalidExampleError(msg, index=index)
        for key in ("question", "document", "answer"):
            if key not in row:
                msg = f"{name}[{index}] has no {key!r}; it has {sorted(map(str, row))}"
                raise MissingKeyError(msg, index=index, key=key)
    return items


def row_input(row: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The PEARL input of a labelled row (question, document, options if any)."""
    data = {"question": row["question"], "document": row["document"], **extra}
    if row.get("options"):
        data["options"] = list(row["options"])
    return data


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, articles and extra spaces (SQuAD-style)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def expected_option(expected: Any, options: Sequence[str]) -> int | None:
    """The 0-based option index ``expected`` designates, or ``None``.

    ``expected`` may be an index (``int``, the unambiguous form that
    :func:`~langchain_niche.pearl.load_quality_jsonl` produces), a letter
    (``"B"``) or an option's text. Text is matched exactly first, then after
    normalisation (case, punctuation, articles), and must designate one option.

    Raises:
        InvalidParameterError: ``expected`` designates two options: it is a letter
            and the text of another option (``"B"`` with options ``["B", "A"]``),
            or it matches several options once normalised (``"The dog"`` /
            ``"A dog"``). Pass the option's index instead.
    """
    if isinstance(expected, int) and not isinstance(expected, bool):
        return expected if 0 <= expected < len(options) else None
    if not isinstance(expected, str):
        return None
    text = expected.strip()
    exact = [i for i, option in enumerate(options) if option.strip() == text]
    letter = (
        string.ascii_uppercase.index(text.upper())
        if len(text) == 1 and text.upper() in string.ascii_uppercase[: len(options)]
        else None
    )
    candidates = set(exact)
    if letter is not None:
        candidates.add(letter)
    if not candidates:
        wanted = normalize_answer(text)
        candidates = {i for i, option in enumerate(options) if normalize_answer(option) == wanted}
    if len(candidates) > 1:
        shown = ", ".join(
            f"{string.ascii_uppercase[i]}. {options[i]!r}" for i in sorted(candidates)
        )
        msg = (
            f"expected answer {expected!r} designates several options ({shown}); "
            "give the gold option's 0-based index instead"
        )
        raise InvalidParameterError(msg, name="answer", value=expected)
    return candidates.pop() if candidates else None


def _verdict(output: Any) -> bool:
    if isinstance(output, bool):
        return output
    if isinstance(output, BaseMessage):
        output = str(output.text)
    if isinstance(output, dict) and "correct" in output:
        return bool(output["correct"])
    if isinstance(output, str):
        if _YES.match(output):
            return True
        if _NO.match(output):
            return False
    msg = f"a judge must return a bool, {{'correct': bool}} or text starting with yes/no, got {preview(output)}"
    raise InvalidParameterError(msg, name="judge", value=output)


def _local_grade(result: PEARLResult, expected: Any, options: Sequence[str] | None) -> bool | None:
    if options and result.option_index is not None:
        wanted = expected_option(expected, options)
        if wanted is None:
            msg = f"expected answer {preview(expected)} is not an option index, letter or option text of {preview(list(options))}"
            raise InvalidParameterError(msg, name="answer", value=expected)
        return result.option_index == wanted
    if normalize_answer(result.answer) == normalize_answer(str(expected)):
        return True
    return None


def _grading(
    result: PEARLResult,
    expected: Any,
    options: Sequence[str] | None,
    judge: Runnable[Any, Any] | None,
    config: RunnableConfig | None,
) -> Generator[Call, Any, bool]:
    """:func:`grade`, sans I/O: the judge call (if one is needed) is yielded."""
    local = _local_grade(result, expected, options)
    if local is not None or judge is None:
        return bool(local)
    judged = {"question": result.question, "expected": str(expected), "answer": result.answer}
    return _verdict((yield Call.invoke(judge, judged, config)))


def grade(
    result: PEARLResult,
    expected: Any,
    *,
    options: Sequence[str] | None = None,
    judge: Runnable[Any, Any] | None = None,
    config: RunnableConfig | None = None,
) -> bool:
    """Whether ``result`` answers correctly.

    With options, the chosen option must be the expected one (index, letter or
    text). Otherwise the normalized answer must equal the expected one, or, when
    it does not and a ``judge`` is given, the judge must accept it. A judge is any
    Runnable taking ``{"question", "expected", "answer"}`` and returning a bool,
    ``{"correct": bool}`` or text starting with yes/no (see :func:`llm_judge`).

    Args:
        result: A PEARL result.
        expected: The right answer.
        options: The question's options, if any.
        judge: Decides free-form answers.
        config: Config for the judge call.

    Returns:
        Whether the answer is right.
    """
    graded: bool = run_calls(_grading(result, expected, options, judge, config))
    return graded


async def agrade(
    result: PEARLResult,
    expected: Any,
    *,
    options: Sequence[str] | None = None,
    judge: Runnable[Any, Any] | None = None,
    config: RunnableConfig | None = None,
) -> bool:
    """Async twin of :func:`grade`."""
    graded: bool = await arun_calls(_grading(result, expected, options, judge, config))
    return graded


def llm_judge(llm: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """A judge for :func:`grade`: asks ``llm`` whether an answer matches the expected one.

    Args:
        llm: A chat model.

    Returns:
        ``prompt | llm``, taking ``{"question", "expected", "answer"}``.
    """
    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "You grade answers. Reply 'yes' if the answer states the same thing as the "
                "expected answer (wording may differ), otherwise 'no'. Reply with one word.",
            ),
            (
                "human",
                "Question: {question}\nExpected answer: {expected}\nAnswer to grade: {answer}",
            ),
        ]
    )
    return prompt | llm
