"""Minimal console output helpers for the demo (no dependency on rich)."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Console"]


class Console:
    """Prints headings, tables, wrapped text and timings to a stream."""

    def __init__(self, stream: TextIO | None = None, width: int = 100) -> None:
        self.stream = stream or sys.stdout
        self.width = width

    def print(self, text: str = "") -> None:
        """Print a line."""
        self.stream.write(text + "\n")
        self.stream.flush()

    def heading(self, text: str) -> None:
        """Print a section heading."""
        self.print()
        self.print("=" * min(self.width, max(len(text), 20)))
        self.print(text)
        self.print("=" * min(self.width, max(len(text), 20)))

    def subheading(self, text: str) -> None:
        """Print a sub-heading."""
        self.print()
        self.print(f"-- {text} " + "-" * max(0, self.width - len(text) - 4))

    def wrap(self, text: str, indent: str = "") -> None:
        """Print text wrapped to the console width."""
        for line in text.splitlines() or [""]:
            self.print(
                textwrap.fill(line, self.width, initial_indent=indent, subsequent_indent=indent)
                if line
                else ""
            )

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Print a plain-text table."""
        cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            self.print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if n == 0:
                self.print("  ".join("-" * w for w in widths))

    @contextmanager
    def timed(self, label: str) -> Iterator[None]:
        """Print how long the body took."""
        start = time.perf_counter()
        yield
        self.print(f"{label}: {format_seconds(time.perf_counter() - start)}")


def format_seconds(seconds: float) -> str:
    """Format a duration with a unit that keeps 3 significant digits."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
