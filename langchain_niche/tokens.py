"""Counting tokens offline, fast, without downloading a vocabulary.

:func:`approximate_token_count` is the default ``token_counter`` of every part
of the package that keeps a token budget. It mimics how byte-pair encoders such
as OpenAI's ``cl100k_base`` split text (a common word is one token, long or rare
words several, digits in groups of three, CJK characters one each) and leans
towards over-counting, so that a budget computed with it is rarely exceeded by the
real tokenizer. It is an estimate, not a measurement: for exact counts pass any
``Callable[[str], int]``, for example a chat model's ``get_num_tokens``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

__all__ = ["TokenCounter", "approximate_token_count"]

TokenCounter = Callable[[str], int]
"""Any callable that returns the number of tokens of a text."""

_PIECE_RE = re.compile(r"[^\W\d_]+|\d{1,3}|\s+|[^\w\s]+|_+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_SHORT_WORD = 7
_LONG_WORD_CHARS = 5
_SPACE_RUN_CHARS = 8


def approximate_token_count(text: str) -> int:
    """Estimate the number of BPE tokens of ``text`` without a vocabulary.

    Args:
        text: Any text.

    Returns:
        The estimated token count (0 for the empty string).

    Example:
        ```python
        approximate_token_count("Hello world, how are you today?")  # 8
        ```
    """
    count = 0
    for match in _PIECE_RE.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isspace():
            # A single space is merged into the following word by BPE encoders.
            if len(piece) > 1:
                count += 1 + (len(piece) - 2) // _SPACE_RUN_CHARS
        elif first.isalpha():
            if piece.isascii():
                count += (
                    1 if len(piece) <= _SHORT_WORD else math.ceil(len(piece) / _LONG_WORD_CHARS)
                )
            elif _CJK_RE.match(first):
                count += len(piece)
            else:
                count += math.ceil(len(piece) / 2)
        elif first.isdigit():
            count += 1
        elif piece.isascii():
            count += math.ceil(len(piece) / 2)
        else:
            count += 2 * len(piece)  # emoji and other symbols take several bytes
    return count
