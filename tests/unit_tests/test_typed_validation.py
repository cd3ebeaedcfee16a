"""Bad values are refused at the door with typed errors naming the field and the value.

Every public pydantic component (the selectors, PEARL, EntityCompressor) turns
pydantic's ``ValidationError`` into ``InvalidParameterError`` (still a
``ValueError``), for unknown keyword arguments and wrong-typed values, at
construction and on assignment.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from langchain_niche import (
    PEARL,
    EntityCompressor,
    HybridExampleSelector,
    InvalidExampleError,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    RedisUrlError,
    StoreUnavailableError,
)
from langchain_niche.testing import ScriptedChatModel
from tests.support.embeddings import SynonymBagEmbeddings

EXAMPLES = [{"q": "my car will not start", "a": "battery"}, {"q": "book a doctor", "a": "cal"}]


def jaccard(**kwargs: Any) -> JaccardExampleSelector:
    return JaccardExampleSelector(examples=EXAMPLES, **kwargs)


def minhash(**kwargs: Any) -> MinHashExampleSelector:
    return MinHashExampleSelector(examples=EXAMPLES, **kwargs)


def hybrid(**kwargs: Any) -> HybridExampleSelector:
    return HybridExampleSelector.from_examples(
        EXAMPLES, SynonymBagEmbeddings(), input_keys=["q"], **kwargs
    )


def hybrid_direct(**kwargs: Any) -> HybridExampleSelector:
    base = hybrid()
    return HybridExampleSelector(
        vectorstore=base.vectorstore, lexical=base.lexical, input_keys=["q"], **kwargs
    )


def pearl(**kwargs: Any) -> PEARL:
    return PEARL(llm=ScriptedChatModel(responses=["x"]), **kwargs)


def compressor(**kwargs: Any) -> EntityCompressor:
    return EntityCompressor(llm=ScriptedChatModel(responses=["x"]), **kwargs)


COMPONENTS: dict[str, Callable[..., Any]] = {
    "jaccard": jaccard,
    "minhash": minhash,
    "hybrid": hybrid_direct,
    "pearl": pearl,
    "compressor": compressor,
}
# A field of each component that only pydantic checks, and a value of the wrong type.
WRONG_TYPE: dict[str, tuple[str, Any]] = {
    "jaccard": ("example_prompt", 3),
    "minhash": ("example_prompt", ["not", "a", "prompt"]),
    "hybrid": ("vectorstore_kwargs", "filter=x"),
    "pearl": ("name", 42),
    "compressor": ("combine_documents", "yes please"),
}


@pytest.mark.parametrize("make", COMPONENTS.values(), ids=COMPONENTS.keys())
def test_unknown_keyword_argument_names_it(make: Callable[..., Any]) -> None:
    with pytest.raises(InvalidParameterError, match=r"unknown parameter bogus=1") as info:
        make(bogus=1)
    assert isinstance(info.value, ValueError)  # as pydantic's ValidationError was
    assert not isinstance(info.value, ValidationError)
    assert info.value.name == "bogus"
    assert info.value.value == 1
    assert isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize("component", COMPONENTS)
def test_wrong_typed_value_names_field_and_value(component: str) -> None:
    name, value = WRONG_TYPE[component]
    with pytest.raises(InvalidParameterError) as info:
        COMPONENTS[component](**{name: value})
    assert info.value.name == name
    assert info.value.value == value
    assert f"{name} must be " in str(info.value)  # what the field accepts ...
    assert f"got {value!r}" in str(info.value)  # ... and what it got


@pytest.mark.parametrize("component", COMPONENTS)
def test_validated_assignment_of_wrong_type(component: str) -> None:
    obj = COMPONENTS[component]()
    name, value = WRONG_TYPE[component]
    before = getattr(obj, name)
    with pytest.raises(InvalidParameterError) as info:
        setattr(obj, name, value)
    assert info.value.name == name
    assert info.value.value == value
    assert getattr(obj, name) == before


@pytest.mark.parametrize("make", COMPONENTS.values(), ids=COMPONENTS.keys())
def test_assignment_to_an_unknown_name(make: Callable[..., Any]) -> None:
    obj = make()
    with pytest.raises(InvalidParameterError, match="bogus") as info:
        obj.bogus = 1
    assert info.value.name == "bogus"
    assert info.value.value == 1
    assert isinstance(info.value, ValueError)


def test_bad_retry_dict_is_typed() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"retry\.max_attempts must be an integer >= 1, got 0"
    ) as info:
        pearl(retry={"max_attempts": 0})
    assert (info.value.name, info.value.value) == ("retry.max_attempts", 0)
    with pytest.raises(InvalidParameterError, match=r"no setting 'tries' \(got 3\)"):
        pearl(retry={"tries": 3})


def test_subclass_of_a_selector_gets_typed_errors_too() -> None:
    class Mine(JaccardExampleSelector):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    with pytest.raises(InvalidParameterError, match="unknown parameter nope"):
        Mine(nope=True)


# -- numbers that would make scores NaN or infinite --------------------------------------------
NON_FINITE = [math.inf, -math.inf, math.nan, -1.0]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("make", [jaccard, minhash], ids=["jaccard", "minhash"])
def test_bm25_k1_must_be_finite_and_non_negative(make: Callable[..., Any], value: float) -> None:
    with pytest.raises(InvalidParameterError, match="bm25_k1") as info:
        make(bm25_k1=value)
    assert info.value.name == "bm25_k1"
    selector = make()
    with pytest.raises(InvalidParameterError, match="bm25_k1"):
        selector.bm25_k1 = value
    assert selector.bm25_k1 == 1.2


def test_bm25_scores_stay_finite_at_large_k1() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, similarity="bm25", bm25_k1=1e300)
    scores = [s for _, s in selector.select_examples_with_scores({"q": "my car"})]
    assert scores
    assert all(math.isfinite(s) and 0 <= s <= 1 for s in scores)


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("name", ["vector_weight", "lexical_weight"])
def test_hybrid_weights_must_be_finite_and_non_negative(name: str, value: float) -> None:
    with pytest.raises(InvalidParameterError, match=name) as info:
        hybrid(**{name: value})
    assert info.value.name == name
    selector = hybrid()
    with pytest.raises(InvalidParameterError, match=name):
        setattr(selector, name, value)
    assert getattr(selector, name) == 0.5


@pytest.mark.parametrize("bad", [None, "my car", ["my car"], 3])
async def test_hybrid_selection_input_must_be_a_dict(bad: Any) -> None:
    selector = hybrid()
    for select in (selector.select_examples, selector.select_examples_with_scores):
        with pytest.raises(InvalidExampleError, match="input_variables must be a dict"):
            select(bad)
    with pytest.raises(InvalidExampleError, match=type(bad).__name__):
        await selector.aselect_examples(bad)


@pytest.mark.parametrize("make", [jaccard, minhash, hybrid], ids=["jaccard", "minhash", "hybrid"])
@pytest.mark.parametrize("deep", [False, True])
def test_model_copy_validates_its_updates(make: Callable[..., Any], deep: bool) -> None:
    selector = make()
    name, value = ("lexical_weight", math.inf) if make is hybrid else ("bm25_k1", math.inf)
    with pytest.raises(InvalidParameterError, match=name) as info:
        selector.model_copy(update={name: value}, deep=deep)
    assert info.value.name == name
    with pytest.raises(InvalidParameterError, match="bogus"):
        selector.model_copy(update={"bogus": 1}, deep=deep)
    assert selector.model_copy(update={"k": 1}, deep=deep).k == 1
    assert selector.k == 4


def test_errors_pickle_with_their_attributes() -> None:
    for error in (
        InvalidParameterError("k must be >= 1, got 0", name="k", value=0),
        StoreUnavailableError("no server at redis://h:1/0", url="redis://h:1/0"),
        RedisUrlError("redis_url: bad port", url="redis://h:99999/0"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.__dict__ == error.__dict__
