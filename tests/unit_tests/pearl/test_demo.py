"""The PEARL demo section runs offline and shows plan, concurrency, splitting, answer."""

from __future__ import annotations

import io

from langchain_niche.demo import SECTIONS
from langchain_niche.demo import pearl as demo
from langchain_niche.demo.console import Console


def test_demo_section_runs_and_shows_the_trace() -> None:
    assert "pearl" in SECTIONS
    out = io.StringIO()
    demo.run(Console(out))
    text = out.getvalue()
    assert "NOT an LLM" in text
    assert "plan 1 rejected: line 4: unknown action FIND_GUARANTEE" in text
    assert "plan 2 accepted" in text
    assert "rounds: [['try_cleanup', 'with_cleanup', 'exceptions'], ['both', 'difference']]" in text
    assert "split into 4 parts" in text
    assert 'the "finally" clause is also executed' in text
    assert "Total: 18 model calls" in text
