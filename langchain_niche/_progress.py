"""Progress for long batch jobs (the command line, ``collect_examples``).

A tqdm bar on a terminal when tqdm is installed (the ``cli`` extra); otherwise a
plain line on stderr at most every two seconds, which reads well in logs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["ProgressUpdate", "progress"]

ProgressUpdate = Callable[[int], None]


class _PlainProgress:
    """A stand-in for tqdm: a line on ``stream`` at most every two seconds."""

    def __init__(self, total: int, desc: str, stream: TextIO) -> None:
        self.total, self.desc, self.stream = total, desc, stream
        self.done = 0
        self.last = 0.0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= 2.0 or self.done >= self.total:
            self.last = now
            self.stream.write(f"{self.desc}: {self.done:,}/{self.total:,}\n")
            self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def progress(total: int, desc: str, *, enabled: bool, unit: str = "ex") -> Iterator[ProgressUpdate]:
    """Yield a function that reports ``count`` more items done.

    Args:
        total: How many items there are.
        desc: What is being done ("indexing").
        enabled: ``False``: report nothing.
        unit: The items' unit for tqdm.

    Yields:
        ``update(count)``.
    """
    if not enabled:
        yield lambda _count: None
        return
    bar: Any = _PlainProgress(total, desc, sys.stderr)
    if sys.stderr.isatty():  # a bar only on a terminal
        try:
            from tqdm import tqdm  # noqa: PLC0415 - optional dependency (the `cli` extra)
        except ImportError:
            pass
        else:
            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()
