"""The demo's entity-compression section runs offline and shows real results."""

from __future__ import annotations

import io

from langchain_niche.demo import SECTIONS
from langchain_niche.demo import compression as section
from langchain_niche.demo.console import Console


def test_compression_section_runs() -> None:
    assert "compression" in SECTIONS
    stream = io.StringIO()
    section.run(Console(stream=stream))
    text = stream.getvalue()
    assert "SCRIPTED (not a language model)" in text
    assert "Known facts in the compressed text: 72/72" in text
    assert "(0 duplicates" in text
    assert "[Company] (aka " in text
    assert "Structured records" in text
