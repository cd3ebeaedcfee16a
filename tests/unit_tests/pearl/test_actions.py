"""Actions and action sets: parsing, validation, JSON round trip."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from langchain_niche import NicheError
from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl import (
    DEFAULT_ACTIONS,
    SEED_ACTIONS,
    Action,
    ActionFormatError,
    ActionSet,
    SavedFileError,
    parse_action,
)

PAPER_SEEDS = {
    "CONCAT": (("S1", "S2"), True),
    "EXTRACT": (("CTX", "X"), False),
    "FIND_X": (("CTX", "X"), False),
    "FIND_REASON": (("CTX", "X"), False),
    "FIND_MORAL": (("CTX",), False),
    "SUMMARIZE": (("CTX",), False),
    "SUMMARIZE_X": (("CTX", "X"), False),
}


def test_seed_actions_are_the_papers_seven() -> None:
    assert {a.name: (a.parameters, a.variadic) for a in SEED_ACTIONS} == PAPER_SEEDS


def test_default_actions_extend_the_seeds_within_15_to_30() -> None:
    assert 15 <= len(DEFAULT_ACTIONS) <= 30
    assert SEED_ACTIONS.names == DEFAULT_ACTIONS.names[: len(SEED_ACTIONS)]
    assert all(a.description.endswith(".") for a in DEFAULT_ACTIONS)


def test_parse_action_reads_signature_and_description() -> None:
    action = parse_action("- count_x(CTX, X) : Count how often X happens: twice, maybe.")
    assert action.name == "COUNT_X"
    assert action.parameters == ("CTX", "X")
    assert action.description == "Count how often X happens: twice, maybe."
    assert action.takes_context
    assert action.accepts(2)
    assert not action.accepts(1)
    assert action.to_line() == "COUNT_X(CTX, X) : Count how often X happens: twice, maybe."
    assert parse_action(action.to_line()) == action


def test_variadic_and_hash_separator() -> None:
    action = parse_action("JOIN(A, B, ...)\t# join things")
    assert action.variadic
    assert action.signature == "JOIN(A, B, ...)"
    assert action.accepts(1)
    assert action.accepts(5)
    assert not action.accepts(0)
    assert action.parameter_for(3) == "B4"


@pytest.mark.parametrize(
    "text",
    ["FIND_X(CTX, X)", "no parens : hi", "FIND X(CTX) : x", "F(CTX, CTX) : twice", "F(1a) : bad"],
)
def test_malformed_definitions_raise_action_format_error(text: str) -> None:
    with pytest.raises(ActionFormatError) as info:
        parse_action(text)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, NicheError)
    assert info.value.text == text


def test_concat_cannot_take_the_document() -> None:
    with pytest.raises(ActionFormatError, match="CONCAT"):
        parse_action("CONCAT(CTX, X) : no")


def test_action_set_rejects_duplicate_names() -> None:
    with pytest.raises(InvalidParameterError, match="FIND_X"):
        ActionSet(["FIND_X(CTX, X) : a", "find_x(CTX) : b"])


def test_action_set_lookup_merge_and_without() -> None:
    extra = Action(name="FIND_PRICE", parameters=("CTX", "X"), description="Find what X costs.")
    with pytest.warns(UserWarning, match=r"keeps the left side's.*FIND_X\(CTX, X\)"):
        merged = DEFAULT_ACTIONS | [extra, "FIND_X(CTX) : replaced?"]
    assert "find_price" in merged
    assert merged.get("find_price") == extra
    assert merged["FIND_X"] == DEFAULT_ACTIONS["FIND_X"]  # existing definitions win
    replaced = DEFAULT_ACTIONS.merge(["FIND_X(CTX) : replaced"], replace=True)
    assert replaced["FIND_X"].parameters == ("CTX",)
    assert "FIND_MORAL" not in DEFAULT_ACTIONS.without("find_moral")
    assert (
        merged.render().splitlines()[0]
        == "- CONCAT(S1, S2, ...) : Join the given texts, in the given order, into one text."
    )


def test_json_round_trip_in_memory_and_on_disk(tmp_path: Path) -> None:
    assert ActionSet.from_json(DEFAULT_ACTIONS.to_json()) == DEFAULT_ACTIONS
    path = DEFAULT_ACTIONS.save(tmp_path / "sub" / "actions.json")
    assert ActionSet.load(path) == DEFAULT_ACTIONS
    data = json.loads(path.read_text())
    assert data["format"] == "langchain-niche-pearl-actions"
    assert data["version"] == 1


def test_loading_a_foreign_or_broken_file_names_the_problem(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(SavedFileError, match="something-else"):
        ActionSet.load(other)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SavedFileError, match="not JSON"):
        ActionSet.load(broken)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "langchain-niche-pearl-actions", "version": 99}))
    with pytest.raises(SavedFileError, match="version 99"):
        ActionSet.load(newer)
    bad_action = tmp_path / "bad.json"
    bad_action.write_text(
        json.dumps(
            {"format": "langchain-niche-pearl-actions", "version": 1, "actions": [{"name": "x y"}]}
        )
    )
    with pytest.raises(SavedFileError, match="invalid action set"):
        ActionSet.load(bad_action)


def test_saved_action_set_follows_the_umask(tmp_path: Path) -> None:
    # like open(path, "w"): 0o666 minus the umask, not mkstemp's private 0o600
    old = os.umask(0o027)
    try:
        path = DEFAULT_ACTIONS.save(tmp_path / "actions.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert ActionSet.load(path) == DEFAULT_ACTIONS
    assert [p.name for p in tmp_path.iterdir()] == ["actions.json"]  # no temporary file left
