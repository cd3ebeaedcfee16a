"""JaccardExampleSelector: selection semantics, parameters, bad input, ids, budget, diversity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.prompts import PromptTemplate

from langchain_niche import (
    DuplicateIdError,
    ExampleNotFoundError,
    InvalidExampleError,
    InvalidParameterError,
    JaccardExampleSelector,
    KeyMismatchError,
    MissingKeyError,
    NicheError,
    TokenizerError,
)
from langchain_niche.text import default_tokenizer

ANTONYMS = [
    {"input": "happy", "output": "sad"},
    {"input": "tall", "output": "short"},
    {"input": "sunny day", "output": "rainy day"},
    {"input": "windy day", "output": "calm day"},
    {"input": "happy sunny day", "output": "sad rainy day"},
]


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def words(text: str) -> set[str]:
    return set(default_tokenizer(text))


# -- selection semantics ----------------------------------------------------------------


def test_scores_are_exact_jaccard_sorted_descending() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=3)
    result = selector.select_examples_with_scores({"input": "a sunny day"})
    assert result == [
        ({"input": "sunny day", "output": "rainy day"}, pytest.approx(2 / 3)),
        ({"input": "happy sunny day", "output": "sad rainy day"}, pytest.approx(2 / 4)),
        ({"input": "windy day", "output": "calm day"}, pytest.approx(1 / 4)),
    ]
    assert [score for _, score in result] == [
        jaccard(words("a sunny day"), words(e["input"])) for e, _ in result
    ]


def test_ties_are_broken_by_insertion_order() -> None:
    examples = [{"q": "red apple"}, {"q": "green apple"}, {"q": "blue apple"}]
    selector = JaccardExampleSelector(examples=examples, k=3)
    assert [e["q"] for e in selector.select_examples({"q": "apple pie"})] == [
        "red apple",
        "green apple",
        "blue apple",
    ]


def test_answer_field_is_not_compared_unless_the_input_has_it() -> None:
    examples = [
        {"question": "capital of France", "answer": "Paris"},
        {"question": "largest ocean", "answer": "not the capital of Paris"},
    ]
    selector = JaccardExampleSelector(examples=examples, k=2)
    # Only "question" is compared: the second example's answer shares words, its question none.
    assert selector.select_examples_with_scores({"question": "capital Paris"}) == [
        (examples[0], pytest.approx(1 / 4))
    ]
    # With the answer in the input, both fields are compared.
    both = selector.select_examples_with_scores(
        {"question": "largest ocean", "answer": "capital of Paris"}
    )
    assert both[0][0] == examples[1]


def test_extra_input_variables_are_ignored() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=1)
    chosen = selector.select_examples({"input": "tall", "history": [object()], "language": None})
    assert chosen == [{"input": "tall", "output": "short"}]


def test_input_keys_override_the_compared_fields() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=1, input_keys=["output"])
    assert selector.select_examples({"output": "calm", "input": "happy"}) == [ANTONYMS[3]]


def test_input_missing_an_input_key_is_a_clear_error() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, input_keys=["input"])
    with pytest.raises(MissingKeyError, match="the input has no field 'input'"):
        selector.select_examples({"question": "x"})


def test_input_without_any_example_field_is_a_clear_error() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    with pytest.raises(
        KeyMismatchError, match=r"none of the input's fields \['question'\] appear"
    ) as info:
        selector.select_examples({"question": "x"})
    assert info.value.example_keys == ["input", "output"]


def test_several_fields_are_compared_together() -> None:
    examples = [{"a": "red", "b": "car"}, {"a": "red", "b": "bike"}]
    selector = JaccardExampleSelector(examples=examples, k=2)
    assert selector.select_examples_with_scores({"a": "red", "b": "bike"}) == [
        (examples[1], 1.0),
        (examples[0], pytest.approx(1 / 3)),
    ]


def test_example_keys_limit_what_is_returned() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=1, example_keys=["output"])
    assert selector.select_examples({"input": "tall"}) == [{"output": "short"}]


def test_returned_examples_are_copies() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=1)
    selector.select_examples({"input": "tall"})[0]["output"] = "mutated"
    assert selector.select_examples({"input": "tall"}) == [{"input": "tall", "output": "short"}]


def test_mutating_the_callers_examples_does_not_change_the_index() -> None:
    examples = [{"input": "tall", "output": "short"}]
    selector = JaccardExampleSelector(examples=examples)
    examples[0]["input"] = "changed"
    assert selector.select_examples({"input": "tall"}) == [{"input": "tall", "output": "short"}]


def test_threshold_filters_and_may_return_fewer_than_k() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=4, threshold=0.5)
    assert [e["input"] for e in selector.select_examples({"input": "a sunny day"})] == [
        "sunny day",
        "happy sunny day",
    ]


def test_empty_input_selects_nothing() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    assert selector.select_examples({"input": ""}) == []
    assert selector.select_examples({"input": "  !!! ,,, "}) == []


def test_zero_overlap_selects_nothing() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    assert selector.select_examples({"input": "quantum chromodynamics"}) == []


def test_empty_corpus_selects_nothing() -> None:
    assert JaccardExampleSelector().select_examples({"input": "anything"}) == []
    assert JaccardExampleSelector(input_keys=["input"]).select_examples({"input": "x"}) == []


def test_k_larger_than_corpus() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=50)
    assert len(selector.select_examples({"input": "day"})) == 3


def test_bigrams_and_custom_tokenizer() -> None:
    examples = [{"q": "new york city"}, {"q": "york new city"}]
    selector = JaccardExampleSelector(examples=examples, k=2, ngram_range=(1, 2))
    assert selector.select_examples({"q": "new york"})[0] == examples[0]
    split = JaccardExampleSelector(examples=[{"q": "Hello, world"}], tokenizer=str.split)
    assert split.select_examples_with_scores({"q": "Hello, there"}) == [
        ({"q": "Hello, world"}, pytest.approx(1 / 3))
    ]


def test_character_ngrams_match_text_without_spaces() -> None:
    examples = [{"q": "東京都の天気"}, {"q": "大阪の天気"}, {"q": "東京タワー"}]
    selector = JaccardExampleSelector(examples=examples, k=1, analyzer="char", ngram_range=(2, 2))
    assert selector.select_examples({"q": "東京都の天気予報"}) == [examples[0]]


def test_cjk_and_emoji_with_the_default_tokenizer() -> None:
    examples = [{"q": "東京の天気 ☀️"}, {"q": "大阪の雨 🌧"}, {"q": "🚀 launch"}]
    selector = JaccardExampleSelector(examples=examples, k=1)
    assert selector.select_examples({"q": "東京"}) == [examples[0]]
    assert selector.select_examples({"q": "🌧"}) == [examples[1]]
    assert selector.select_examples({"q": "🚀🚀"}) == [examples[2]]


def test_one_megabyte_input() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=2)
    huge = ("lorem ipsum dolor sit amet " * 40_000) + " sunny"
    assert len(huge) > 1_000_000
    chosen = selector.select_examples_with_scores({"input": huge})
    assert [e["input"] for e, _ in chosen] == ["sunny day", "happy sunny day"]
    assert chosen[0][1] == pytest.approx(1 / 7)


def test_numbers_are_compared_as_text() -> None:
    selector = JaccardExampleSelector(
        examples=[{"n": 42, "label": "answer"}, {"n": 7, "label": "x"}], k=1
    )
    assert selector.select_examples({"n": 42}) == [{"n": 42, "label": "answer"}]


# -- parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"k": 0}, "k must be an integer >= 1, got 0"),
        ({"k": 2.5}, "k must be an integer >= 1, got 2.5"),
        ({"k": True}, "k must be an integer >= 1, got True"),
        ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\], got 1.5"),
        ({"threshold": -0.1}, r"threshold must be a number in \[0, 1\], got -0.1"),
        ({"diversity": 2}, r"diversity must be a number in \[0, 1\], got 2"),
        ({"max_tokens": 0}, "max_tokens must be an integer >= 1, got 0"),
        ({"fetch_k": 0}, "fetch_k must be an integer >= 1"),
        ({"input_keys": "input"}, "input_keys must be None or a non-empty list"),
        ({"input_keys": []}, "input_keys must be None or a non-empty list"),
        ({"example_keys": [1]}, "example_keys must be None or a non-empty list"),
        ({"token_counter": 3}, "token_counter must be None or a callable"),
        ({"ngram_range": (2, 1)}, "ngram_range must be a pair"),
        ({"analyzer": "sentences"}, "analyzer must be 'word' or 'char'"),
    ],
)
def test_bad_parameters_raise_a_typed_error_naming_the_value(
    kwargs: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(InvalidParameterError, match=pattern) as info:
        JaccardExampleSelector(examples=ANTONYMS, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, NicheError)
    assert info.value.name == next(iter(kwargs))


def test_assignments_are_checked_too() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    with pytest.raises(InvalidParameterError, match="got 0"):
        selector.k = 0
    selector.k = 2
    assert len(selector.select_examples({"input": "day"})) == 2


def test_index_settings_are_frozen() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    with pytest.raises(ValueError, match="frozen"):
        selector.ngram_range = (1, 2)


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="kk"):
        JaccardExampleSelector(kk=3)


# -- bad examples ------------------------------------------------------------------------


def test_non_dict_example_names_its_position() -> None:
    with pytest.raises(
        InvalidExampleError, match=r"example 1 must be a dict.*got str 'oops'"
    ) as info:
        JaccardExampleSelector(examples=[{"input": "a"}, "oops"])
    assert info.value.index == 1


def test_example_missing_a_compared_key_names_example_and_key() -> None:
    with pytest.raises(MissingKeyError, match=r"example 2 has no field 'input'") as info:
        JaccardExampleSelector(
            examples=[{"input": "a"}, {"input": "b"}, {"output": "c"}], input_keys=["input"]
        )
    assert (info.value.index, info.value.key) == (2, "input")


@pytest.mark.parametrize("value", [None, object(), ["list"], b"bytes"])
def test_non_text_values_are_rejected(value: object) -> None:
    with pytest.raises(
        InvalidExampleError, match=r"example 1: field 'input' must be a string or a number"
    ):
        JaccardExampleSelector(examples=[{"input": "ok"}, {"input": value}], input_keys=["input"])


def test_non_text_input_value_is_rejected() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS)
    with pytest.raises(InvalidExampleError, match="input: field 'input'"):
        selector.select_examples({"input": None})


def test_failing_tokenizer_is_a_typed_error() -> None:
    def tokenizer(text: str) -> list[str]:
        if "bad" in text:
            raise RuntimeError("cannot tokenize")
        return text.split()

    with pytest.raises(TokenizerError, match="cannot tokenize"):
        JaccardExampleSelector(
            examples=[{"q": "fine"}, {"q": "bad one"}], input_keys=["q"], tokenizer=tokenizer
        )


def test_lazily_built_index_names_the_bad_example() -> None:
    selector = JaccardExampleSelector(examples=[{"q": "x"}, {"q": None}, {"r": "y"}])
    with pytest.raises(InvalidExampleError, match=r"cannot compare on fields \['q'\]: example '1'"):
        selector.select_examples({"q": "x"})


def test_a_failed_batch_add_leaves_the_index_exactly_as_it_was() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=5, input_keys=["input"])
    before = (
        selector.ids,
        selector.examples,
        selector.select_examples_with_scores({"input": "day happy"}),
    )
    bad_batches: list[list[Any]] = [
        [{"input": "fine day"}, {"input": None}],
        [{"input": "fine day"}, "not a dict"],
        [{"input": "fine day"}, {"output": "no input"}],
    ]
    for batch in bad_batches:
        with pytest.raises(NicheError):
            selector.add_examples(batch)
    with pytest.raises(DuplicateIdError):
        selector.add_examples([{"input": "a day"}, {"input": "b day"}], ids=["new", "0"])
    assert (
        selector.ids,
        selector.examples,
        selector.select_examples_with_scores({"input": "day happy"}),
    ) == before
    assert len(selector) == len(ANTONYMS)


def test_add_examples_rejects_a_single_dict() -> None:
    with pytest.raises(InvalidParameterError, match="got a single dict"):
        JaccardExampleSelector().add_examples({"input": "x"})  # type: ignore[arg-type]


# -- ids and removal -----------------------------------------------------------------------


def test_ids_default_to_insertion_numbers_and_custom_ids_are_kept() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS[:2])
    assert selector.ids == ["0", "1"]
    assert selector.add_example({"input": "x"}) == "2"
    assert selector.add_example({"input": "y"}, example_id="custom") == "custom"
    assert selector.add_examples([{"input": "z"}]) == ["4"]
    assert selector.ids == ["0", "1", "2", "custom", "4"]
    assert [s.id for s in selector.search({"input": "y"})] == ["custom"]


def test_default_ids_skip_custom_ids_that_look_like_numbers() -> None:
    selector = JaccardExampleSelector()
    selector.add_examples([{"q": "a"}, {"q": "b"}], ids=["1", None])  # type: ignore[list-item]
    assert selector.ids == ["1", "2"]  # the second example would have been "1"
    assert selector.add_example({"q": "c"}) == "3"


def test_duplicate_ids_are_rejected() -> None:
    selector = JaccardExampleSelector(examples=[{"q": "a"}], ids=["x"])
    with pytest.raises(DuplicateIdError, match="'x' is already used") as info:
        selector.add_example({"q": "b"}, example_id="x")
    assert info.value.example_id == "x"
    with pytest.raises(DuplicateIdError):
        selector.add_examples([{"q": "c"}, {"q": "d"}], ids=["y", "y"])
    with pytest.raises(InvalidParameterError, match="got 1 ids for 2 examples"):
        selector.add_examples([{"q": "c"}, {"q": "d"}], ids=["z"])


def test_remove_by_id_and_by_example() -> None:
    selector = JaccardExampleSelector(examples=[*ANTONYMS, ANTONYMS[0]], k=5)
    assert selector.remove_example("1") == ["1"]
    assert selector.remove_example({"input": "happy", "output": "sad"}) == ["0", "5"]
    assert len(selector) == 3
    assert selector.select_examples({"input": "happy tall"}) == [ANTONYMS[4]]
    with pytest.raises(ExampleNotFoundError, match="no example has id '1'"):
        selector.remove_example("1")
    with pytest.raises(ExampleNotFoundError, match="no stored example equals"):
        selector.remove_example({"input": "nope"})
    with pytest.raises(InvalidParameterError):
        selector.remove_example(3)  # type: ignore[arg-type]


def test_removed_ids_can_be_reused_and_numbers_are_not() -> None:
    selector = JaccardExampleSelector(examples=[{"q": "a"}], ids=["x"])
    selector.remove_example("x")
    assert selector.add_example({"q": "b"}, example_id="x") == "x"
    assert selector.add_example({"q": "c"}) == "2"  # insertion numbers 0 and 1 were used
    selector.remove_example("2")
    assert selector.add_example({"q": "d"}) == "3"
    with pytest.raises(ExampleNotFoundError):
        selector.remove_example("1")  # the example inserted second has the custom id "x"


def test_many_removals_compact_and_keep_results_exact() -> None:
    examples = [{"q": f"item {i} group {i % 7}"} for i in range(5000)]
    selector = JaccardExampleSelector(examples=examples, k=5, input_keys=["q"])
    for i in range(0, 5000, 2):
        selector.remove_example(str(i))
    remaining = [e for i, e in enumerate(examples) if i % 2]
    fresh = JaccardExampleSelector(examples=remaining, k=5, input_keys=["q"])
    query = {"q": "group 3 item 101"}
    assert selector.select_examples_with_scores(query) == fresh.select_examples_with_scores(query)
    assert selector.index_nbytes <= fresh.index_nbytes  # compacted (uncompacted: 1.2x)
    assert next(s.id for s in selector.search(query)) == "101"


# -- token budget and diversity -----------------------------------------------------------


def test_token_budget_stops_at_the_first_example_that_does_not_fit() -> None:
    examples = [
        {"input": "sunny day", "output": "x " * 10},
        {"input": "sunny day again", "output": "short"},
        {"input": "sunny", "output": "tiny"},
    ]
    counter_calls: list[str] = []

    def count_words(text: str) -> int:
        counter_calls.append(text)
        return len(text.split())

    selector = JaccardExampleSelector(
        examples=examples, k=3, input_keys=["input"], max_tokens=16, token_counter=count_words
    )
    chosen = selector.select_examples({"input": "sunny day"})
    # First example: "input: sunny day\noutput: x x ... x" = 2 + 2 + 10 = 14 words <= 16;
    # the second (6 words) would exceed 16: selection stops although the third would fit.
    assert chosen == [examples[0]]
    assert counter_calls[0] == "input: sunny day\noutput: " + "x " * 10


def test_token_budget_uses_the_example_prompt() -> None:
    prompt = PromptTemplate.from_template("Q: {input}\nA: {output}")
    selector = JaccardExampleSelector(
        examples=ANTONYMS, k=3, max_tokens=100, token_counter=len, example_prompt=prompt
    )
    assert selector.format_example(ANTONYMS[0]) == "Q: happy\nA: sad"
    selector.max_tokens = len("Q: sunny day\nA: rainy day") + 5
    assert selector.select_examples({"input": "sunny day"}) == [ANTONYMS[2]]


def test_default_token_counter_is_offline() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=5, max_tokens=10)
    chosen = selector.select_examples({"input": "sunny day"})
    assert 1 <= len(chosen) < 3


def test_diversity_keeps_near_duplicates_from_filling_the_prompt() -> None:
    examples = [
        {"q": "reset my password please"},
        {"q": "reset my password now please"},
        {"q": "please reset my password"},
        {"q": "reset my account email"},
    ]
    plain = JaccardExampleSelector(examples=examples, k=2)
    diverse = JaccardExampleSelector(examples=examples, k=2, diversity=0.7)
    query = {"q": "how do I reset my password"}
    assert [e["q"] for e in plain.select_examples(query)] == [
        "reset my password please",
        "please reset my password",
    ]
    chosen = diverse.select_examples_with_scores(query)
    assert [e["q"] for e, _ in chosen] == ["reset my password please", "reset my account email"]
    # Scores stay the similarity to the input, not the MMR objective.
    assert chosen[1][1] == jaccard(words(query["q"]), words("reset my account email"))


def test_diversity_one_still_starts_with_the_most_similar() -> None:
    diverse = JaccardExampleSelector(examples=ANTONYMS, k=2, diversity=1.0)
    assert diverse.select_examples({"input": "sunny day"})[0] == ANTONYMS[2]


# -- exactness (property test) ----------------------------------------------------------

vocab = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "day", "sun", "rain"])
texts = st.lists(vocab, max_size=7).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    corpus=st.lists(texts, max_size=30),
    query=texts,
    k=st.integers(1, 8),
    threshold=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_top_k_matches_a_brute_force_reference(
    corpus: list[str], query: str, k: int, threshold: float
) -> None:
    selector = JaccardExampleSelector(
        examples=[{"q": t, "i": str(i)} for i, t in enumerate(corpus)],
        k=k,
        threshold=threshold,
        input_keys=["q"],
    )
    q = words(query)
    reference = sorted(
        (
            (-jaccard(q, words(t)), i)
            for i, t in enumerate(corpus)
            if q & words(t) and jaccard(q, words(t)) >= threshold
        ),
    )[:k]
    got = selector.select_examples_with_scores({"q": query})
    assert [(int(e["i"]), s) for e, s in got] == [(i, -neg) for neg, i in reference]


# -- async ---------------------------------------------------------------------------------


async def test_async_twins() -> None:
    selector = await JaccardExampleSelector.afrom_examples(ANTONYMS, k=1, input_keys=["input"])
    assert await selector.aselect_examples({"input": "tall"}) == [ANTONYMS[1]]
    assert await selector.aselect_examples_with_scores({"input": "tall"}) == [(ANTONYMS[1], 1.0)]
    new_id = await selector.aadd_example({"input": "tiny", "output": "huge"})
    assert (await selector.asearch({"input": "tiny"}))[0].id == new_id
    ids = await selector.aadd_examples([{"input": f"n{i}", "output": "o"} for i in range(300)])
    assert len(ids) == 300
    assert await selector.aremove_example(new_id) == [new_id]
    assert await selector.aselect_examples({"input": "tiny"}) == []


async def test_async_selection_builds_a_lazy_index_off_the_event_loop() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, k=1)
    results = await asyncio.gather(
        *(selector.aselect_examples({"input": "tall"}) for _ in range(5))
    )
    assert results == [[ANTONYMS[1]]] * 5


# -- stop words and BM25 --------------------------------------------------------------------


def test_stopwords_stop_function_words_from_driving_the_match() -> None:
    examples = [{"q": "the list of the data"}, {"q": "median data value"}]
    query = {"q": "the median of the data"}
    plain = JaccardExampleSelector(examples=examples, k=1)
    # {the, of, data} shared: 3/5 beats {median, data}: 2/5.
    assert plain.select_examples_with_scores(query) == [(examples[0], pytest.approx(3 / 5))]
    filtered = JaccardExampleSelector(examples=examples, k=1, stopwords="english")
    # {median, data} vs {list, data}: 1/3, vs {median, data, value}: 2/3.
    assert filtered.select_examples_with_scores(query) == [(examples[1], pytest.approx(2 / 3))]


def test_stopword_only_input_selects_nothing() -> None:
    selector = JaccardExampleSelector(examples=ANTONYMS, stopwords="english")
    assert selector.select_examples({"input": "the of a"}) == []


def test_bm25_prefers_rare_shared_words() -> None:
    examples = [{"q": f"common words {i}"} for i in range(20)] + [{"q": "rare zebra"}]
    selector = JaccardExampleSelector(examples=examples, k=1, similarity="bm25")
    scored = selector.select_examples_with_scores({"q": "common zebra"})
    assert scored[0][0] == {"q": "rare zebra"}
    assert 0 < scored[0][1] < 1
    selector.similarity = "jaccard"  # a query-time setting
    assert selector.select_examples({"q": "common zebra words"})[0] == {"q": "common words 0"}


def test_bm25_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="similarity must be one of"):
        JaccardExampleSelector(similarity="cosine")
    with pytest.raises(InvalidParameterError, match=r"bm25_b must be a number in \[0, 1\]"):
        JaccardExampleSelector(bm25_b=2)
    with pytest.raises(InvalidParameterError, match="bm25_k1 must be a number >= 0"):
        JaccardExampleSelector(bm25_k1=-1)
