"""The MinHash demo section runs offline and shows selections, speed and deduplication."""

from __future__ import annotations

import io

from langchain_niche.demo import SECTIONS
from langchain_niche.demo import minhash as demo
from langchain_niche.demo.console import Console


def test_demo_section_runs() -> None:
    assert "minhash" in SECTIONS
    out = io.StringIO()
    demo.run(Console(out), size=20_000)
    text = out.getvalue()
    assert "20,000 examples" in text
    assert "shutil.rmtree" in text
    assert "fallback='probe'" in text
    assert "JaccardExampleSelector (exact)" in text
    assert "kept at Jaccard >= 0.8" in text
