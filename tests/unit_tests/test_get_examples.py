"""JaccardExampleSelector.get_examples: the public lookup by id (used by the hybrid selector)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import ExampleNotFoundError, JaccardExampleSelector, NicheError

EXAMPLES = [
    {"input": "happy", "output": "sad"},
    {"input": "tall", "output": "short"},
    {"input": "sunny day", "output": "rainy day"},
]


def make() -> JaccardExampleSelector:
    return JaccardExampleSelector(examples=EXAMPLES, ids=["a", "b", "c"], input_keys=["input"])


def test_returns_examples_in_the_order_of_the_ids() -> None:
    selector = make()
    assert selector.get_examples(["c", "a"]) == [EXAMPLES[2], EXAMPLES[0]]
    assert selector.get_examples(["b", "b"]) == [EXAMPLES[1], EXAMPLES[1]]
    assert selector.get_examples([]) == []


def test_returns_copies() -> None:
    selector = make()
    got = selector.get_examples(["a"])[0]
    got["input"] = "changed"
    assert selector.get_examples(["a"]) == [EXAMPLES[0]]
    assert selector.examples[0] == EXAMPLES[0]


def test_unknown_id_names_the_first_unknown_one() -> None:
    selector = make()
    with pytest.raises(ExampleNotFoundError, match="'zz'") as info:
        selector.get_examples(["a", "zz", "yy"])
    assert isinstance(info.value, NicheError)
    assert isinstance(info.value, KeyError)
    assert "yy" not in str(info.value)


def test_removed_example_is_not_found() -> None:
    selector = make()
    selector.remove_example("b")
    with pytest.raises(ExampleNotFoundError, match="'b'"):
        selector.get_examples(["b"])
    added = selector.add_example({"input": "new", "output": "old"}, example_id="b")
    assert selector.get_examples([added]) == [{"input": "new", "output": "old"}]


def test_non_string_id_is_not_found_rather_than_a_raw_error() -> None:
    with pytest.raises(ExampleNotFoundError, match="3"):
        make().get_examples([3])  # type: ignore[list-item]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=6))
def test_matches_the_ids_and_examples_properties(wanted: list[str]) -> None:
    selector = make()
    by_id = dict(zip(selector.ids, selector.examples, strict=True))
    assert selector.get_examples(wanted) == [by_id[i] for i in wanted]


def test_lookup_is_consistent_while_examples_are_added() -> None:
    selector = make()
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            selector.add_example({"input": f"word{n}", "output": "x"}, example_id=f"w{n}")
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(50):
            assert selector.get_examples(["a", "c"]) == [EXAMPLES[0], EXAMPLES[2]]
    finally:
        stop.set()
        thread.join()
