"""Copying and pickling selectors, and the few-shot templates holding them, inside LangChain chains.

The contract: ``copy.deepcopy`` / ``pickle`` / ``model_copy(deep=True)`` of a selector
(or of a ``FewShotPromptTemplate`` / ``FewShotChatMessagePromptTemplate`` holding one)
gives an independent object that selects exactly as the original (same examples,
same scores), and a chain built from the copy sends the same prompt to the model.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    PromptTemplate,
)
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import (
    HybridExampleSelector,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    StoreUnavailableError,
    VectorStoreError,
)
from langchain_niche.testing import ScriptedChatModel
from tests.support.embeddings import SynonymBagEmbeddings
from tests.support.redis_server import RedisServer
from tests.support.vectorstores import MinimalVectorStore

EXAMPLES = [
    {"input": "happy", "output": "sad"},
    {"input": "tall tree", "output": "short bush"},
    {"input": "sunny day", "output": "rainy day"},
    {"input": "windy day", "output": "calm day"},
    {"input": "sunny morning", "output": "dark night"},
    {"input": "the automobile is fast", "output": "the car is slow"},
]
QUERIES = [
    {"input": "a sunny day"},
    {"input": "windy morning"},
    {"input": "fast car"},
    {"input": "nothing in common"},
]
NEW = {"input": "sunny windy day", "output": "calm rainy day"}


def jaccard() -> BaseExampleSelector:
    return JaccardExampleSelector(examples=EXAMPLES, k=2, input_keys=["input"])


def jaccard_inferred_keys() -> BaseExampleSelector:
    return JaccardExampleSelector(examples=EXAMPLES, k=2, similarity="bm25", stopwords="english")


def minhash() -> BaseExampleSelector:
    return MinHashExampleSelector(examples=EXAMPLES, k=2, input_keys=["input"])


def minhash_inferred_keys() -> BaseExampleSelector:
    return MinHashExampleSelector(examples=EXAMPLES, k=2, diversity=0.3)


def hybrid() -> BaseExampleSelector:
    return HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), input_keys=["input"], k=2, fetch_k=4
    )


def hybrid_fake_embedding() -> BaseExampleSelector:
    return HybridExampleSelector.from_examples(
        EXAMPLES, DeterministicFakeEmbedding(size=32), input_keys=["input"], k=2, fusion="rrf"
    )


SELECTORS: dict[str, Callable[[], BaseExampleSelector]] = {
    "jaccard": jaccard,
    "jaccard-inferred-keys-bm25": jaccard_inferred_keys,
    "minhash": minhash,
    "minhash-inferred-keys-diversity": minhash_inferred_keys,
    "hybrid": hybrid,
    "hybrid-rrf": hybrid_fake_embedding,
}


def round_trip_pickle(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


COPIES: dict[str, Callable[[Any], Any]] = {
    "deepcopy": copy.deepcopy,
    "pickle": round_trip_pickle,
    "model_copy-deep": lambda obj: obj.model_copy(deep=True),
}


def selections(selector: Any) -> list[list[tuple[dict[str, Any], float]]]:
    return [selector.select_examples_with_scores(dict(q)) for q in QUERIES]


def string_prompt(selector: BaseExampleSelector) -> FewShotPromptTemplate:
    return FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template("Input: {input}\nOutput: {output}"),
        prefix="Give the antonym of every input.",
        suffix="Input: {input}\nOutput:",
        input_variables=["input"],
    )


def chat_prompt(selector: BaseExampleSelector) -> ChatPromptTemplate:
    few_shot = FewShotChatMessagePromptTemplate(
        example_selector=selector,
        example_prompt=ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")]),
        input_variables=["input"],
    )
    return ChatPromptTemplate.from_messages(
        [("system", "You give antonyms."), few_shot, ("human", "{input}")]
    )


@pytest.mark.parametrize("make", SELECTORS.values(), ids=SELECTORS.keys())
@pytest.mark.parametrize("clone", COPIES.values(), ids=COPIES.keys())
def test_a_copy_selects_identically_and_is_independent(
    make: Callable[[], BaseExampleSelector], clone: Callable[[Any], Any]
) -> None:
    original = make()
    before = selections(original)
    assert any(before), "the queries must select something"
    twin = clone(original)
    assert type(twin) is type(original)
    assert twin is not original
    assert selections(twin) == before  # same examples, same scores, same order

    twin.add_example(NEW)
    assert len(twin) == len(EXAMPLES) + 1  # type: ignore[arg-type]
    assert len(original) == len(EXAMPLES)  # type: ignore[arg-type]
    assert selections(original) == before
    assert NEW in twin.select_examples({"input": "sunny windy day"})
    assert NEW not in original.select_examples({"input": "sunny windy day"})

    original.add_example({"input": "sunny", "output": "cloudy"})
    assert len(twin) == len(EXAMPLES) + 1  # type: ignore[arg-type]


@pytest.mark.parametrize("make", SELECTORS.values(), ids=SELECTORS.keys())
@pytest.mark.parametrize("clone", [copy.deepcopy, round_trip_pickle], ids=["deepcopy", "pickle"])
def test_few_shot_prompt_template_copy_in_a_chain(
    make: Callable[[], BaseExampleSelector], clone: Callable[[Any], Any]
) -> None:
    prompt = string_prompt(make())
    prompt_copy = clone(prompt)
    assert prompt_copy.example_selector is not prompt.example_selector
    for query in QUERIES:
        model, model_copy = (ScriptedChatModel(responses=["x"]) for _ in range(2))
        (prompt | model | StrOutputParser()).invoke(dict(query))
        assert (prompt_copy | model_copy | StrOutputParser()).invoke(dict(query)) == "x"
        assert model_copy.calls[0].text == model.calls[0].text
    # the copy's selector is its own: adding to it changes only the copy's prompts
    prompt_copy.example_selector.add_example(NEW)  # type: ignore[union-attr]
    assert "calm rainy day" in prompt_copy.format(input="sunny windy day")
    assert "calm rainy day" not in prompt.format(input="sunny windy day")


@pytest.mark.parametrize("make", SELECTORS.values(), ids=SELECTORS.keys())
@pytest.mark.parametrize("clone", [copy.deepcopy, round_trip_pickle], ids=["deepcopy", "pickle"])
async def test_few_shot_chat_template_copy_async(
    make: Callable[[], BaseExampleSelector], clone: Callable[[Any], Any]
) -> None:
    prompt = chat_prompt(make())
    prompt_copy = clone(prompt)
    for query in QUERIES:
        model, model_copy = (ScriptedChatModel(responses=["x"]) for _ in range(2))
        await (prompt | model).ainvoke(dict(query))
        chunks = [chunk async for chunk in (prompt_copy | model_copy).astream(dict(query))]
        assert "".join(str(chunk.content) for chunk in chunks) == "x"
        assert [m.content for m in model_copy.calls[0].messages] == [
            m.content for m in model.calls[0].messages
        ]


@pytest.mark.parametrize("make", SELECTORS.values(), ids=SELECTORS.keys())
async def test_async_selection_of_an_unpickled_selector(
    make: Callable[[], BaseExampleSelector],
) -> None:
    original = make()
    twin = round_trip_pickle(original)
    for query in QUERIES:
        assert await twin.aselect_examples(dict(query)) == original.select_examples(dict(query))
    await twin.aadd_example(NEW)
    assert len(twin) == len(EXAMPLES) + 1  # type: ignore[arg-type]
    assert len(original) == len(EXAMPLES)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cls", [JaccardExampleSelector, MinHashExampleSelector], ids=["jaccard", "minhash"]
)
def test_pickle_taken_during_concurrent_adds_is_a_consistent_snapshot(cls: Any) -> None:
    selector = cls(examples=EXAMPLES, k=3, input_keys=["input"])
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            selector.add_examples([{"input": f"sunny {n} day", "output": str(n)} for _ in range(5)])
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(20):
            twin = round_trip_pickle(selector)
            ids = twin.ids
            assert len(ids) == len(twin) == len(twin.examples)
            assert (len(ids) - len(EXAMPLES)) % 5 == 0  # whole batches only
            # every stored example is selectable in the snapshot
            assert twin.search({"input": "sunny day"}, k=len(ids))
    finally:
        stop.set()
        thread.join(timeout=10)


def test_shallow_model_copy_shares_the_index_with_its_own_settings() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, k=3, input_keys=["input"])
    view = selector.model_copy(update={"k": 1})
    assert view.k == 1
    assert selector.k == 3
    assert len(view.select_examples({"input": "sunny day"})) == 1
    view.add_example(NEW)
    assert len(selector) == len(EXAMPLES) + 1  # one index, two views
    deep = selector.model_copy(deep=True, update={"threshold": 0.5})
    deep.add_example({"input": "x", "output": "y"})
    assert len(selector) == len(EXAMPLES) + 1
    assert deep.threshold == 0.5


@pytest.mark.parametrize(
    "update",
    [{"k": 0}, {"k": "two"}, {"bogus": 1}, {"input_keys": ["output"]}, {"ngram_range": (1, 2)}],
)
@pytest.mark.parametrize(
    "cls", [JaccardExampleSelector, MinHashExampleSelector], ids=["jaccard", "minhash"]
)
def test_model_copy_checks_updates(cls: Any, update: dict[str, Any]) -> None:
    selector = cls(examples=EXAMPLES, input_keys=["input"])
    name, value = next(iter(update.items()))
    with pytest.raises(InvalidParameterError, match=name) as info:
        selector.model_copy(update=update)
    assert info.value.name == name
    assert info.value.value == value


class LockedStore(InMemoryVectorStore):
    """A vector store holding a client that cannot be copied (like a network client)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_lock = threading.Lock()


def test_hybrid_with_a_store_that_cannot_be_copied_says_so() -> None:
    selector = HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), LockedStore, input_keys=["input"], k=2
    )
    with pytest.raises(VectorStoreError, match=r"cannot pickle HybridExampleSelector.*LockedStore"):
        pickle.dumps(selector)
    with pytest.raises(VectorStoreError, match=r"cannot copy HybridExampleSelector.*LockedStore"):
        copy.deepcopy(selector)
    with pytest.raises(VectorStoreError, match="LockedStore"):
        pickle.dumps(string_prompt(selector))
    # the selector still works afterwards
    assert selector.select_examples({"input": "sunny day"})


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("clone", [copy.deepcopy, round_trip_pickle], ids=["deepcopy", "pickle"])
async def test_hybrid_over_a_scoreless_store_in_a_copied_chain(clone: Callable[[Any], Any]) -> None:
    selector = HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), MinimalVectorStore, input_keys=["input"], k=2
    )
    prompt = clone(string_prompt(selector))
    model = ScriptedChatModel(responses=["x", "y"])
    chain = prompt | model | StrOutputParser()
    assert chain.invoke({"input": "fast automobile"}) == "x"
    assert await chain.ainvoke({"input": "fast automobile"}) == "y"
    assert "the car is slow" in model.calls[0].text
    assert model.calls[0].text == model.calls[1].text
    assert prompt.example_selector.last_fallback is None  # type: ignore[union-attr]
    assert prompt.example_selector.vectorstore.searches == 2  # type: ignore[union-attr]


# -- Redis-backed MinHash: connections are not pickled; the copy reconnects --------------------
def test_redis_selector_pickles_without_connections_and_reconnects(
    redis_url: str, index_name: str
) -> None:
    selector = MinHashExampleSelector(
        examples=EXAMPLES, redis_url=redis_url, index_name=index_name, input_keys=["input"], k=2
    )
    before = selections(selector)
    assert any(before)
    data = pickle.dumps(selector)
    assert b"ConnectionPool" not in data
    assert b"RedisLshStorage" not in data
    twin = pickle.loads(data)
    assert twin.describe_index()["storage"] == "redis"
    assert twin.storage is not selector.storage
    assert selections(twin) == before
    # one URL and index name, one index: what the copy adds, the original sees
    twin.add_example(NEW)
    assert len(selector) == len(twin) == len(EXAMPLES) + 1
    assert NEW in selector.select_examples({"input": "sunny windy day"})
    assert selector.audit()["problems"] == []


async def test_redis_selector_deepcopy_and_chain_async(redis_url: str, index_name: str) -> None:
    selector = MinHashExampleSelector(
        examples=EXAMPLES, redis_url=redis_url, index_name=index_name, input_keys=["input"], k=2
    )
    prompt = copy.deepcopy(string_prompt(selector))
    prompt_pickled = round_trip_pickle(string_prompt(selector))
    for query in QUERIES:
        model, model_copy, model_pickled = (ScriptedChatModel(responses=["x"]) for _ in range(3))
        await (string_prompt(selector) | model).ainvoke(dict(query))
        await (prompt | model_copy).ainvoke(dict(query))
        (prompt_pickled | model_pickled).invoke(dict(query))
        assert model_copy.calls[0].text == model.calls[0].text == model_pickled.calls[0].text
    twin = prompt.example_selector
    assert isinstance(twin, MinHashExampleSelector)
    assert await twin.aselect_examples_with_scores(
        {"input": "sunny day"}
    ) == await selector.aselect_examples_with_scores({"input": "sunny day"})


def test_unpickling_when_redis_is_unreachable_raises_store_unavailable(
    redis_server: RedisServer, index_name: str
) -> None:
    with RedisServer() as own:
        selector = MinHashExampleSelector(
            examples=EXAMPLES,
            redis_url=own.url,
            index_name=index_name,
            input_keys=["input"],
            redis_timeout=0.5,
        )
        data = pickle.dumps(selector)
    with pytest.raises(StoreUnavailableError) as info:
        pickle.loads(data)
    assert info.value.url == own.url
