"""What a newcomer reads in the demo: every cut marked with …, every number labelled."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import langchain_niche.demo
from langchain_niche.datasets import python_api_examples
from langchain_niche.demo import minhash, selection
from langchain_niche.demo.__main__ import main
from langchain_niche.demo.console import ELLIPSIS, Console, shorten
from langchain_niche.demo.corpora import describe, large_corpus

SMALL = 20_000  # the large corpus, scaled down so a test takes a few seconds
DEMO_DIR = Path(langchain_niche.demo.__file__).parent


# -- shorten: the one way the demo cuts text -----------------------------------------------
@given(st.text(), st.integers(min_value=1, max_value=200))
def test_shorten_fits_and_marks_every_cut(text: str, width: int) -> None:
    flat = " ".join(text.split())
    short = shorten(text, width)
    assert len(short) <= width
    if len(flat) <= width:
        assert short == flat
    else:
        assert short.endswith(ELLIPSIS)
        assert flat.startswith(short[:-1])


def test_shorten_examples() -> None:
    assert shorten("Recursively delete a directory tree.", 100) == (
        "Recursively delete a directory tree."
    )
    assert shorten("Recursively delete a directory tree.", 20) == "Recursively delete…"
    assert shorten("two\nlines", 20) == "two lines"


def test_table_labels_every_column_and_aligns_numbers() -> None:
    out = io.StringIO()
    Console(out).table(["score", "name"], [("0.5", "a"), ("10.25", "bb")], right=(0,), indent=" ")
    assert out.getvalue().splitlines() == [
        " score  name",
        " -----  ----",
        "   0.5  a",
        " 10.25  bb",
    ]


@pytest.mark.parametrize(
    "module", sorted(p.name for p in DEMO_DIR.glob("*.py") if p.name != "pearl.py")
)
def test_sections_cut_text_only_through_shorten(module: str) -> None:
    # A raw slice such as text[:60] cuts without marking the cut. (pearl.py has its own owner.)
    source = (DEMO_DIR / module).read_text(encoding="utf-8")
    assert not re.findall(r"\[:\s*[\w.]+\s*\]", source), module


# -- the selection section -----------------------------------------------------------------
@pytest.fixture(scope="module")
def selection_text() -> str:
    out = io.StringIO()
    selection.run(Console(out), size=SMALL)
    return out.getvalue()


def test_selection_scores_are_labelled(selection_text: str) -> None:
    lines = selection_text.splitlines()
    assert any(re.fullmatch(r"\s+Jaccard  function\s+description", line) for line in lines)
    assert any(re.fullmatch(r"\s+BM25  function\s+description", line) for line in lines)
    assert "Score: exact Jaccard similarity" in selection_text
    assert "Score: BM25" in selection_text
    # every score row sits under a header: a number, then a function name
    score_rows = [line for line in lines if re.match(r"\s+[01]\.\d{3}  \S", line)]
    assert len(score_rows) == 3 * (1 + len(selection.QUERIES))


def test_selection_token_budget_is_in_tokens(selection_text: str) -> None:
    budget = next(line for line in selection_text.splitlines() if "max_tokens=60" in line)
    assert re.search(r"\d+ examples fit, \d+ tokens in all", budget)
    assert "words" not in budget


def test_selection_speed_table_names_its_corpora(selection_text: str) -> None:
    assert re.search(
        r"corpus\s+examples\s+JaccardExampleSelector, k=3\s+median time", selection_text
    )
    assert re.search(r"stdlib docstrings\s+[\d,]+\s+stop words \+ BM25", selection_text)
    assert re.search(r"docstrings \+ recombined texts\s+20,000\s+plain Jaccard", selection_text)
    assert describe(SMALL) in " ".join(selection_text.split())
    assert "the MinHash section uses the same one" in " ".join(selection_text.split())


def test_selection_cuts_long_descriptions_with_an_ellipsis(monkeypatch: pytest.MonkeyPatch) -> None:
    long_text = "Return the median of a list of numbers " + "and more words " * 10 + "end."
    examples = [*python_api_examples(), {"description": long_text, "function": "demo.long"}]
    monkeypatch.setattr(selection, "python_api_examples", lambda: examples)
    out = io.StringIO()
    selection.run(Console(out), size=5_000)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if "demo.long" in line and ELLIPSIS in line)
    shown = row.split("demo.long", 1)[1].strip()
    assert shown.endswith(ELLIPSIS)
    assert long_text.startswith(shown[:-1])
    assert long_text not in text.split("Into a FewShotPromptTemplate")[0]


# -- the MinHash section -------------------------------------------------------------------
@pytest.fixture(scope="module")
def minhash_text() -> str:
    out = io.StringIO()
    minhash.run(Console(out), size=SMALL)
    return out.getvalue()


def test_minhash_labels_corpus_scores_and_times(minhash_text: str) -> None:
    flat = " ".join(minhash_text.split())
    assert describe(SMALL) in flat
    assert "the selection section's speed table uses the same one" in flat
    assert any(
        re.fullmatch(r"\s+Jaccard  function\s+description", line)
        for line in minhash_text.splitlines()
    )
    assert re.search(r"selector \(k=3\)\s+median time per selection", minhash_text)
    assert re.search(r"Medians over \d+ inputs", flat)


def test_minhash_prints_the_real_share_of_edited_copies(minhash_text: str) -> None:
    flat = " ".join(minhash_text.split())
    assert "a third" not in flat
    real = len(python_api_examples())
    match = re.search(r"an edited copy \(one word replaced\) of ([\d,]+) of them \((\d+)%\)", flat)
    assert match, flat
    copies = int(match.group(1).replace(",", ""))
    assert int(match.group(2)) == round(100 * copies / real)
    assert f"{real + copies:,} examples" in flat


def test_large_corpus_is_shared_and_reproducible() -> None:
    a, b = large_corpus(SMALL), large_corpus(SMALL)
    assert a == b
    assert a is not b
    assert len(a) == SMALL
    real = python_api_examples()
    assert a[: len(real)] == real
    assert a[len(real)]["function"] == "x.f0"


def test_demo_entry_point_runs_a_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compression"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("langchain-niche demo. Everything runs offline")
    assert "original tokens" in out
    assert "Dr. Okafor" not in out  # names quoted as examples come from the corpus shown
