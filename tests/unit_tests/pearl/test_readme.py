"""The README's PEARL section: its Python blocks run offline and print what it shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from langchain_niche import DEFAULT_ACTIONS, parse_plan

README = Path(__file__).resolve().parents[3] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def pearl_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## PEARL: plan and execute over long documents")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_readme_pearl_blocks_run_and_show_their_output() -> None:
    blocks = BLOCK.findall(pearl_section())
    namespace: dict[str, object] = {}
    outputs = []
    for kind, code in blocks:
        if kind != "python":
            continue
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(
                compile(code, str(README), "exec"), namespace
            )  # our own documentation, not model output
        outputs.append(buffer.getvalue())
    assert len(outputs) == 3
    first_shown = next(code for kind, code in blocks if kind == "text")
    assert outputs[0] == first_shown
    assert "plan 1 accepted" in outputs[1]
    assert "answer: " in outputs[1]
    assert outputs[2] == "2\n"


def test_readme_plan_language_example_parses() -> None:
    plans = [
        code
        for kind, code in BLOCK.findall(pearl_section())
        if kind == "text" and code.startswith("New actions")
    ]
    assert len(plans) == 2  # the output shown after the first example, and the grammar example
    plan = parse_plan(plans[1], DEFAULT_ACTIONS)
    assert plan.step("events").arguments[1].value == 'the mayor, a lawyer, said: "no"'
    assert plan.levels() == [["events"], ["n"]]
