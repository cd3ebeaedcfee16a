"""Split a document into overlapping chunks of at most ``chunk_tokens`` tokens.

Chunks are character spans of the original text (so every extracted value can
be traced back to its position). Boundaries fall between sentences or
paragraphs when possible, between words when a sentence is too long, and
inside a word only for text without spaces that exceeds a whole chunk (cut at
the longest prefix that fits).
Consecutive chunks share about ``chunk_overlap`` tokens of whole sentences, so
a fact stated across a boundary is seen whole at least once. The splitting is
the package's one token-budget splitter (:mod:`langchain_niche.text_budget`)
with sentence boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from langchain_niche.text_budget import SENTENCE_LEVELS, pack, segments
from langchain_niche.tokens import TokenCounter

__all__ = ["Chunk", "ChunkPlan", "plan_chunks", "split_spans"]


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
    pieces = segments(text, chunk_tokens, token_counter, SENTENCE_LEVELS)
    spans = pack(text, pieces, chunk_tokens, token_counter, overlap=chunk_overlap)
    return ChunkPlan(spans, sum(piece.tokens for piece in pieces))
