"""Lone surrogates are refused when examples are added, on every add path.

A string such as ``"\\ud800"`` cannot be encoded as UTF-8: it used to be accepted
and then fail in ``save``, Redis or the command line with a raw
``UnicodeEncodeError``. Now every way of adding examples raises
``InvalidExampleError`` naming the example and the field (``InvalidParameterError``
for an id), and nothing is added.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_niche import (
    HybridExampleSelector,
    InvalidExampleError,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    dedupe_examples,
)
from tests.support.embeddings import SynonymBagEmbeddings

GOOD = [{"q": "reset my password", "a": "settings"}, {"q": "open an invoice", "a": "billing"}]
BAD_EXAMPLES: list[tuple[dict[str, Any], str]] = [
    ({"q": "reset \ud800 password", "a": "x"}, "q"),  # compared field
    ({"q": "reset password", "a": "high \udfff"}, "a"),  # another field
    ({"q": "reset password", "meta": {"tags": ["ok", "\ud83d"]}}, "meta"),  # nested
    ({"q": "reset password", "\udc80": "x"}, "\udc80"),  # a field name
]


def jaccard(**kwargs: Any) -> JaccardExampleSelector:
    return JaccardExampleSelector(input_keys=["q"], **kwargs)


def minhash(**kwargs: Any) -> MinHashExampleSelector:
    return MinHashExampleSelector(input_keys=["q"], **kwargs)


def hybrid(**kwargs: Any) -> HybridExampleSelector:
    examples = kwargs.pop("examples", [])
    return HybridExampleSelector.from_examples(
        examples, SynonymBagEmbeddings(), input_keys=["q"], **kwargs
    )


async def ahybrid(**kwargs: Any) -> HybridExampleSelector:
    examples = kwargs.pop("examples", [])
    return await HybridExampleSelector.afrom_examples(
        examples, SynonymBagEmbeddings(), input_keys=["q"], **kwargs
    )


SELECTORS: dict[str, Callable[..., Any]] = {
    "jaccard": jaccard,
    "minhash": minhash,
    "hybrid": hybrid,
}


def constructors(kind: str) -> list[Callable[[list[dict[str, Any]]], Any]]:
    make = SELECTORS[kind]
    out: list[Callable[[list[dict[str, Any]]], Any]] = [lambda batch: make(examples=batch)]
    if kind != "hybrid":
        cls = type(make())
        out.append(lambda batch: cls.from_examples(batch, input_keys=["q"]))
    return out


@pytest.mark.parametrize(("bad", "field"), BAD_EXAMPLES)
@pytest.mark.parametrize("kind", SELECTORS)
def test_sync_add_paths_reject_lone_surrogates(kind: str, bad: dict[str, Any], field: str) -> None:
    for construct in constructors(kind):
        with pytest.raises(InvalidExampleError, match="lone surrogate") as info:
            construct([*GOOD, bad])
        assert info.value.index == len(GOOD)
        assert info.value.key == field
    selector = SELECTORS[kind](examples=GOOD)
    with pytest.raises(InvalidExampleError, match=re.escape(f"example 0: field {field!r}")):
        selector.add_example(bad)
    with pytest.raises(InvalidExampleError, match=re.escape(f"example 1: field {field!r}")):
        selector.add_examples([GOOD[0], bad])
    assert len(selector) == len(GOOD)  # nothing was added


@pytest.mark.parametrize(("bad", "field"), BAD_EXAMPLES)
@pytest.mark.parametrize("kind", SELECTORS)
async def test_async_add_paths_reject_lone_surrogates(
    kind: str, bad: dict[str, Any], field: str
) -> None:
    afrom: dict[str, Callable[..., Awaitable[Any]]] = {
        "jaccard": lambda batch: JaccardExampleSelector.afrom_examples(batch, input_keys=["q"]),
        "minhash": lambda batch: MinHashExampleSelector.afrom_examples(batch, input_keys=["q"]),
        "hybrid": lambda batch: ahybrid(examples=batch),
    }
    with pytest.raises(InvalidExampleError, match="lone surrogate") as info:
        await afrom[kind]([*GOOD, bad])
    assert info.value.key == field
    selector = SELECTORS[kind](examples=GOOD)
    with pytest.raises(InvalidExampleError, match=re.escape(f"field {field!r}")):
        await selector.aadd_example(bad)
    big = [{"q": f"word{i}", "a": "x"} for i in range(300)]  # large batches run in the executor
    with pytest.raises(InvalidExampleError, match=re.escape(f"example 300: field {field!r}")):
        await selector.aadd_examples([*big, bad])
    assert len(selector) == len(GOOD)


@pytest.mark.parametrize("kind", SELECTORS)
def test_ids_with_lone_surrogates_are_rejected(kind: str) -> None:
    selector = SELECTORS[kind](examples=GOOD)
    with pytest.raises(InvalidParameterError, match="lone surrogate") as info:
        selector.add_example({"q": "fine", "a": "fine"}, example_id="id-\ud800")
    assert info.value.name == "ids"
    assert info.value.value == "id-\ud800"
    assert len(selector) == len(GOOD)


@pytest.mark.parametrize(("bad", "field"), BAD_EXAMPLES)
def test_dedupe_rejects_lone_surrogates(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidExampleError, match="lone surrogate") as info:
        dedupe_examples([*GOOD, bad], input_keys=["q"])
    assert info.value.index == len(GOOD)
    assert info.value.key == field


def test_numbers_and_other_values_are_still_accepted() -> None:
    examples = [{"q": "reset my password", "n": 3, "x": None, "tags": ["é", {"k": "ü"}]}]
    selector = JaccardExampleSelector(examples=examples, input_keys=["q"])
    assert selector.examples == examples


TEXT = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cs"]),  # lone surrogates, half of the draws
        st.characters(codec="utf-8", categories=["L", "N", "Zs", "So"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXT)
def test_accepted_if_and_only_if_utf8_can_encode_it(text: str, tmp_path: Path) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        encodable = False
    else:
        encodable = True
    selector = JaccardExampleSelector(input_keys=["q"])
    if not encodable:
        with pytest.raises(InvalidExampleError, match="lone surrogate"):
            selector.add_example({"q": "word", "a": text})
        assert len(selector) == 0
        return
    selector.add_example({"q": "word", "a": text})
    path = selector.save(tmp_path / "index.niche.zip")  # what used to fail later
    assert JaccardExampleSelector.load(path).examples == [{"q": "word", "a": text}]
