"""Split a text into consecutive spans of at most ``max_tokens`` tokens.

The one splitter behind PEARL's long prompts
(:func:`langchain_niche.pearl.split_text`) and the compressor's chunks
(:func:`langchain_niche.compression.chunking.plan_chunks`). It works in two steps:

1. :func:`segments` cuts the text at the first of several boundary levels
   (paragraphs, lines, sentences, words ...) and cuts a piece that is still over
   the limit at the next level, characters last, so that every segment fits
   ``max_tokens`` on its own (except a single character that alone exceeds it);
2. :func:`pack` joins consecutive segments greedily into spans, optionally
   repeating whole segments for an overlap, and with ``exact=True`` checks each
   span's joined text (token counts are not exactly additive).

Spans are character offsets into the original text, so nothing is lost or
rewritten: with no overlap ``"".join(text[s:e] for s, e in spans) == text``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from langchain_niche.tokens import TokenCounter

__all__ = ["PROSE_LEVELS", "SENTENCE_LEVELS", "Segment", "pack", "segments", "split_spans"]

_WORDS = re.compile(r"\s+")
PROSE_LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"(?<=[.!?;])\s+"),  # sentences
    _WORDS,
)
"""Boundaries by preference: paragraph, line, sentence, word (PEARL's documents)."""
SENTENCE_LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"[.!?;][\"'\u201d\u2019)\]]*\s+"  # . ! ? ; and closing quotes/brackets, then space
        r"|[\u3002\uff01\uff1f\uff1b]\s*"  # CJK full stop, exclamation, question mark, semicolon
        r"|\n\s*"
    ),
    _WORDS,
)
"""Boundaries of sentences (CJK full stops and line breaks included), then words."""


class Segment(NamedTuple):
    """A piece of the text that fits the limit on its own."""

    start: int
    end: int
    tokens: int


def _characters(
    text: str, start: int, end: int, max_tokens: int, counter: TokenCounter
) -> list[Segment]:
    """Cut ``text[start:end]`` into the longest pieces within ``max_tokens`` (binary search)."""
    out = []
    while start < end:
        lo, hi = start + 1, end
        while lo < hi:  # largest stop with counter(text[start:stop]) <= max_tokens
            mid = (lo + hi + 1) // 2
            if counter(text[start:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(Segment(start, lo, counter(text[start:lo])))  # one character may exceed
        start = lo
    return out


def segments(
    text: str, max_tokens: int, counter: TokenCounter, levels: Sequence[re.Pattern[str]]
) -> list[Segment]:
    """Cut ``text`` into consecutive segments of at most ``max_tokens`` tokens.

    Args:
        text: The text.
        max_tokens: Token limit of one segment.
        counter: Counts the tokens of a string.
        levels: Boundary patterns, most preferred first (:data:`PROSE_LEVELS`,
            :data:`SENTENCE_LEVELS`); a cut falls after each match. A piece over
            the limit is cut at the next level, then into characters.

    Returns:
        The segments, covering ``text`` in order.
    """

    def cut(start: int, end: int, level: int) -> list[Segment]:
        if start >= end:
            return []
        tokens = counter(text[start:end])
        if tokens <= max_tokens:
            return [Segment(start, end, tokens)]
        for depth in range(level, len(levels)):
            matches = levels[depth].finditer(text, start, end)
            cuts = [m.end() for m in matches if start < m.end() < end]
            if cuts:
                bounds = zip([start, *cuts], [*cuts, end], strict=True)
                return [piece for a, b in bounds for piece in cut(a, b, depth + 1)]
        return _characters(text, start, end, max_tokens, counter)

    return cut(0, len(text), 0)


def pack(
    text: str,
    pieces: Sequence[Segment],
    max_tokens: int,
    counter: TokenCounter,
    *,
    overlap: int = 0,
    exact: bool = False,
) -> list[tuple[int, int]]:
    """Join consecutive segments greedily into spans of at most ``max_tokens`` tokens.

    Args:
        text: The text the segments belong to.
        pieces: Its segments (from :func:`segments`).
        max_tokens: Token limit of a span (by the sum of its segments' tokens).
        counter: Counts the tokens of a string (used with ``exact``).
        overlap: Tokens of whole segments repeated from the end of one span at the
            start of the next (less when segments are long; every span advances).
        exact: Also count each span's joined text and drop its last segments
            until it fits (sums of token counts can be lower than the count of the
            joined text).

    Returns:
        ``(start, end)`` character offsets, in order.
    """
    spans: list[tuple[int, int]] = []
    i, n = 0, len(pieces)
    covered = 0  # segments before this one are in a span already
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + pieces[j].tokens <= max_tokens):
            total += pieces[j].tokens
            j += 1
        while (
            exact and j - 1 > i and counter(text[pieces[i].start : pieces[j - 1].end]) > max_tokens
        ):
            j -= 1
        if j <= covered:  # the overlap left no room for new text: start without it
            i = covered
            continue
        spans.append((pieces[i].start, pieces[j - 1].end))
        covered = j
        if j >= n:
            break
        # Step back over whole segments for the overlap, leaving room for segment j so that
        # every span ends further than the previous one.
        k, shared, room = j, 0, max_tokens - pieces[j].tokens
        while overlap and k - 1 > i and shared + pieces[k - 1].tokens <= min(overlap, room):
            k -= 1
            shared += pieces[k].tokens
        i = k
    return spans


def split_spans(
    text: str,
    max_tokens: int,
    counter: TokenCounter,
    *,
    levels: Sequence[re.Pattern[str]] = PROSE_LEVELS,
    overlap: int = 0,
    exact: bool = True,
) -> list[tuple[int, int]]:
    r""":func:`segments` then :func:`pack`: the spans of ``text`` within ``max_tokens``.

    Example:
        ```python
        text = "One. Two.\n\nThree four five."
        [text[s:e] for s, e in split_spans(text, 6, approximate_token_count)]
        # ['One. Two.\n\n', 'Three four five.']
        ```
    """
    pieces = segments(text, max_tokens, counter, levels)
    return pack(text, pieces, max_tokens, counter, overlap=overlap, exact=exact)
