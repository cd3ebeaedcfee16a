"""dedupe_examples against a brute-force greedy pass."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import InvalidParameterError, MissingKeyError, dedupe_examples, jaccard
from langchain_niche.datasets import python_api_examples
from langchain_niche.text import TextAnalyzer


def brute_force(examples: list[dict[str, str]], threshold: float, key: str) -> list[dict[str, str]]:
    analyzer = TextAnalyzer()
    sets = [analyzer.shingles(example[key]) for example in examples]
    kept: list[int] = []
    for i, tokens in enumerate(sets):
        if not any(jaccard(tokens, sets[j]) >= threshold for j in kept):
            kept.append(i)
    return [examples[i] for i in kept]


@pytest.mark.parametrize("threshold", [0.6, 0.8, 0.9, 1.0])
def test_equals_brute_force_on_real_text(threshold: float) -> None:
    corpus = python_api_examples()[:1200]
    rng = random.Random(4)
    noisy = []
    for example in corpus:
        noisy.append(example)
        words = example["description"].split()
        if len(words) > 8 and rng.random() < 0.3:
            words[rng.randrange(len(words))] = "zzz"
            noisy.append({**example, "description": " ".join(words)})
    kept = dedupe_examples(noisy, threshold, input_keys=["description"])
    assert kept == brute_force(noisy, threshold, "description")


words = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(words, min_size=0, max_size=6).map(" ".join), max_size=25),
    st.sampled_from([0.5, 0.75, 1.0]),
)
def test_property_equals_brute_force(texts: list[str], threshold: float) -> None:
    examples = [{"q": text} for text in texts]
    assert dedupe_examples(examples, threshold, lsh_threshold=0.05) == brute_force(
        examples, threshold, "q"
    )


def test_keeps_first_of_each_group_and_order() -> None:
    examples = [
        {"q": "How do I reset my password?", "a": "1"},
        {"q": "Where is my invoice?", "a": "2"},
        {"q": "how do I reset my password", "a": "3"},
        {"q": "Where is my invoice", "a": "4"},
        {"q": "Completely different", "a": "5"},
    ]
    kept = dedupe_examples(examples, 0.9, input_keys=["q"])
    assert [example["a"] for example in kept] == ["1", "2", "5"]
    assert kept[0] is not examples[0]  # copies
    # all fields compared by default: the answers differ, so nothing is a duplicate at 0.9
    assert len(dedupe_examples(examples, 0.9)) == 5


def test_empty_texts_are_not_duplicates_of_each_other() -> None:
    assert len(dedupe_examples([{"q": "!!"}, {"q": "??"}], 0.5)) == 2
    assert dedupe_examples([], 0.9) == []


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    dedupe_examples([{"q": "a b"}, {"q": "a b"}], 0.9, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2, 2)


@pytest.mark.parametrize("bad", [0, 1.5, "0.9", None])
def test_threshold_is_checked(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="threshold"):
        dedupe_examples([{"q": "a"}], bad)  # type: ignore[arg-type]


def test_bad_examples_are_reported() -> None:
    with pytest.raises(MissingKeyError, match="example 1"):
        dedupe_examples([{"q": "a"}, {"x": "b"}], 0.9, input_keys=["q"])
    with pytest.raises(InvalidParameterError, match="input_keys"):
        dedupe_examples([{"q": "a"}], 0.9, input_keys="q")  # type: ignore[arg-type]
