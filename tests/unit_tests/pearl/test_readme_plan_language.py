"""The README's plan-language example parses (its Python blocks run in tests/unit_tests/test_readme.py)."""

from __future__ import annotations

import re
from pathlib import Path

from langchain_niche import DEFAULT_ACTIONS, parse_plan

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_plan_language_example_parses() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## PEARL: plan and execute over long documents") :]
    grammar = section[section.index("**The plan language**") :]
    example = re.search(r"```text\n(.*?)```", grammar, re.DOTALL)
    assert example is not None
    plan = parse_plan(example.group(1), DEFAULT_ACTIONS)
    assert plan.step("events").arguments[1].value == 'the mayor, a lawyer, said: "no"'
    assert [a.name for a in plan.new_actions] == ["COUNT_X"]
    assert plan.levels() == [["events"], ["n"]]
