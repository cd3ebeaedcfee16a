"""Scoped hybrid selection (issue 14): store filter in its own format, enforced lexically."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import HybridExampleSelector
from langchain_niche.errors import MissingKeyError

TENANTS = ["acme", "beta"]
QUESTIONS = [
    "refund my order",
    "refund my order please",
    "where is my parcel",
    "cancel the subscription",
    "change the delivery address",
]


def _examples() -> list[dict[str, Any]]:
    # both tenants hold near-identical examples
    return [
        {"tenant": tenant, "lang": lang, "q": q, "a": f"{tenant}-{n}-{lang}"}
        for n, q in enumerate(QUESTIONS)
        for tenant in TENANTS
        for lang in ("de", "fr")
    ]


class RecordingStore(InMemoryVectorStore):
    """Records the filter it gets; optionally ignores it (a store that cannot filter)."""

    ignore_filter: bool = False
    filters: list[Any]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        self.filters.append(kwargs.get("filter"))
        if self.ignore_filter:
            kwargs.pop("filter", None)
        return super().similarity_search_with_score(query, k=k, **kwargs)


class IgnoringStore(RecordingStore):
    ignore_filter = True


class BrokenStore(InMemoryVectorStore):
    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        raise RuntimeError("store down")


def _selector(store_cls: type[InMemoryVectorStore], **kwargs: Any) -> HybridExampleSelector:
    selector = HybridExampleSelector.from_examples(
        _examples(),
        DeterministicFakeEmbedding(size=16),
        store_cls,
        input_keys=["q"],
        filter_keys=["tenant"],
        fetch_k=8,
        **kwargs,
    )
    if isinstance(selector.vectorstore, RecordingStore):
        selector.vectorstore.filters = []
    return selector


@pytest.mark.parametrize("store_cls", [RecordingStore, IgnoringStore])
@pytest.mark.parametrize("fusion", ["weighted", "rerank", "rrf"])
@settings(max_examples=15, deadline=None)
@given(
    tenant=st.sampled_from(TENANTS),
    q=st.sampled_from(QUESTIONS),
    langs=st.none() | st.lists(st.sampled_from(["de", "fr"]), min_size=1, max_size=2),
    k=st.integers(1, 12),
)
def test_no_leak_whatever_the_store_does(
    store_cls: type[RecordingStore], fusion: str, tenant: str, q: str, langs: Any, k: int
) -> None:
    selector = _selector(store_cls, fusion=fusion, k=k)
    per_call = None if langs is None else {"lang": langs}
    got = selector.search({"tenant": tenant, "q": q}, filter=per_call)
    assert got  # every tenant has matching examples
    assert all(s.example["tenant"] == tenant for s in got)
    if langs is not None:
        assert all(s.example["lang"] in langs for s in got)
    store = selector.vectorstore
    assert isinstance(store, RecordingStore)
    # the store got the tenant condition as InMemoryVectorStore's callable filter
    assert store.filters
    assert callable(store.filters[-1])
    assert store.filters[-1](Document("x", metadata={"tenant": tenant}))
    other = next(t for t in TENANTS if t != tenant)
    assert not store.filters[-1](Document("x", metadata={"tenant": other}))


def test_fallback_is_scoped() -> None:
    selector = _selector(BrokenStore, k=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = selector.search({"tenant": "beta", "q": "refund my order"})
    assert selector.last_fallback is not None
    assert got
    assert {s.example["tenant"] for s in got} == {"beta"}


def test_missing_filter_field_and_empty_filter() -> None:
    selector = _selector(InMemoryVectorStore)
    assert selector.filter_keys == ["tenant"]
    with pytest.raises(MissingKeyError, match="tenant"):
        selector.search({"q": "refund"})
    assert selector.search({"tenant": "acme", "q": "refund"}, filter={"lang": []}) == []


def test_added_examples_carry_filter_metadata() -> None:
    selector = _selector(IgnoringStore, k=30)
    selector.add_examples([{"tenant": "gamma", "lang": "de", "q": "refund my order", "a": "g"}])
    got = selector.select_examples_with_scores({"tenant": "gamma", "q": "refund my order"})
    assert [example["a"] for example, _ in got] == ["g"]
    docs = selector.vectorstore.similarity_search("refund my order", k=50)
    assert {d.metadata.get("tenant") for d in docs} == {"acme", "beta", "gamma"}


@pytest.mark.parametrize("fusion", ["weighted", "rerank", "rrf"])
@pytest.mark.parametrize("tenant", TENANTS)
def test_scoped_bm25_hybrid_equals_a_hybrid_of_the_scope_only(fusion: str, tenant: str) -> None:
    """Lexical BM25 scores of vector hits use the scope's statistics (as the lexical search)."""
    examples = [
        *_examples(),
        *({"tenant": "acme", "lang": "de", "q": "refund", "a": f"extra-{i}"} for i in range(6)),
    ]  # "refund" is common for acme, rare for beta
    ids = [f"e{i}" for i in range(len(examples))]
    options = {"input_keys": ["q"], "fetch_k": 8, "k": 5, "fusion": fusion, "similarity": "bm25"}
    selector = HybridExampleSelector.from_examples(
        examples, DeterministicFakeEmbedding(size=16), ids=ids, filter_keys=["tenant"], **options
    )
    inside = [(i, e) for i, e in zip(ids, examples, strict=True) if e["tenant"] == tenant]
    alone = HybridExampleSelector.from_examples(
        [e for _, e in inside],
        DeterministicFakeEmbedding(size=16),
        ids=[i for i, _ in inside],
        **options,
    )
    for q in QUESTIONS:
        got = selector.search({"tenant": tenant, "q": q})
        want = alone.search({"tenant": tenant, "q": q})
        assert [(s.id, s.score) for s in got] == [(s.id, s.score) for s in want]
