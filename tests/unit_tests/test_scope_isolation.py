"""Tenant isolation (issue 14): near-identical examples of two tenants never cross over."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import HybridExampleSelector, JaccardExampleSelector, MinHashExampleSelector
from langchain_niche.cli import main
from langchain_niche.dedupe import dedupe_examples

WORDS = ["refund", "order", "late", "box", "card", "paid", "twice", "lost", "parcel"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
tenant_names = st.sampled_from(["acme", "beta", "1", "acme "])  # near-identical names too


@st.composite
def two_tenants(draw: st.DrawFn) -> tuple[str, str, list[dict[str, Any]]]:
    mine, other = draw(st.lists(tenant_names, min_size=2, max_size=2, unique=True))
    shared = draw(st.lists(texts, min_size=1, max_size=8))
    examples = []
    for n, q in enumerate(shared):  # the other tenant holds the same texts (and near copies)
        examples.append({"tenant": mine, "q": q, "owner": mine, "n": f"{mine}|{n}"})
        examples.append({"tenant": other, "q": q, "owner": other, "n": f"{other}|{n}"})
        examples.append({"tenant": other, "q": q + " order", "owner": other, "n": f"{other}|{n}+"})
    return mine, other, draw(st.permutations(examples))


class DownStore(InMemoryVectorStore):
    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        raise RuntimeError("down")


class FilterIgnoringStore(InMemoryVectorStore):
    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        kwargs.pop("filter", None)
        return super().similarity_search_with_score(query, k=k, **kwargs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=two_tenants(), query=texts, k=st.integers(1, 30))
def test_no_selection_crosses_tenants(
    data: tuple[str, str, list[dict[str, Any]]], query: str, k: int
) -> None:
    mine, _other, examples = data
    inputs = {"tenant": mine, "q": query}
    lexical: list[Any] = [
        JaccardExampleSelector(examples=examples, k=k, filter_keys=["tenant"], input_keys=["q"]),
        MinHashExampleSelector(examples=examples, k=k, filter_keys=["tenant"], input_keys=["q"]),
        JaccardExampleSelector(examples=examples, k=k, input_keys=["q"], diversity=0.5),
    ]
    for selector in lexical:
        per_call = {"tenant": mine} if not selector.filter_keys else None
        for example in selector.select_examples_with_scores(inputs, filter=per_call):
            assert example[0]["owner"] == mine
        for hit in selector.search(inputs, filter=per_call):
            assert hit.example["owner"] == mine
    for store in (FilterIgnoringStore, DownStore):
        hybrid = HybridExampleSelector.from_examples(
            examples,
            DeterministicFakeEmbedding(size=8),
            store,
            input_keys=["q"],
            filter_keys=["tenant"],
            k=k,
            fetch_k=max(k, 5),
        )
        for fusion in ("weighted", "rerank", "rrf"):
            hybrid.fusion = fusion  # type: ignore[assignment]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hits = hybrid.search(inputs)
            assert all(hit.example["owner"] == mine for hit in hits)
    kept = dedupe_examples(examples, 0.5, input_keys=["q"], filter_keys=["tenant"])
    # every tenant keeps its own examples: one tenant's never stand in for the other's
    assert {e["owner"] for e in kept} == {e["owner"] for e in examples}
    assert all(e["tenant"] == e["owner"] for e in kept)


def test_cli_query_never_crosses_tenants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"tenant": t, "q": q, "owner": t}
        for q in ["refund my order", "refund my order please", "lost parcel"]
        for t in ["acme", "acme "]
    ]
    source = tmp_path / "ex.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    index = tmp_path / "x.niche.zip"
    argv = ["build", str(source), "-o", str(index), "--input-keys", "q", "--no-progress"]
    assert main([*argv, "--filter-keys", "tenant"]) == 0
    for tenant in ["acme", "acme "]:
        capsys.readouterr()
        text = json.dumps({"tenant": tenant, "q": "refund my order lost parcel"})
        assert main(["query", str(index), text, "--json", "-k", "10"]) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(hits) == 3
        assert {h["example"]["owner"] for h in hits} == {tenant}
