"""Scope (issue 14 groundwork): filter semantics, typed errors, ScopeIndex vs brute force."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche.errors import IndexFormatError, InvalidParameterError, MissingKeyError
from langchain_niche.scope import Scope, ScopeIndex, check_filter_keys, scope_key
from tests.support.embeddings import SynonymBagEmbeddings

FIELDS = ["tenant", "lang", "task"]

# Small pools so that filters and examples collide often; 1, True and "1" coexist on purpose.
scalars = st.one_of(
    st.sampled_from(["acme", "beta", "", "ü", "1"]),
    st.integers(-1, 2),
    st.booleans(),
    st.none(),
)
conditions = st.one_of(scalars, st.lists(scalars, max_size=3), st.frozensets(scalars, max_size=3))
filters = st.dictionaries(st.sampled_from(FIELDS), conditions, max_size=3)
# Stored values also include things a filter can never equal.
stored_values = st.one_of(scalars, st.just(1.0), st.just(["acme"]), st.just({"x": 1}))
examples = st.dictionaries(st.sampled_from([*FIELDS, "question"]), stored_values, max_size=4)


def same(a: Any, b: Any) -> bool:
    """Typed equality: True != 1 != "1"; floats and containers never equal a filter scalar."""
    return type(a) is type(b) and a == b


def oracle(filt: dict[str, Any], example: dict[str, Any]) -> bool:
    for name, cond in filt.items():
        allowed = list(cond) if isinstance(cond, (list, tuple, set, frozenset)) else [cond]
        if name not in example or not any(same(example[name], a) for a in allowed):
            return False
    return True


def oracle_and(f1: dict[str, Any], f2: dict[str, Any], example: dict[str, Any]) -> bool:
    return oracle(f1, example) and oracle(f2, example)


# -- Scope semantics -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(filt=filters, example=examples)
def test_matches_equals_brute_force(filt: dict[str, Any], example: dict[str, Any]) -> None:
    assert Scope.from_filter(filt).matches(example) == oracle(filt, example)


@settings(max_examples=200, deadline=None)
@given(f1=filters, f2=filters, example=examples)
def test_and_is_conjunction(
    f1: dict[str, Any], f2: dict[str, Any], example: dict[str, Any]
) -> None:
    combined = Scope.from_filter(f1).and_(Scope.from_filter(f2))
    assert combined.matches(example) == oracle_and(f1, f2, example)
    assert combined == Scope.from_filter(f2).and_(Scope.from_filter(f1))
    if combined.is_empty():  # an empty scope matches nothing at all
        assert not combined.matches(example)


@settings(max_examples=200, deadline=None)
@given(filt=filters)
def test_json_round_trip_is_canonical(filt: dict[str, Any]) -> None:
    scope = Scope.from_filter(filt)
    text = scope.to_json()
    assert Scope.from_json(text) == scope
    assert Scope.from_json(text).to_json() == text
    assert json.loads(text) == {name: list(scope.values(name)) for name in scope.fields}
    for name in scope.fields:  # canonical order: sorted by each value's compact JSON text
        texts = [json.dumps(v, ensure_ascii=False) for v in scope.values(name)]
        assert texts == sorted(set(texts))


def test_examples_of_the_semantics() -> None:
    scope = Scope.from_filter({"tenant": "acme", "lang": ["de", "fr"]})
    assert scope.fields == ("lang", "tenant")
    assert scope.to_json() == '{"lang":["de","fr"],"tenant":["acme"]}'
    assert scope.matches({"tenant": "acme", "lang": "fr", "q": "x"})
    assert not scope.matches({"tenant": "acme", "lang": "en"})
    assert not scope.matches({"tenant": "acme"})  # missing field never matches
    assert Scope.from_filter({"n": 1}).matches({"n": 1})
    assert not Scope.from_filter({"n": 1}).matches({"n": True})
    assert not Scope.from_filter({"n": 1}).matches({"n": "1"})
    assert not Scope.from_filter({"n": 1}).matches({"n": 1.0})
    assert Scope.from_filter({"n": None}).matches({"n": None})
    empty = Scope.from_filter({"tenant": []})
    assert empty.is_empty()
    assert not empty.matches({"tenant": "acme"})
    assert Scope().is_unrestricted()
    assert Scope.from_filter(None).matches({})
    assert Scope.from_filter({"t": "a"}).and_(
        Scope.from_filter({"t": ["a", "b"]})
    ) == Scope.from_filter({"t": "a"})
    assert Scope.from_filter({"t": "a"}).and_(Scope.from_filter({"t": "b"})).is_empty()


def test_from_input_scopes_by_filter_keys() -> None:
    scope = Scope.for_call(["tenant"], {"tenant": "acme", "question": "q"}, {"lang": ["de"]})
    assert scope.to_json() == '{"lang":["de"],"tenant":["acme"]}'
    # the same field in both: intersection (a call cannot widen its input's scope)
    widened = Scope.for_call(["tenant"], {"tenant": "acme"}, {"tenant": ["acme", "beta"]})
    assert widened.values("tenant") == ("acme",)
    assert Scope.for_call(["tenant"], {"tenant": "acme"}, {"tenant": "beta"}).is_empty()


def test_input_without_filter_field_is_an_error_naming_it() -> None:
    with pytest.raises(MissingKeyError, match="'tenant'") as info:
        Scope.from_input(["lang", "tenant"], {"lang": "de", "question": "q"})
    assert info.value.key == "tenant"
    with pytest.raises(InvalidParameterError, match="'tenant'"):
        Scope.from_input(["tenant"], {"tenant": ["a", "b"]})


@pytest.mark.parametrize(
    ("filt", "name"),
    [
        ({"tenant": {"nested": "x"}}, "tenant"),
        ({"tenant": float("nan")}, "tenant"),
        ({"tenant": 1.5}, "tenant"),
        ({"tenant": ["a", float("nan")]}, "tenant"),
        ({"tenant": ["a", ["b"]]}, "tenant"),
        ({"tenant": "bad\ud800"}, "tenant"),
        ({"lang": b"de"}, "lang"),
    ],
)
def test_invalid_filter_values_are_typed_errors(filt: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError, match=repr(name)) as info:
        Scope.from_filter(filt)
    assert info.value.name == name


@pytest.mark.parametrize("filt", [{"": "x"}, {1: "x"}, {"bad\udc80": "x"}, ["tenant"], "tenant"])
def test_invalid_filter_fields_are_typed_errors(filt: Any) -> None:
    with pytest.raises(InvalidParameterError):
        Scope.from_filter(filt)


def test_from_json_rejects_garbage() -> None:
    for text in ["", "[1]", '{"a": "x"}', '{"a": [{"b": 1}]}', '{"a": [1.5]}']:
        with pytest.raises(InvalidParameterError):
            Scope.from_json(text)


def test_check_filter_keys() -> None:
    assert check_filter_keys(["tenant", "lang"], ["question"]) == ("tenant", "lang")
    assert check_filter_keys(None) == ()
    for bad in ["tenant", ["tenant", "tenant"], [""], [1], ["x\ud800"]]:
        with pytest.raises(InvalidParameterError):
            check_filter_keys(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="tenant") as info:
        check_filter_keys(["tenant"], ["question", "tenant"])
    assert info.value.name == "filter_keys"


def test_scope_key_is_stable_and_distinguishes_types() -> None:
    key = scope_key({"tenant": "acme", "lang": "de"})
    assert key == scope_key({"lang": "de", "tenant": "acme"})
    assert len(key) == 16
    assert int(key, 16) >= 0
    # pinned: the key is a storage layout; changing it orphans stored partitions
    canonical = json.dumps({"tenant": "acme", "lang": "de"}, sort_keys=True, separators=(",", ":"))
    assert key == hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
    assert key == "8caf90bbb3e7f6eb"
    assert scope_key({"t": "ü"}) == hashlib.blake2b('{"t":"ü"}'.encode(), digest_size=8).hexdigest()
    keys = {scope_key({"t": v}) for v in ["1", 1, True, None, "true", "null"]}
    assert len(keys) == 6
    with pytest.raises(InvalidParameterError):
        scope_key({"t": ["a"]})


def test_partition_keys() -> None:
    scope = Scope.for_call(["tenant"], {"tenant": "acme"}, {"lang": ["de", "fr"]})
    assert scope.partition_keys(["tenant"]) == [scope_key({"tenant": "acme"})]
    assert sorted(scope.partition_keys(["tenant", "lang"]) or []) == sorted(
        [scope_key({"tenant": "acme", "lang": "de"}), scope_key({"tenant": "acme", "lang": "fr"})]
    )
    assert scope.partition_keys(["task"]) is None
    assert Scope.from_filter({"tenant": []}).partition_keys(["tenant"]) == []


# -- vector store filters --------------------------------------------------------------------


def test_to_callable_filters_a_real_in_memory_vector_store() -> None:
    store = InMemoryVectorStore(SynonymBagEmbeddings())
    texts = ["refund my order", "refund my order please", "shipping delay", "refund status"]
    metas = [
        {"tenant": "acme", "lang": "de"},
        {"tenant": "beta", "lang": "de"},
        {"tenant": "acme", "lang": "fr"},
        {"tenant": "acme", "lang": "en"},
    ]
    store.add_texts(texts, metadatas=metas)
    scope = Scope.from_filter({"tenant": "acme", "lang": ["de", "fr"]})
    found = store.similarity_search("refund my order please", k=10, filter=scope.to_callable())
    assert sorted(d.page_content for d in found) == ["refund my order", "shipping delay"]
    # without the filter the other tenant's near-identical example would come first
    unfiltered = store.similarity_search("refund my order please", k=1)
    assert unfiltered[0].metadata["tenant"] == "beta"
    assert scope.to_callable()(
        Document(page_content="x", metadata={"tenant": "acme", "lang": "de"})
    )


def test_to_chroma_where_format() -> None:
    assert Scope().to_chroma_where() is None
    assert Scope.from_filter({"tenant": "acme"}).to_chroma_where() == {"tenant": {"$eq": "acme"}}
    assert Scope.from_filter({"tenant": "acme", "lang": ["fr", "de"]}).to_chroma_where() == {
        "$and": [{"lang": {"$in": ["de", "fr"]}}, {"tenant": {"$eq": "acme"}}]
    }
    assert Scope.from_filter({"n": ["1", 1, 2, True]}).to_chroma_where() == {
        "$or": [{"n": {"$eq": "1"}}, {"n": {"$in": [1, 2]}}, {"n": {"$eq": True}}]
    }
    with pytest.raises(InvalidParameterError, match="nothing"):
        Scope.from_filter({"tenant": []}).to_chroma_where()
    with pytest.raises(InvalidParameterError, match="None"):
        Scope.from_filter({"tenant": None}).to_chroma_where()


# -- ScopeIndex ------------------------------------------------------------------------------

index_filters = st.dictionaries(st.sampled_from(["tenant", "lang"]), conditions, max_size=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.tuples(st.integers(0, 12), examples), max_size=6)),
        st.tuples(st.just("remove"), st.lists(st.integers(0, 12), max_size=4)),
        st.tuples(st.just("compact"), st.lists(st.booleans(), min_size=13, max_size=13)),
    ),
    max_size=8,
)


def apply(index: ScopeIndex, model: list[dict[str, Any] | None], op: tuple[str, Any]) -> None:
    kind, arg = op
    if kind == "add":
        rows = [row for row, _ in arg]
        batch = [ex for _, ex in arg]
        # duplicate rows in one batch: numpy keeps the last assignment, like the model
        index.add(rows, batch)
        for row, ex in arg:
            model.extend([None] * (row + 1 - len(model)))
            model[row] = ex
    elif kind == "remove":
        rows = [r for r in arg if r < len(model)]
        index.remove(rows)
        for r in rows:
            model[r] = None
    else:
        keep = np.array(arg[: len(model)], dtype=np.bool_)
        index.compact(keep)
        model[:] = [ex for ex, k in zip(model, keep, strict=True) if k]


def expected_rows(model: list[dict[str, Any] | None], filt: dict[str, Any]) -> list[int]:
    return [i for i, ex in enumerate(model) if ex is not None and oracle(filt, ex)]


@settings(max_examples=150, deadline=None)
@given(ops=operations, queries=st.lists(index_filters, min_size=1, max_size=4))
def test_scope_index_equals_brute_force(
    ops: list[tuple[str, Any]], queries: list[dict[str, Any]]
) -> None:
    index = ScopeIndex(["tenant", "lang"])
    model: list[dict[str, Any] | None] = []
    for op in ops:
        apply(index, model, op)
        assert len(index) == len(model)
        for filt in queries:
            scope = Scope.from_filter(filt)
            want = expected_rows(model, filt)
            assert index.rows(scope).tolist() == want
            assert np.flatnonzero(index.mask(scope)).tolist() == want
    arrays, vocab = index.to_arrays()
    restored = ScopeIndex.from_arrays(arrays, vocab)
    for filt in queries:
        assert restored.rows(Scope.from_filter(filt)).tolist() == expected_rows(model, filt)


def test_scope_index_unindexed_field_and_bad_arguments() -> None:
    index = ScopeIndex(["tenant"])
    index.add([0, 1, 2], [{"tenant": "a"}, {"tenant": "b"}, {"tenant": "a"}])
    assert index.rows(Scope.from_filter({"tenant": "a"})).tolist() == [0, 2]
    assert index.rows(Scope()).tolist() == [0, 1, 2]
    with pytest.raises(InvalidParameterError, match="'lang'"):
        index.rows(Scope.from_filter({"lang": "de"}))
    with pytest.raises(InvalidParameterError):
        index.add([0], [])
    with pytest.raises(InvalidParameterError):
        index.add([-1], [{"tenant": "a"}])
    with pytest.raises(InvalidParameterError):
        index.remove([3])
    with pytest.raises(InvalidParameterError):
        index.compact(np.ones(2, dtype=np.bool_))
    with pytest.raises(InvalidParameterError):
        ScopeIndex(["tenant", "tenant"])


def test_scope_index_restore_rejects_malformed_input() -> None:
    index = ScopeIndex(["tenant"])
    index.add([0, 1], [{"tenant": "a"}, {"tenant": 1}])
    arrays, vocab = index.to_arrays()
    assert ScopeIndex.from_arrays(arrays, vocab).rows(
        Scope.from_filter({"tenant": 1})
    ).tolist() == [1]
    meta = json.loads(vocab)
    live = arrays["live"]
    bad_codes = {"codes": np.array([[0, 5]], dtype=np.int32), "live": live}
    removed_with_value = {"codes": arrays["codes"], "live": np.array([True, False])}
    cases: list[tuple[dict[str, Any], str]] = [
        (arrays, "not json"),
        (arrays, json.dumps({**meta, "format": "other"})),
        (arrays, json.dumps({**meta, "vocab": [['"a"', '"a"']]})),
        (arrays, json.dumps({**meta, "vocab": [["1.5", '"a"']]})),
        (arrays, json.dumps({**meta, "fields": ["tenant", "lang"]})),
        (bad_codes, vocab),
        ({"codes": np.zeros((1, 2)), "live": live}, vocab),
        ({"codes": arrays["codes"]}, vocab),
        ({"codes": arrays["codes"], "live": np.ones(3, dtype=np.bool_)}, vocab),
        (removed_with_value, vocab),
        ({}, vocab),
    ]
    for arrs, voc in cases:
        with pytest.raises(IndexFormatError):
            ScopeIndex.from_arrays(arrs, voc)


def test_scope_index_memory_per_example_per_field() -> None:
    n, fields = 20_000, ["tenant", "lang"]
    index = ScopeIndex(fields)
    index.add(
        np.arange(n),
        [{"tenant": f"t{i % 100}", "lang": ["de", "fr", "en"][i % 3]} for i in range(n)],
    )
    index.rows(Scope.from_filter({"tenant": "t7", "lang": "de"}))  # builds the postings
    per_example_per_field = index.nbytes / (n * len(fields))
    assert per_example_per_field <= 16, per_example_per_field
