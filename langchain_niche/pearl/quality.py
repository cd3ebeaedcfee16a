"""Reading the QuALITY dataset (Pang et al., 2022) into PEARL evaluation rows.

QuALITY ships JSON-lines files, one line per article and question writer::

    {"article_id": "...", "set_unique_id": "...", "title": "...", "article": "...",
     "questions": [{"question": "...", "options": ["...", "...", "...", "..."],
                    "gold_label": 2, "difficult": 1, "question_unique_id": "...",
                    "validation": [{"untimed_answer": 2, "untimed_eval1_answerability": 1,
                                    "untimed_eval2_context": 3, ...}, ...]}, ...]}

``gold_label`` is 1-based and absent in the test split. ``untimed_eval2_context``
is each untimed annotator's answer to "how much of the passage is needed to answer
this question?": 1 a sentence or two, 2 a long paragraph or two, 3 at least a
third of the passage, 4 most or all of it.

Use the ``QuALITY.v1.0.1.htmlstripped.{train,dev,test}`` files: the files without
``htmlstripped`` hold HTML articles and are rejected with a clear error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.pearl.errors import SavedFileError

__all__ = ["ContextLength", "context_length", "load_quality_jsonl", "unwrap_lines"]

ContextLength = Literal["long", "short"]
"""A question's context need, from its annotators' ``untimed_eval2_context`` ratings."""

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_HTML = re.compile(r"</?(?:html|head|body|p|br|div|pre|h[1-6])(?:\s[^<>]*)?/?>", re.IGNORECASE)


def unwrap_lines(text: str) -> str:
    """Join hard-wrapped lines: line breaks inside a paragraph become spaces.

    Paragraphs (separated by blank lines) stay separated by one blank line. This
    is the preprocessing of the PEARL paper's code, which replaces single line
    breaks of the QuALITY articles with spaces and keeps double ones.

    Args:
        text: An article.

    Returns:
        The text with each paragraph on one line.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (p.replace("\n", " ") for p in _PARAGRAPH_BREAK.split(text.strip()))
    return "\n\n".join(p for p in paragraphs if p.strip())


def context_length(ratings: Iterable[int]) -> ContextLength | None:
    """``"long"`` when most annotators said at least a third of the passage is needed.

    ``"long"``: more than half of the ``untimed_eval2_context`` ratings are 3 or 4;
    ``"short"``: more than half are 1 or 2; ``None`` without ratings or on a tie.
    """
    values = list(ratings)
    long_votes = sum(1 for r in values if r >= 3)
    short_votes = len(values) - long_votes
    if long_votes > short_votes:
        return "long"
    if short_votes > long_votes:
        return "short"
    return None


def _ratings(question: dict[str, Any]) -> list[int]:
    out = []
    for review in question.get("validation") or []:
        rating = review.get("untimed_eval2_context") if isinstance(review, dict) else None
        if isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 4:
            out.append(rating)
    return out


def _check_filters(context: Any, limit: Any) -> None:
    if context not in (None, "long", "short"):
        msg = f"context must be None, 'long' or 'short', got {preview(context)}"
        raise InvalidParameterError(msg, name="context", value=context)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        msg = f"limit must be None or an integer >= 0, got {preview(limit)}"
        raise InvalidParameterError(msg, name="limit", value=limit)


def load_quality_jsonl(
    path: str | os.PathLike[str],
    *,
    difficult_only: bool = False,
    context: ContextLength | None = None,
    question_ids: Iterable[str | int] | None = None,
    join_lines: bool = True,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Read a QuALITY JSON-lines file into PEARL evaluation rows.

    Args:
        path: An ``htmlstripped`` file, e.g. ``QuALITY.v1.0.1.htmlstripped.dev``.
        difficult_only: Keep only questions marked ``difficult`` (QuALITY-HARD:
            most speed annotators got them wrong). Not the PEARL paper's subset.
        context: Keep only questions whose annotators' context ratings make them
            ``"long"`` or ``"short"`` (see :func:`context_length`). The PEARL
            paper evaluates on questions annotated as needing long context; its
            authors ship their exact question list separately, see
            ``question_ids``.
        question_ids: Keep only these questions, matched against
            ``question_unique_id`` or the question's 0-based position in the file
            (the numbering the PEARL authors' code gives questions).
        join_lines: Join hard-wrapped lines (see :func:`unwrap_lines`), as the
            PEARL paper's preprocessing does.
        limit: Stop after this many questions.

    Returns:
        One dict per question: ``id``, ``position``, ``question``, ``document``,
        ``options``, ``answer`` (the 0-based index of the gold option, ``None``
        without labels), ``gold_label`` (1-based, as in the file), ``difficult``,
        ``context_ratings``, ``context_length``, ``article_id``, ``title``.
        Grading uses the option position, never the option's text.

    Raises:
        SavedFileError: A line is not JSON, lacks the QuALITY fields, has a
            ``gold_label`` out of range, or its article is HTML (the message names
            the line).
        InvalidParameterError: A filter is malformed.
    """
    _check_filters(context, limit)
    wanted = None if question_ids is None else {str(q) for q in question_ids}
    rows: list[dict[str, Any]] = []
    source = Path(path)
    position = -1
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                article = json.loads(line)
                text = article["article"]
                if not isinstance(text, str):
                    msg = f"'article' must be text, got {type(text).__name__}"
                    raise TypeError(msg)
                questions = article["questions"]
                if not isinstance(questions, list):
                    msg = f"'questions' must be a list, got {type(questions).__name__}"
                    raise TypeError(msg)
            except (ValueError, KeyError, TypeError) as exc:
                msg = f"{source}, line {number}: not a QuALITY record ({type(exc).__name__}: {exc})"
                raise SavedFileError(msg, path=str(source)) from exc
            if _HTML.search(text):
                msg = (
                    f"{source}, line {number}: article {article.get('article_id')!r} is HTML; "
                    "this is a raw QuALITY file. Load the HTML-stripped file instead "
                    "(QuALITY.v1.0.1.htmlstripped.train/dev/test)"
                )
                raise SavedFileError(msg, path=str(source))
            document = unwrap_lines(text) if join_lines else text
            for q in questions:
                position += 1
                try:
                    row = _row(q, article, document, position)
                except (ValueError, KeyError, TypeError) as exc:
                    msg = f"{source}, line {number}: not a QuALITY record ({type(exc).__name__}: {exc})"
                    raise SavedFileError(msg, path=str(source)) from exc
                if difficult_only and not row["difficult"]:
                    continue
                if context is not None and row["context_length"] != context:
                    continue
                if wanted is not None and not ({str(row["id"]), str(position)} & wanted):
                    continue
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    return rows
    return rows


def _row(
    q: dict[str, Any], article: dict[str, Any], document: str, position: int
) -> dict[str, Any]:
    options = [str(o) for o in q["options"]]
    gold = q.get("gold_label")
    if gold is not None:
        if isinstance(gold, bool) or not isinstance(gold, int | str) or not str(gold).isdigit():
            msg = f"gold_label must be a 1-based integer, got {gold!r}"
            raise ValueError(msg)
        gold = int(gold)
        if not 1 <= gold <= len(options):
            msg = f"gold_label {gold} is outside 1..{len(options)}"
            raise ValueError(msg)
    ratings = _ratings(q)
    return {
        "id": str(q.get("question_unique_id") or f"{article.get('article_id')}-{position}"),
        "position": position,
        "question": str(q["question"]),
        "document": document,
        "options": options,
        "answer": gold - 1 if gold is not None else None,
        "gold_label": gold,
        "difficult": bool(q.get("difficult", 0)),
        "context_ratings": ratings,
        "context_length": context_length(ratings),
        "article_id": article.get("article_id"),
        "title": article.get("title"),
    }
