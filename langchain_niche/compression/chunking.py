"""Split a document into overlapping chunks of at most ``chunk_tokens`` tokens.

Chunks are character spans of the original text (so every extracted value can
be traced back to its position). Boundaries fall between sentences or
paragraphs when possible, between words when a sentence is too long, and
inside a word only for text without spaces that exceeds a whole chunk.
Consecutive chunks share about ``chunk_overlap`` tokens of whole sentences, so
a fact stated across a boundary is seen whole at least once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from langchain_niche.tokens import TokenCounter

__all__ = ["Chunk", "ChunkPlan", "plan_chunks", "split_spans"]

# A sentence ends after terminal punctuation (and closing quotes/brackets) followed by
# white space, after CJK full stops, or at a blank line / line break.
_BOUNDARY_RE = re.compile(
    r"[.!?;][\"'\u201d\u2019)\]]*\s+"  # . ! ? ; and closing quotes/brackets, then space
    r"|[\u3002\uff01\uff1f\uff1b]\s*"  # CJK full stop, exclamation, question mark, semicolon
    r"|\n\s*"
)
_WORD_RE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Chunk:
    """One chunk of one document."""

    document: int
    """Position of the document in the batch."""
    index: int
    """Chunk number within the document (0-based)."""
    start: int
    """Offset of the first character in the document text."""
    end: int
    """Offset after the last character."""
    text: str
    """``document_text[start:end]``."""


def _segments(text: str, chunk_tokens: int, count: TokenCounter) -> list[tuple[int, int, int]]:
    """Sentence spans ``(start, end, tokens)``; longer ones split into words, then characters."""
    out: list[tuple[int, int, int]] = []
    start = 0
    ends = [m.end() for m in _BOUNDARY_RE.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    for end in ends:
        if end <= start:
            continue
        tokens = count(text[start:end])
        if tokens <= chunk_tokens:
            out.append((start, end, tokens))
        else:
            _split_long(text, start=start, end=end, chunk_tokens=chunk_tokens, count=count, out=out)
        start = end
    return out


def _split_long(
    text: str,
    *,
    start: int,
    end: int,
    chunk_tokens: int,
    count: TokenCounter,
    out: list[tuple[int, int, int]],
) -> None:
    for match in _WORD_RE.finditer(text, start, end):
        w_start, w_end = match.span()
        tokens = count(match.group())
        if tokens <= chunk_tokens:
            out.append((w_start, w_end, tokens))
            continue
        # A "word" longer than a chunk (text without spaces): cut it into equal slices.
        size = max(1, (w_end - w_start) * chunk_tokens // (tokens + 1))
        for piece_start in range(w_start, w_end, size):
            piece_end = min(w_end, piece_start + size)
            out.append((piece_start, piece_end, count(text[piece_start:piece_end])))


def split_spans(
    text: str,
    *,
    chunk_tokens: int,
    chunk_overlap: int,
    token_counter: TokenCounter,
) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` character spans of the chunks of ``text``.

    Args:
        text: The document text.
        chunk_tokens: Maximum tokens per chunk (a sentence longer than this is
            split between words).
        chunk_overlap: Tokens of whole sentences repeated from the end of one
            chunk at the start of the next (less when sentences are long).
        token_counter: Counts the tokens of a text.

    Returns:
        Spans covering the whole text in order; empty for empty text.
    """
    return plan_chunks(
        text, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, token_counter=token_counter
    ).spans


class ChunkPlan(NamedTuple):
    """The chunks of a text and its token count."""

    spans: list[tuple[int, int]]
    """``(start, end)`` of every chunk."""
    tokens: int
    """Tokens of the whole text: the sum over its sentences (each counted once)."""


def plan_chunks(
    text: str,
    *,
    chunk_tokens: int,
    chunk_overlap: int,
    token_counter: TokenCounter,
) -> ChunkPlan:
    """Split ``text`` (see :func:`split_spans`) and count its tokens in the same pass.

    Args:
        text: The document text.
        chunk_tokens: Maximum tokens per chunk.
        chunk_overlap: Tokens of whole sentences shared by consecutive chunks.
        token_counter: Counts the tokens of a text.

    Returns:
        The spans and the token count.
    """
    segments = _segments(text, chunk_tokens, token_counter)
    spans: list[tuple[int, int]] = []
    i, n = 0, len(segments)
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + segments[j][2] <= chunk_tokens):
            total += segments[j][2]
            j += 1
        spans.append((segments[i][0], segments[j - 1][1]))
        if j >= n:
            break
        # Step back over whole segments for the overlap, leaving room for segment j so that
        # every chunk ends further than the previous one.
        k, overlap, room = j, 0, chunk_tokens - segments[j][2]
        while k - 1 > i and overlap + segments[k - 1][2] <= min(chunk_overlap, room):
            k -= 1
            overlap += segments[k][2]
        i = k
    return ChunkPlan(spans, sum(segment[2] for segment in segments))
