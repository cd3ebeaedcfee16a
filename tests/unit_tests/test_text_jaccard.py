"""jaccard() lives with the text pipeline; PEARL and compression take it from there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import langchain_niche
from langchain_niche.text import default_tokenizer, jaccard

PACKAGE = Path(langchain_niche.__file__).parent
words = st.sets(st.sampled_from(["a", "b", "c", "d", "e", "f"]))


def test_by_hand() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 0.0
    assert jaccard({"a"}, set()) == 0.0
    assert jaccard(frozenset({"x"}), {"x"}) == 1.0
    assert jaccard(set(default_tokenizer("The cat")), set(default_tokenizer("the CAT"))) == 1.0


@given(words, words)
def test_is_the_set_ratio(a: set[str], b: set[str]) -> None:
    expected = len(a & b) / len(a | b) if a | b else 0.0
    assert jaccard(a, b) == pytest.approx(expected)
    assert jaccard(a, b) == jaccard(b, a)
    assert 0.0 <= jaccard(a, b) <= 1.0


def test_the_public_name_is_the_text_function() -> None:
    assert langchain_niche.jaccard is jaccard


@pytest.mark.parametrize("module", ["pearl/pipeline.py", "compression/relevance.py"])
def test_pearl_and_compression_do_not_import_the_selectors(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {name for name in imported if name.startswith("langchain_niche.selectors")}
    assert "langchain_niche.text" in imported
