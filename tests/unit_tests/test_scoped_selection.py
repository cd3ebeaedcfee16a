"""Scoped selection in memory (issue 14): filter_keys and per-call filters."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from langchain_niche import JaccardExampleSelector, MinHashExampleSelector
from langchain_niche.errors import InvalidParameterError, MissingKeyError
from langchain_niche.scope import Scope
from langchain_niche.selectors.base import LexicalExampleSelector

WORDS = ["refund", "order", "late", "shipping", "box", "card", "paid", "twice", "lost"]
TENANTS = ["acme", "beta", "gamma"]
LANGS = ["de", "fr", "en"]

SELECTORS: list[type[LexicalExampleSelector]] = [JaccardExampleSelector, MinHashExampleSelector]
EXACT_MINHASH = {"fallback": "exact", "rerank": "jaccard"}


def _make(cls: type[LexicalExampleSelector], examples: list[dict[str, Any]], **kwargs: Any) -> Any:
    extra = EXACT_MINHASH if cls is MinHashExampleSelector else {}
    return cls(examples=examples, ids=[e["id"] for e in examples], **extra, **kwargs)


examples_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "tenant": st.sampled_from(TENANTS),
            "lang": st.sampled_from(LANGS),
            "q": st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
        }
    ),
    min_size=0,
    max_size=25,
).map(lambda rows: [{**row, "id": f"e{i}"} for i, row in enumerate(rows)])


@pytest.mark.parametrize("cls", SELECTORS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    examples=examples_strategy,
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    tenant=st.sampled_from(TENANTS),
    langs=st.none() | st.lists(st.sampled_from(LANGS), max_size=3),
    k=st.integers(1, 5),
    threshold=st.sampled_from([0.0, 0.2, 0.5]),
    diversity=st.sampled_from([0.0, 0.5]),
    max_tokens=st.none() | st.integers(5, 40),
    removed=st.lists(st.integers(0, 24), max_size=4),
)
def test_scoped_selection_equals_brute_force(
    cls: type[LexicalExampleSelector],
    examples: list[dict[str, Any]],
    query: str,
    tenant: str,
    langs: list[str] | None,
    k: int,
    threshold: float,
    diversity: float,
    max_tokens: int | None,
    removed: list[int],
) -> None:
    """The scoped result is the unscoped selector's result over the matching examples only."""
    settings_ = {
        "k": k,
        "threshold": threshold,
        "diversity": diversity,
        "max_tokens": max_tokens,
        "input_keys": ["q"],
    }
    selector = _make(cls, examples, filter_keys=["tenant"], **settings_)
    gone = {f"e{i}" for i in removed if i < len(examples)}
    for example_id in sorted(gone):
        selector.remove_example(example_id)
    per_call = None if langs is None else {"lang": langs}
    scope = Scope.for_call(["tenant"], {"tenant": tenant}, per_call)
    kept = [e for e in examples if e["id"] not in gone and scope.matches(e)]
    brute = _make(cls, kept, **settings_)
    inputs = {"tenant": tenant, "q": query}
    want = brute.search({"q": query})
    for _ in range(4):  # the first queries compare codes, later ones use the scope postings
        got = selector.search(inputs, filter=per_call)
        assert [(s.id, s.score) for s in got] == [(s.id, s.score) for s in want]
    assert all(s.example["tenant"] == tenant for s in got)
    if langs is not None:
        assert all(s.example["lang"] in langs for s in got)
    pairs = selector.select_examples_with_scores(inputs, filter=per_call)
    assert pairs == [(s.example, s.score) for s in got]
    assert asyncio.run(selector.aselect_examples_with_scores(inputs, filter=per_call)) == pairs


@pytest.mark.parametrize("cls", SELECTORS)
def test_input_without_filter_field_is_an_error(cls: type[LexicalExampleSelector]) -> None:
    selector = _make(cls, [{"id": "a", "tenant": "acme", "q": "refund"}], filter_keys=["tenant"])
    with pytest.raises(MissingKeyError, match="'tenant'") as info:
        selector.select_examples({"q": "refund"})
    assert info.value.key == "tenant"
    with pytest.raises(MissingKeyError):
        asyncio.run(selector.asearch({"q": "refund"}))


@pytest.mark.parametrize("cls", SELECTORS)
def test_filter_field_is_never_compared(cls: type[LexicalExampleSelector]) -> None:
    """With input_keys=None the filter field is not a compared field, even when it is text."""
    examples = [
        {"id": "a", "tenant": "refund refund", "q": "shipping"},
        {"id": "b", "tenant": "refund refund", "q": "refund"},
    ]
    selector = _make(cls, examples, filter_keys=["tenant"])
    # comparing "tenant" too would give "a" a positive score
    got = selector.search({"tenant": "refund refund", "q": "refund"})
    assert [s.id for s in got] == ["b"]
    assert got[0].score == 1.0


@pytest.mark.parametrize("cls", SELECTORS)
def test_filter_keys_overlapping_input_keys_rejected(cls: type[LexicalExampleSelector]) -> None:
    with pytest.raises(InvalidParameterError, match="tenant"):
        cls(input_keys=["q", "tenant"], filter_keys=["tenant"])
    with pytest.raises(InvalidParameterError):
        cls(filter_keys="tenant")


@pytest.mark.parametrize("cls", SELECTORS)
def test_empty_membership_and_typed_equality(cls: type[LexicalExampleSelector]) -> None:
    examples = [
        {"id": "a", "tenant": 1, "q": "refund"},
        {"id": "b", "tenant": "1", "q": "refund"},
        {"id": "c", "tenant": True, "q": "refund"},
    ]
    selector = _make(cls, examples, k=5, input_keys=["q"])
    assert selector.search({"q": "refund"}, filter={"tenant": []}) == []
    assert [s.id for s in selector.search({"q": "refund"}, filter={"tenant": 1})] == ["a"]
    assert [s.id for s in selector.search({"q": "refund"}, filter={"tenant": "1"})] == ["b"]
    both = selector.search({"q": "refund"}, filter={"tenant": [True, "1"]})
    assert [s.id for s in both] == ["b", "c"]
    with pytest.raises(InvalidParameterError):
        selector.search({"q": "refund"}, filter={"tenant": 1.5})
    with pytest.raises(InvalidParameterError):
        selector.search({"q": "refund"}, filter=["tenant"])  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", SELECTORS)
def test_examples_added_after_a_scoped_query_are_scoped(cls: type[LexicalExampleSelector]) -> None:
    selector = _make(cls, [{"id": "a", "tenant": "acme", "q": "refund"}], filter_keys=["tenant"])
    assert [s.id for s in selector.search({"tenant": "acme", "q": "refund"})] == ["a"]
    selector.add_examples([{"tenant": "beta", "q": "refund"}], ids=["b"])
    selector.add_examples([{"tenant": "acme", "q": "refund order"}], ids=["c"])
    assert [s.id for s in selector.search({"tenant": "beta", "q": "refund"})] == ["b"]
    assert [s.id for s in selector.search({"tenant": "acme", "q": "refund"})] == ["a", "c"]
    for _ in range(4):  # postings are built after a few queries without a change
        assert [s.id for s in selector.search({"tenant": "beta", "q": "refund"})] == ["b"]
    selector.add_examples([{"tenant": "beta", "q": "refund box"}], ids=["d"])
    assert [s.id for s in selector.search({"tenant": "beta", "q": "refund"})] == ["b", "d"]
    selector.remove_example("a")
    assert [s.id for s in selector.search({"tenant": "acme", "q": "refund"})] == ["c"]
    for _ in range(4):
        assert [s.id for s in selector.search({"tenant": "acme", "q": "refund"})] == ["c"]
    selector.remove_example("b")
    assert [s.id for s in selector.search({"tenant": "beta", "q": "refund"})] == ["d"]


@pytest.mark.parametrize("cls", SELECTORS)
def test_save_load_keeps_filter_keys(cls: type[LexicalExampleSelector], tmp_path: Path) -> None:
    examples = [
        {"id": "a", "tenant": "acme", "q": "refund order"},
        {"id": "b", "tenant": "beta", "q": "refund order"},
    ]
    selector = _make(cls, examples, filter_keys=["tenant"])
    path = selector.save(tmp_path / "s.niche.zip")  # type: ignore[attr-defined]
    loaded = cls.load(path)  # type: ignore[attr-defined]
    assert loaded.filter_keys == ["tenant"]
    assert [s.id for s in loaded.search({"tenant": "beta", "q": "refund"})] == ["b"]
    with pytest.raises(MissingKeyError):
        loaded.search({"q": "refund"})


@pytest.mark.parametrize("cls", SELECTORS)
def test_few_shot_prompt_passes_the_filter_field(cls: type[LexicalExampleSelector]) -> None:
    examples = [
        {"id": "a", "tenant": "acme", "q": "refund my order", "a": "ACME-REFUND"},
        {"id": "b", "tenant": "beta", "q": "refund my order", "a": "BETA-REFUND"},
    ]
    selector = _make(cls, examples, k=2, filter_keys=["tenant"])
    prompt = FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template("Q: {q}\nA: {a}"),
        suffix="Q: {q}\nA:",
        input_variables=["tenant", "q"],
    )
    text = prompt.format(tenant="beta", q="refund order")
    assert "BETA-REFUND" in text
    assert "ACME-REFUND" not in text
    with pytest.raises(KeyError):  # the template itself requires the variable
        prompt.format(q="refund order")


class Selection(NamedTuple):
    """One scoped selection: the query, the tenant, a per-call language filter, k."""

    query: str
    tenant: str
    langs: list[str] | None
    k: int


selections = st.builds(
    Selection,
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    tenant=st.sampled_from(TENANTS),
    langs=st.none() | st.lists(st.sampled_from(LANGS), max_size=3),
    k=st.integers(1, 5),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    examples=examples_strategy,
    later=examples_strategy,
    selection=selections,
    threshold=st.sampled_from([0.0, 0.3, 0.6]),
    b=st.sampled_from([0.0, 0.75]),
    removed=st.lists(st.integers(0, 49), max_size=6),
)
def test_scoped_bm25_equals_a_selector_of_the_matching_examples(
    examples: list[dict[str, Any]],
    later: list[dict[str, Any]],
    selection: Selection,
    threshold: float,
    b: float,
    removed: list[int],
) -> None:
    """BM25's N, document frequencies and average length are the scope's own."""
    query, tenant, langs, k = selection
    later = [{**e, "id": f"l{i}"} for i, e in enumerate(later)]
    settings_ = {"k": k, "threshold": threshold, "input_keys": ["q"], "similarity": "bm25"}
    selector = _make(
        JaccardExampleSelector, examples, filter_keys=["tenant"], bm25_b=b, **settings_
    )
    selector.search({"tenant": tenant, "q": query})  # builds the index: `later` goes to its delta
    selector.add_examples(later, ids=[e["id"] for e in later])
    everything = examples + later
    gone = {everything[i]["id"] for i in removed if i < len(everything)}
    for example_id in sorted(gone):
        selector.remove_example(example_id)
    per_call = None if langs is None else {"lang": langs}
    scope = Scope.for_call(["tenant"], {"tenant": tenant}, per_call)
    kept = [e for e in everything if e["id"] not in gone and scope.matches(e)]
    want = _make(JaccardExampleSelector, kept, bm25_b=b, **settings_).search({"q": query})
    for _ in range(4):  # the first queries compare codes, later ones use the scope postings
        got = selector.search({"tenant": tenant, "q": query}, filter=per_call)
        assert [(s.id, s.score) for s in got] == [(s.id, s.score) for s in want]
    # re-ranking given ids (what the hybrid selector does) uses the same statistics
    inputs = {"tenant": tenant, "q": query}
    scope_ = selector.scope_of(inputs, per_call)
    assert selector.scores_for(inputs, [s.id for s in got], scope=scope_) == [s.score for s in got]


@pytest.mark.parametrize("similarity", ["jaccard", "bm25"])
def test_scoped_selection_at_a_size_with_frequent_tokens(similarity: str) -> None:
    """6,000 examples over 3 and 40 scopes: frequent tokens are bitsets, scopes are cut
    from the posting lists by a row mask (large scopes) or by binary search (small)."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(400)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    examples = [
        {
            "id": f"e{i}",
            "t3": f"t{i % 3}",
            "t40": f"t{i % 40}",
            "q": " ".join(rng.choices(vocab, weights, k=rng.randint(3, 12))),
        }
        for i in range(6000)
    ]
    settings_ = {"k": 5, "input_keys": ["q"], "similarity": similarity}
    selector = _make(JaccardExampleSelector, examples, **settings_)
    gone = set(rng.sample([e["id"] for e in examples], 200))
    for example_id in sorted(gone):
        selector.remove_example(example_id)
    for field, scope in [("t3", "t1"), ("t40", "t17"), ("t40", "t3")]:
        kept = [e for e in examples if e[field] == scope and e["id"] not in gone]
        brute = _make(JaccardExampleSelector, kept, **settings_)
        for _ in range(5):
            query = {"q": " ".join(rng.choices(vocab, weights, k=rng.randint(1, 8)))}
            got = selector.search(query, filter={field: scope})
            want = brute.search(query)
            assert [s.id for s in got] == [s.id for s in want]
            assert [s.score for s in got] == pytest.approx([s.score for s in want], abs=1e-11)
