"""Minimal console output helpers for the demo (no dependency on rich)."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

__all__ = ["ELLIPSIS", "Console", "format_seconds", "shorten"]

ELLIPSIS = "…"
"""Marks every place where the demo cuts a text."""


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

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        right: Sequence[int] = (),
        indent: str = "",
    ) -> None:
        """Print a plain-text table: a header, a rule, then the rows.

        Args:
            header: Column titles (each column is labelled).
            rows: The cells, converted with ``str``.
            right: Indexes of the columns to right-align (numbers).
            indent: Printed before every line.
        """
        cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            line = "  ".join(
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            )
            self.print(indent + line.rstrip())
            if n == 0:
                self.print(indent + "  ".join("-" * w for w in widths))

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


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to at most ``width`` characters with a trailing ``…``.

    Args:
        text: Any text; runs of whitespace (newlines included) become one space.
        width: The maximum length of the result (at least 1).

    Returns:
        The text itself when it fits, otherwise its first ``width - 1``
        characters (trailing spaces removed) followed by ``…``.
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return flat[: max(0, width - 1)].rstrip() + ELLIPSIS
