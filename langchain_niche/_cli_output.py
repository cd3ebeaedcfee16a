"""Command line output for people: aligned tables, fields; errors as one line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

__all__: list[str] = []


_CELL_MIN = 12


# -- human-readable output -----------------------------------------------------------------
def _cut(text: str, width: int) -> str:
    """One line of at most ``width`` characters; a cut is marked with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "\u2026"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(info: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name.replace("_", " "), _plain(value)))
    return rows


def _print_fields(info: Mapping[str, Any]) -> None:
    rows = _flatten(info)
    width = max((len(name) for name, _ in rows), default=0)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int) -> None:
    """Aligned columns; the first ``right`` columns are right-aligned (numbers)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = [
            cell.rjust(w) if i < right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _print_hits(hits: Sequence[Any]) -> None:
    if not hits:
        print("no example matched (none shares a word with the input and passes --threshold)")
        return
    fields: list[str] = []
    for hit in hits:
        fields.extend(key for key in hit.example if key not in fields)
    total = shutil.get_terminal_size((100, 24)).columns
    fixed = 2 + 2 + 5 + 2 + max(len(str(hit.id)) for hit in hits) + 2
    cell = max(_CELL_MIN, (total - fixed) // max(len(fields), 1) - 2)
    header = ["#", "score", "id", *fields]
    rows = [
        [
            str(rank),
            f"{hit.score:.3f}",
            str(hit.id),
            *(_cut(_plain(hit.example.get(key, "")), cell) for key in fields),
        ]
        for rank, hit in enumerate(hits, start=1)
    ]
    _print_table(header, rows, right=2)
