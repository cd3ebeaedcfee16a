"""HybridExampleSelector: fusion semantics, both indexes kept in step, documented fallbacks."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    PromptTemplate,
)
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import (
    FallbackWarning,
    HybridExampleSelector,
    InvalidParameterError,
    JaccardExampleSelector,
    MissingKeyError,
    VectorStoreError,
)
from tests.support.embeddings import SynonymBagEmbeddings

EXAMPLES = [
    {"q": "my car will not start", "a": "battery"},
    {"q": "the automobile engine stalls", "a": "fuel"},
    {"q": "book a doctor appointment", "a": "calendar"},
    {"q": "start the meeting now", "a": "zoom"},
    {"q": "the physician is late", "a": "wait"},
]


def hybrid(**kwargs: Any) -> HybridExampleSelector:
    options: dict[str, Any] = {"input_keys": ["q"], "k": 2, "fetch_k": 3}
    options.update(kwargs)
    return HybridExampleSelector.from_examples(EXAMPLES, SynonymBagEmbeddings(), **options)


class FailingStore(InMemoryVectorStore):
    def similarity_search_with_score(
        self, *args: Any, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        raise TimeoutError("vector database timed out")

    async def asimilarity_search_with_score(
        self, *args: Any, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        raise TimeoutError("vector database timed out")


def test_examples_reach_both_indexes() -> None:
    selector = hybrid()
    assert len(selector) == len(selector.lexical) == 5
    docs = selector.vectorstore.similarity_search("car", k=10)
    assert sorted(d.metadata["niche_id"] for d in docs) == ["0", "1", "2", "3", "4"]
    assert {d.page_content for d in docs} == {e["q"] for e in EXAMPLES}  # only input_keys embedded


def test_rerank_orders_vector_candidates_by_lexical_score() -> None:
    selector = hybrid(k=3, fetch_k=3, fusion="rerank")
    query = {"q": "vehicle will not start"}
    # The embedding knows vehicle == car == automobile: candidates are examples 0, 1 and 3.
    scored = selector.select_examples_with_scores(query)
    assert [e["a"] for e, _ in scored] == ["battery", "zoom", "fuel"]
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"])
    expected = lexical.scores_for(query, ["0", "3", "1"])
    assert [s for _, s in scored] == expected
    assert expected[0] > expected[1] > expected[2] == 0.0


@pytest.mark.parametrize("fusion", ["rerank", "weighted"])
def test_no_shared_token_keeps_the_vector_order(fusion: str) -> None:
    selector = hybrid(k=2, fetch_k=5, fusion=fusion)
    scored = selector.select_examples_with_scores({"q": "medic"})
    vector_order = [
        d.metadata["niche_id"]
        for d, _ in selector.vectorstore.similarity_search_with_score("medic", k=2)
    ]
    assert [e["a"] for e, _ in scored] == [EXAMPLES[int(i)]["a"] for i in vector_order]
    assert {e["a"] for e, _ in scored} == {"calendar", "wait"}  # the doctor synonyms
    if fusion == "rerank":
        assert [s for _, s in scored] == [0.0, 0.0]


def test_weighted_fusion_adds_weighted_cosine_and_lexical_scores() -> None:
    selector = hybrid(k=5, fetch_k=5, vector_weight=0.3, lexical_weight=0.7)
    query = {"q": "vehicle will not start"}
    hits = selector.vectorstore.similarity_search_with_score(query["q"], k=5)
    cosine = {d.metadata["niche_id"]: score for d, score in hits}
    lexical = dict(zip(cosine, selector.lexical.scores_for(query, list(cosine)), strict=True))
    expected = sorted(cosine, key=lambda i: -(0.3 * cosine[i] + 0.7 * (lexical[i] or 0.0)))
    scored = selector.search(query)
    assert [s.id for s in scored] == expected
    assert [s.score for s in scored] == [
        pytest.approx(0.3 * cosine[i] + 0.7 * (lexical[i] or 0.0)) for i in expected
    ]


class RelevanceStore(InMemoryVectorStore):
    """A store with a relevance function: scores are mapped to (cos + 1) / 2."""

    def _select_relevance_score_fn(self) -> Any:
        return lambda score: (score + 1) / 2


class DistanceStore(InMemoryVectorStore):
    """A store that reports distances (1 - cosine), smaller is better."""

    def similarity_search_with_score(
        self, *args: Any, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return [(d, 1 - s) for d, s in super().similarity_search_with_score(*args, **kwargs)]


def test_vector_scores_are_oriented_whatever_the_store_reports() -> None:
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"])
    reference = hybrid(k=5, fetch_k=5, vector_weight=1.0, lexical_weight=0.0)
    query = {"q": "automobile will not start"}
    expected = [s.id for s in reference.search(query)]
    for store_cls in (RelevanceStore, DistanceStore):
        store = store_cls(embedding=SynonymBagEmbeddings())
        store.add_texts(
            [e["q"] for e in EXAMPLES],
            metadatas=[{"niche_id": str(i)} for i in range(5)],
            ids=[str(i) for i in range(5)],
        )
        selector = HybridExampleSelector(
            vectorstore=store,
            lexical=lexical,
            input_keys=["q"],
            k=5,
            fetch_k=5,
            vector_weight=1.0,
            lexical_weight=0.0,
        )
        scored = selector.search(query)
        assert [s.id for s in scored] == expected, store_cls.__name__
        assert scored[0].score >= scored[-1].score
        assert all(0.0 <= s.score <= 1.0 for s in scored)


def test_rrf_fuses_both_rankings() -> None:
    selector = hybrid(fusion="rrf", k=5, fetch_k=5, vector_weight=1.0, lexical_weight=2.0)
    query = {"q": "vehicle will not start"}
    # The two rankings disagree: the embedding ranks "fuel" (1) above "zoom" (3), the
    # lexical index finds only "battery" (0) and "zoom" (3).
    vector = selector.vectorstore.similarity_search_with_score(query["q"], k=5)
    assert [d.metadata["niche_id"] for d, _ in vector] == ["0", "1", "3", "4", "2"]
    assert [s.id for s in selector.lexical.search(query, k=5)] == ["0", "3"]
    scored = selector.search(query)
    # weight / (60 + rank), summed over both rankings; the lexical weight lifts 3 above 1
    assert [s.id for s in scored] == ["0", "3", "1", "4", "2"]
    assert [s.score for s in scored] == pytest.approx(
        [1 / 61 + 2 / 61, 1 / 63 + 2 / 62, 1 / 62, 1 / 64, 1 / 65], rel=1e-12
    )
    assert [e["a"] for e in selector.model_copy(update={"k": 2}).select_examples(query)] == [
        "battery",
        "zoom",
    ]


def test_empty_input_selects_nothing() -> None:
    selector = hybrid()
    assert selector.select_examples({"q": ""}) == []
    assert selector.select_examples({"q": "   "}) == []


def test_missing_input_key() -> None:
    with pytest.raises(MissingKeyError, match="the input has no field 'q'"):
        hybrid().select_examples({"question": "x"})


def test_vector_store_failure_falls_back_to_lexical_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"], k=2)
    selector = HybridExampleSelector(
        vectorstore=FailingStore(embedding=SynonymBagEmbeddings()),
        lexical=lexical,
        input_keys=["q"],
        k=2,
    )
    with caplog.at_level(logging.WARNING), pytest.warns(FallbackWarning, match="timed out"):
        chosen = selector.select_examples({"q": "start my car"})
    assert chosen == lexical.select_examples({"q": "start my car"})
    assert "TimeoutError" in (selector.last_fallback or "")
    assert "lexical ranking used" in caplog.text


def test_vector_store_failure_can_raise() -> None:
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"])
    selector = HybridExampleSelector(
        vectorstore=FailingStore(embedding=SynonymBagEmbeddings()),
        lexical=lexical,
        input_keys=["q"],
        on_vector_error="raise",
    )
    with pytest.raises(VectorStoreError, match="TimeoutError: vector database timed out") as info:
        selector.select_examples({"q": "start my car"})
    assert isinstance(info.value.__cause__, TimeoutError)


def test_failed_embedding_rolls_back_the_lexical_add() -> None:
    selector = hybrid()
    selector.vectorstore.embedding.fail = True  # type: ignore[attr-defined]
    with pytest.raises(VectorStoreError, match="nothing was added"):
        selector.add_example({"q": "new example", "a": "x"})
    assert len(selector.lexical) == 5
    assert selector.lexical.select_examples({"q": "new example"}) == []


def test_add_and_remove_reach_both_indexes() -> None:
    selector = hybrid(k=1)
    new_id = selector.add_example(
        {"q": "reset the router", "a": "power cycle"}, example_id="router"
    )
    assert new_id == "router"
    assert selector.select_examples({"q": "router reset"}) == [
        {"q": "reset the router", "a": "power cycle"}
    ]
    assert selector.remove_example("router") == ["router"]
    assert all(
        d.metadata["niche_id"] != "router"
        for d in selector.vectorstore.similarity_search("router", k=10)
    )
    assert selector.select_examples({"q": "router"})[0] != {
        "q": "reset the router",
        "a": "power cycle",
    }


def test_examples_missing_from_the_vector_store() -> None:
    # An external vector store that only knows two of the examples.
    store = InMemoryVectorStore(embedding=SynonymBagEmbeddings())
    store.add_texts(
        [EXAMPLES[2]["q"], EXAMPLES[4]["q"]],
        metadatas=[{"niche_id": "2"}, {"niche_id": "4"}],
        ids=["2", "4"],
    )
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"])
    rerank = HybridExampleSelector(vectorstore=store, lexical=lexical, input_keys=["q"], k=3)
    chosen = [e["a"] for e in rerank.select_examples({"q": "my car will not start"})]
    # Two vector candidates, then filled from the lexical ranking.
    assert chosen[:2] in (["calendar", "wait"], ["wait", "calendar"])
    assert chosen[2] == "battery"
    rrf = HybridExampleSelector(
        vectorstore=store, lexical=lexical, input_keys=["q"], k=1, fusion="rrf", lexical_weight=3
    )
    assert rrf.select_examples({"q": "my car will not start"}) == [EXAMPLES[0]]


def test_stale_vector_ids_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    selector = hybrid(k=5, fetch_k=10)
    selector.lexical.remove_example("0")  # removed behind the hybrid selector's back
    with caplog.at_level(logging.WARNING):
        chosen = selector.select_examples({"q": "car start"})
    assert EXAMPLES[0] not in chosen
    assert "unknown to the lexical index: ['0']" in caplog.text


def test_example_keys_and_text_options() -> None:
    selector = hybrid(example_keys=["a"], stopwords="english", similarity="bm25", k=1)
    assert selector.lexical.similarity == "bm25"
    assert selector.select_examples({"q": "the doctor appointment"}) == [{"a": "calendar"}]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"k": 0}, r"k.*\b0\b"),  # checked first by the lexical index
        ({"fetch_k": -1}, r"fetch_k must be an integer >= 1, got -1"),
        ({"fetch_k": True}, r"fetch_k must be an integer >= 1, got True"),
        ({"rrf_k": -1}, r"rrf_k must be an integer >= 0, got -1"),
        ({"fusion": "max"}, r"fusion must be one of 'weighted', 'rerank', 'rrf', got 'max'"),
        ({"vector_weight": -1.0}, r"vector_weight must be a number >= 0 and finite, got -1\.0"),
        (
            {"lexical_weight": float("inf")},
            r"lexical_weight must be a number >= 0 and finite, got inf",
        ),
        (
            {"on_vector_error": "ignore"},
            r"on_vector_error must be one of 'fallback', 'raise', got 'ignore'",
        ),
        ({"input_keys": []}, r"input_keys.*\[\]"),  # checked first by the lexical index
    ],
)
def test_bad_settings(kwargs: dict[str, Any], pattern: str) -> None:
    with pytest.raises(InvalidParameterError, match=pattern) as info:
        hybrid(**kwargs)
    assert info.value.name == next(iter(kwargs))


def test_input_keys_are_required_by_the_hybrid_selector_itself() -> None:
    lexical = JaccardExampleSelector(examples=EXAMPLES)
    store = InMemoryVectorStore(embedding=SynonymBagEmbeddings())
    with pytest.raises(
        InvalidParameterError, match=r"input_keys must be a list with at least 1 item, got \[\]"
    ):
        HybridExampleSelector(vectorstore=store, lexical=lexical, input_keys=[])


def test_assignment_is_checked() -> None:
    selector = hybrid()
    with pytest.raises(InvalidParameterError, match=r"k must be an integer >= 1, got 0") as info:
        selector.k = 0
    assert info.value.name == "k"
    assert selector.k == 2
    with pytest.raises(InvalidParameterError, match="fusion"):
        selector.fusion = "sum"  # type: ignore[assignment]
    with pytest.raises(InvalidParameterError, match="no parameter 'kk'"):
        selector.kk = 3
    selector.vector_weight = 1  # an int is a fine weight
    assert selector.vector_weight == 1.0


def test_with_deterministic_fake_embedding_in_both_few_shot_templates() -> None:
    selector = HybridExampleSelector.from_examples(
        EXAMPLES, DeterministicFakeEmbedding(size=32), input_keys=["q"], k=2
    )
    prompt = FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template("Q: {q}\nA: {a}"),
        suffix="Q: {q}\nA:",
        input_variables=["q"],
    )
    assert prompt.format(q="start my car").count("Q:") == 3
    chat = FewShotChatMessagePromptTemplate(
        example_selector=selector,
        example_prompt=ChatPromptTemplate.from_messages([("human", "{q}"), ("ai", "{a}")]),
        input_variables=["q"],
    )
    messages = chat.format_messages(q="start my car", history=["ignored"])
    assert len(messages) == 4


async def test_async_twins() -> None:
    selector = await HybridExampleSelector.afrom_examples(
        EXAMPLES, SynonymBagEmbeddings(), input_keys=["q"], k=1, fetch_k=3
    )
    assert await selector.aselect_examples({"q": "vehicle will not start"}) == [EXAMPLES[0]]
    assert (await selector.aselect_examples_with_scores({"q": "vehicle will not start"}))[0][
        0
    ] == EXAMPLES[0]
    new_id = await selector.aadd_example({"q": "printer jam", "a": "open tray"})
    assert await selector.aselect_examples({"q": "printer jam again"}) == [
        {"q": "printer jam", "a": "open tray"}
    ]
    assert selector.remove_example(new_id) == [new_id]
    failing = HybridExampleSelector(
        vectorstore=FailingStore(embedding=SynonymBagEmbeddings()),
        lexical=JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"]),
        input_keys=["q"],
        k=1,
    )
    with pytest.warns(FallbackWarning):
        assert await failing.aselect_examples({"q": "start my car"}) == [EXAMPLES[0]]


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_fallback_warning_points_at_the_caller_of_search(use_async: bool) -> None:
    lexical = JaccardExampleSelector(examples=EXAMPLES, input_keys=["q"], k=2)
    selector = HybridExampleSelector(
        vectorstore=FailingStore(embedding=SynonymBagEmbeddings()),
        lexical=lexical,
        input_keys=["q"],
    )
    query = {"q": "start my car"}
    with pytest.warns(FallbackWarning) as caught:
        await selector.asearch(query) if use_async else selector.search(query)
    assert [w.filename for w in caught] == [__file__]


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_k_in_vectorstore_kwargs_fails_the_search_like_a_direct_call(
    use_async: bool,
) -> None:
    selector = hybrid(vectorstore_kwargs={"k": 1})
    query = {"q": "start my car"}
    with pytest.warns(FallbackWarning, match="multiple values for keyword argument 'k'"):
        found = await selector.asearch(query) if use_async else selector.search(query)
    assert [s.example for s in found] == selector.lexical.select_examples(query)
