"""The README's Python examples run, and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(?P<code>.*?)```\n(?P<after>(?:(?!```python).)*)", re.S)
PRINTS_BLOCK = re.compile(r"^\s*prints\s*\n\s*```text\n(?P<out>.*?)```", re.S)
PRINTS_INLINE = re.compile(r"^\s*prints `(?P<out>[^`]*)`")


def examples() -> list[tuple[str, str | None]]:
    found = []
    for match in BLOCK.finditer(README.read_text(encoding="utf-8")):
        after = match.group("after")
        expected = None
        if block := PRINTS_BLOCK.match(after):
            expected = block.group("out")
        elif inline := PRINTS_INLINE.match(after):
            expected = inline.group("out")
        found.append((match.group("code"), expected))
    return found


def test_readme_opens_with_exactly_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    assert text.index(first_block.group(0)) < text.index("\n## ")
    commands = [
        line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()
    ]
    assert commands == ["./scripts/demo", "./scripts/test"]


@pytest.mark.parametrize(("code", "expected"), examples(), ids=lambda value: None)
def test_readme_example(code: str, expected: str | None) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    if expected is not None:
        assert out.getvalue().strip() == expected.strip()


def test_readme_links_work_from_the_package_index_page() -> None:
    # PyPI renders the README away from the repository: a relative link breaks there.
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []
