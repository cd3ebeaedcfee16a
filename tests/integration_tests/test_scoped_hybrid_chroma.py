"""HybridExampleSelector scoped over a real embedded Chroma (langchain-chroma), offline."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import HybridExampleSelector
from tests.support.embeddings import SynonymBagEmbeddings

chromadb = pytest.importorskip("chromadb")
chroma_config = pytest.importorskip("chromadb.config")
langchain_chroma = pytest.importorskip("langchain_chroma")

# Chroma's default distance gives "relevance" scores outside [0, 1]; langchain-core warns
pytestmark = pytest.mark.filterwarnings("ignore:Relevance scores must be between 0 and 1")

TENANTS = ["acme", "beta", "gamma"]
QUESTIONS = ["refund my order", "refund my order please", "where is my parcel", "cancel it"]


class SpyChroma(langchain_chroma.Chroma):  # type: ignore[misc,name-defined]
    """Chroma recording the ``filter`` (where dict) of every scored search."""

    wheres: list[Any] = []  # noqa: RUF012 - class-level log for the test

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> Any:
        SpyChroma.wheres.append(kwargs.get("filter"))
        return super().similarity_search_with_score(query, k=k, **kwargs)


@pytest.fixture(scope="module")
def selector() -> Any:
    client = chromadb.EphemeralClient(settings=chroma_config.Settings(anonymized_telemetry=False))
    examples = [
        {"tenant": t, "lang": lang, "q": q, "a": f"{t}-{n}-{lang}"}
        for n, q in enumerate(QUESTIONS)
        for t in TENANTS
        for lang in ("de", "fr")
    ]
    name = f"hybrid-scope-{uuid.uuid4().hex}"
    built = HybridExampleSelector.from_examples(
        examples,
        SynonymBagEmbeddings(),
        SpyChroma,
        input_keys=["q"],
        filter_keys=["tenant"],
        k=4,
        fetch_k=6,
        vectorstore_cls_kwargs={"client": client, "collection_name": name},
    )
    yield built
    client.delete_collection(name)


@settings(max_examples=20, deadline=None)
@given(
    tenant=st.sampled_from(TENANTS),
    q=st.sampled_from(QUESTIONS),
    langs=st.none() | st.lists(st.sampled_from(["de", "fr"]), min_size=1, max_size=2),
)
def test_chroma_gets_a_where_filter_and_nothing_leaks(
    selector: Any, tenant: str, q: str, langs: Any
) -> None:
    per_call = None if langs is None else {"lang": langs}
    got = selector.search({"tenant": tenant, "q": q}, filter=per_call)
    assert got
    assert all(s.example["tenant"] == tenant for s in got)
    if langs is not None:
        assert all(s.example["lang"] in langs for s in got)
    # the tenant condition went to Chroma as its own where dict
    assert SpyChroma.wheres[-1] == {"tenant": {"$eq": tenant}}
