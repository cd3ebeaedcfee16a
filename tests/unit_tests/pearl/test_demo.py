"""The PEARL demo section runs offline and shows plan, concurrency, splitting, answer."""

from __future__ import annotations

import io

from langchain_niche.demo import SECTIONS
from langchain_niche.demo import pearl as demo
from langchain_niche.demo.console import Console
from langchain_niche.pearl import PEARL


def test_demo_section_runs_and_shows_the_trace() -> None:
    assert "pearl" in SECTIONS
    out = io.StringIO()
    demo.run(Console(out))
    text = out.getvalue()
    assert "NOT an LLM" in text
    assert "plan 1 rejected: line 4: unknown action FIND_GUARANTEE" in text
    assert "plan 2 accepted" in text
    assert (
        "rounds: [['try_cleanup', 'with_cleanup', 'exceptions'], ['difference'], ['answer']]"
        in text
    )
    assert "split into 4 parts" in text
    assert 'the "finally" clause is also executed' in text
    assert "Total: 18 model calls" in text
    assert "PEARL.stream_progress()" in text


def test_the_demo_answer_never_repeats_a_line() -> None:
    pearl = PEARL(
        demo.extractive_model(latency=0), max_context_tokens=6000, reserved_output_tokens=500
    )
    result = pearl.invoke({"question": demo.QUESTION, "document": demo.long_document()})
    lines = [line.split(") ", 1)[-1].removeprefix("- ") for line in result.answer.splitlines()]
    assert len(lines) >= 4
    assert len(set(lines)) == len(lines), result.answer
    assert 'the "finally" clause is also executed' in result.answer
    assert "__exit__" in result.answer
