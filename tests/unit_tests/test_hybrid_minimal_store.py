"""HybridExampleSelector over a vector store that implements only ``similarity_search``.

``VectorStore.similarity_search_with_score`` raises ``NotImplementedError`` in
the base class; such a store works with ``SemanticSimilarityExampleSelector``
and must work here too: its ranking stands in for scores, with no warning and
no fallback to lexical-only results.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import FallbackWarning, HybridExampleSelector
from tests.support.embeddings import SynonymBagEmbeddings
from tests.support.vectorstores import MinimalVectorStore

EXAMPLES = [
    {"q": "my car will not start", "a": "battery"},
    {"q": "the automobile engine stalls", "a": "fuel"},
    {"q": "book a doctor appointment", "a": "calendar"},
    {"q": "start the meeting now", "a": "zoom"},
    {"q": "the physician is late", "a": "wait"},
]
QUERIES = ["automobile will not start", "see a physician", "meeting", "zzz"]
FUSIONS = ["weighted", "rerank", "rrf"]


def selectors(fusion: str) -> tuple[HybridExampleSelector, HybridExampleSelector]:
    """The same examples over a minimal store and over InMemoryVectorStore."""
    options: dict[str, Any] = {"input_keys": ["q"], "k": 3, "fetch_k": 4, "fusion": fusion}
    minimal = HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), MinimalVectorStore, **options
    )
    full = HybridExampleSelector.from_examples(EXAMPLES, SynonymBagEmbeddings(), **options)
    return minimal, full


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("fusion", FUSIONS)
def test_minimal_store_selects_without_warnings_or_fallback(
    fusion: str, caplog: pytest.LogCaptureFixture
) -> None:
    minimal, full = selectors(fusion)
    caplog.set_level(logging.WARNING)
    for _ in range(3):  # not once per selection, not at all
        for query in QUERIES:
            got = minimal.select_examples({"q": query})
            assert minimal.last_fallback is None
            # the same candidates as with a store that has scores (ranking may differ)
            assert len(got) == len(full.select_examples({"q": query}))
    assert minimal.vectorstore.searches == 3 * len(QUERIES)  # type: ignore[attr-defined]
    assert not caplog.records


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("fusion", FUSIONS)
async def test_minimal_store_async(fusion: str) -> None:
    minimal, _ = selectors(fusion)
    for query in QUERIES:
        assert await minimal.aselect_examples_with_scores(
            {"q": query}
        ) == minimal.select_examples_with_scores({"q": query})
        assert minimal.last_fallback is None


def test_rank_stands_in_for_the_vector_score() -> None:
    minimal, _ = selectors("weighted")
    minimal.lexical_weight = 0.0  # the vector side alone: rank 1 -> 1.0, last -> 0.0
    minimal.vector_weight = 1.0
    minimal.k = 4
    docs = minimal.vectorstore.similarity_search("automobile will not start", k=4)
    ranked = minimal.select_examples_with_scores({"q": "automobile will not start"})
    assert [example["q"] for example, _ in ranked] == [d.page_content for d in docs]
    scores = [score for _, score in ranked]
    assert scores == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_rerank_orders_minimal_store_candidates_by_lexical_score() -> None:
    minimal, full = selectors("rerank")
    for query in QUERIES:
        assert minimal.select_examples_with_scores(
            {"q": query}
        ) == full.select_examples_with_scores({"q": query})


class RaisesNotImplemented(InMemoryVectorStore):
    """Overrides the scored search only to say it is not implemented (seen in the wild)."""

    def similarity_search_with_score(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    async def asimilarity_search_with_score(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def _select_relevance_score_fn(self) -> Any:
        raise NotImplementedError

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in super().similarity_search_with_score(query, k=k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return self.similarity_search(query, k=k, **kwargs)


@pytest.mark.filterwarnings("error")
async def test_store_raising_not_implemented_for_scores_uses_ranks() -> None:
    selector = HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), RaisesNotImplemented, input_keys=["q"], k=2
    )
    for query in QUERIES:
        selector.select_examples({"q": query})
        await selector.aselect_examples({"q": query})
        assert selector.last_fallback is None


def test_a_failing_store_still_falls_back_with_a_warning() -> None:
    class Broken(MinimalVectorStore):
        def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
            msg = "vector database timed out"
            raise TimeoutError(msg)

    selector = HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), Broken, input_keys=["q"], k=2
    )
    with pytest.warns(FallbackWarning, match="timed out"):
        assert selector.select_examples({"q": "my car"})
    assert selector.last_fallback is not None


def test_docstring_names_the_real_default_fusion() -> None:
    doc = HybridExampleSelector.__doc__ or ""
    default = HybridExampleSelector.model_fields["fusion"].default
    assert default == "weighted"
    defaults = [line for line in doc.splitlines() if "fusion=" in line and "(default)" in line]
    assert defaults
    assert len(defaults) == 1
    assert f'fusion="{default}"' in defaults[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert HybridExampleSelector.from_examples(
            EXAMPLES, SynonymBagEmbeddings(), input_keys=["q"]
        ).fusion == ("weighted")
