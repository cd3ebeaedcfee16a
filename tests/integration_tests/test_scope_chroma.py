"""Scope.to_chroma_where() against a real embedded Chroma (langchain-chroma), offline.

Chroma runs in memory (EphemeralClient) with telemetry off; pytest-socket blocks
every non-loopback address, so the test also proves it needs no network.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.scope import Scope
from tests.support.embeddings import SynonymBagEmbeddings

chromadb = pytest.importorskip("chromadb")
chroma_config = pytest.importorskip("chromadb.config")
langchain_chroma = pytest.importorskip("langchain_chroma")

TENANTS = ["acme", "beta", "gamma"]
LANGS = ["de", "fr", "en"]
TEXTS = [
    "refund my order",
    "refund my order please",
    "where is my parcel",
    "cancel the subscription",
    "change the delivery address",
    "the automobile broke down",
]


@pytest.fixture(scope="module")
def store() -> Any:
    client = chromadb.EphemeralClient(settings=chroma_config.Settings(anonymized_telemetry=False))
    vs = langchain_chroma.Chroma(
        collection_name=f"scope-{uuid.uuid4().hex}",
        embedding_function=SynonymBagEmbeddings(),
        client=client,
    )
    texts, metas = [], []
    for i, text in enumerate(TEXTS * 3):
        texts.append(text)
        metas.append({"tenant": TENANTS[i % 3], "lang": LANGS[(i // 3) % 3], "n": i % 4})
    vs.add_texts(texts, metadatas=metas)
    yield vs
    client.delete_collection(vs._collection.name)


def test_equality_and_membership(store: Any) -> None:
    scope = Scope.for_call(["tenant"], {"tenant": "acme", "q": "x"}, {"lang": ["de", "fr"]})
    docs = store.similarity_search("refund my order please", k=50, filter=scope.to_chroma_where())
    assert docs
    assert all(scope.matches(d.metadata) for d in docs)
    assert {d.metadata["tenant"] for d in docs} == {"acme"}


@settings(max_examples=25, deadline=None)
@given(
    tenants=st.lists(st.sampled_from(TENANTS), min_size=1, max_size=3),
    langs=st.one_of(st.none(), st.lists(st.sampled_from(LANGS), min_size=1, max_size=2)),
    n=st.one_of(st.none(), st.lists(st.integers(0, 4), min_size=1, max_size=3)),
    query=st.sampled_from(TEXTS),
)
def test_chroma_returns_exactly_the_matching_documents(
    store: Any, tenants: list[str], langs: list[str] | None, n: list[int] | None, query: str
) -> None:
    filt: dict[str, Any] = {"tenant": tenants}
    if langs is not None:
        filt["lang"] = langs
    if n is not None:
        filt["n"] = n
    scope = Scope.from_filter(filt)
    found = store.similarity_search(query, k=100, filter=scope.to_chroma_where())
    everything = store.similarity_search(query, k=100)
    assert len(everything) == len(TEXTS) * 3
    expected = sorted(
        d.page_content + repr(sorted(d.metadata.items()))
        for d in everything
        if scope.matches(d.metadata)
    )
    assert sorted(d.page_content + repr(sorted(d.metadata.items())) for d in found) == expected
