"""The tolerant JSON reader: repairs what models get wrong, never evaluates anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.compression import ExtractionParseError, parse_json_loosely

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
containers = st.one_of(
    st.lists(json_values, max_size=4), st.dictionaries(st.text(max_size=8), json_values, max_size=4)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ("{'a': 'single', 'b': True, 'c': None}", {"a": "single", "b": True, "c": None}),
        ('{"a": [1, 2, ], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ("{name: Ada Lovelace, born: 1815}", {"name": "Ada Lovelace", "born": 1815}),
        ('{"a": 1, // a comment\n "b": /* inline */ 2}', {"a": 1, "b": 2}),
        ('{"a": 1 "b": 2}', {"a": 1, "b": 2}),  # missing comma
        ('[{"name": "x"}, {"name": "y"}]', [{"name": "x"}, {"name": "y"}]),
        ('{"s": "caf\\u00e9 \\ud83d\\ude00 \\"q\\""', {"s": 'café 😀 "q"'}),
        (
            '{"entities": [{"name": "东京", "type": "City"}]}',
            {"entities": [{"name": "东京", "type": "City"}]},
        ),
    ],
)
def test_repairs(text: str, expected: Any) -> None:
    assert parse_json_loosely(text) == expected


def test_cut_off_values_are_dropped_not_kept_truncated() -> None:
    # "$1.2 bil" would be a wrong value that still grounds: a cut-off value is never kept.
    data = parse_json_loosely('{"entities": [{"name": "Acme", "properties": {"revenue": "$1.2 bil')
    assert data == {"entities": [{"name": "Acme", "properties": {}}]}
    assert parse_json_loosely('{"a": 1, "b": 12') == {"a": 1}


@pytest.mark.parametrize("text", ["", "no json here", "just words: a, b, c", "}{"[::-1][:0]])
def test_no_json_is_a_typed_error(text: str) -> None:
    with pytest.raises(ExtractionParseError, match="no JSON"):
        parse_json_loosely(text)


def test_non_text_is_a_typed_error() -> None:
    with pytest.raises(ExtractionParseError, match="expected the reply text"):
        parse_json_loosely(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected the reply text"):  # also a ValueError
        parse_json_loosely(b"{}")  # type: ignore[arg-type]


def test_deep_nesting_does_not_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    try:
        value = parse_json_loosely(deep)
    except ExtractionParseError:
        return
    assert isinstance(value, list)


@given(containers)
@settings(max_examples=150, deadline=None)
def test_valid_json_round_trips(value: Any) -> None:
    assert parse_json_loosely(json.dumps(value)) == value
    assert parse_json_loosely(json.dumps(value, ensure_ascii=False, indent=2)) == value


@given(containers, st.sampled_from(["Here you go: {}", "```json\n{}\n```", "{}\nHope this helps!"]))
@settings(max_examples=100, deadline=None)
def test_wrapped_json_round_trips(value: Any, wrapper: str) -> None:
    assert parse_json_loosely(wrapper.replace("{}", json.dumps(value), 1)) == value


@given(
    st.dictionaries(
        st.text(alphabet="abcxyz", min_size=1, max_size=5), st.integers(), min_size=1, max_size=5
    )
)
@settings(max_examples=100, deadline=None)
def test_trailing_commas_and_single_quotes(value: dict[str, int]) -> None:
    body = ", ".join(f"'{k}': {v}" for k, v in value.items())
    assert parse_json_loosely("{" + body + ",}") == value


@given(containers, st.data())
@settings(max_examples=150, deadline=None)
def test_any_prefix_parses_or_fails_cleanly(value: Any, data: st.DataObject) -> None:
    text = json.dumps(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    try:
        result = parse_json_loosely(text[:cut])
    except ExtractionParseError:
        return
    assert isinstance(result, dict | list)
