"""MinHashExampleSelector with in-memory storage."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasketch import MinHash

from langchain_niche import (
    DuplicateIdError,
    ExampleNotFoundError,
    IndexFormatError,
    InvalidExampleError,
    InvalidParameterError,
    JaccardExampleSelector,
    KeyMismatchError,
    MinHashExampleSelector,
    MissingKeyError,
    TokenizerError,
)
from langchain_niche.datasets import python_api_examples
from tests.support.minhash_writer import duplicate_heavy_corpus

QUERIES = [
    "Delete a directory and all the files inside it",
    "Return the median of a list of numbers",
    "Parse a string into a date and time",
    "Split a shell command line into arguments",
    "Return True if the path is a directory",
    "return list",
    "Compress data with the gzip format",
    "zzz unknown words only qqq",
]


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, str]]:
    return python_api_examples()


@pytest.fixture(scope="module")
def exact_selector(corpus: list[dict[str, str]]) -> MinHashExampleSelector:
    return MinHashExampleSelector(
        examples=corpus, input_keys=["description"], k=5, fallback="exact"
    )


def _hits(selector: Any, text: str) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in selector.search({"description": text})]


def test_exact_fallback_selects_what_the_jaccard_selector_selects(
    corpus: list[dict[str, str]], exact_selector: MinHashExampleSelector
) -> None:
    jaccard = JaccardExampleSelector(examples=corpus, input_keys=["description"], k=5)
    for text in QUERIES:
        assert _hits(exact_selector, text) == _hits(jaccard, text), text


def test_banded_candidates_are_reranked_exactly(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(
        examples=corpus, input_keys=["description"], k=3, fallback="none"
    )
    jaccard = JaccardExampleSelector(examples=corpus, input_keys=["description"], k=1)
    text = corpus[100]["description"]
    hits = selector.search({"description": text})
    assert hits[0].example == corpus[100]
    assert hits[0].score == 1.0
    assert hits[0].id == "100"
    # every score is the exact Jaccard similarity
    for hit in selector.search({"description": QUERIES[1]}):
        reference = JaccardExampleSelector(examples=[hit.example], input_keys=["description"])
        assert reference.search({"description": QUERIES[1]})[0].score == hit.score
    assert jaccard.search({"description": text})[0].score == 1.0


def test_fallback_none_may_return_fewer_and_probe_adds_candidates(
    corpus: list[dict[str, str]],
) -> None:
    none = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=4, fallback="none")
    probe = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=4)
    fewer = 0
    for text in QUERIES:
        banded = [h.score for h in none.search({"description": text})]
        probed = [h.score for h in probe.search({"description": text})]
        assert probed == sorted(probed, reverse=True)
        assert len(probed) >= len(banded)
        # candidates are a superset: every rank scores at least as high
        assert all(p >= b for p, b in zip(probed, banded, strict=False))
        fewer += len(banded) < len(probed)
    assert fewer >= 2  # short texts rarely have 4 neighbours at Jaccard >= 0.5


def test_probe_limit_bounds_the_probe(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(
        examples=corpus, input_keys=["description"], k=10, probe_limit=1
    )
    assert len(selector.search({"description": QUERIES[0]})) <= 1 + len(
        MinHashExampleSelector(
            examples=corpus, input_keys=["description"], k=10, fallback="none"
        ).search({"description": QUERIES[0]})
    )


def test_minhash_rerank_scores_are_datasketch_estimates(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(
        examples=corpus, input_keys=["description"], k=3, rerank="minhash"
    )
    query = MinHash(num_perm=128, seed=1)
    query.update_batch([t.encode() for t in ("return", "the", "median", "of", "a", "list")])
    hits = selector.search({"description": "Return the median of a list"})
    assert len(hits) == 3  # an empty result must not pass
    exact = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=3)
    exact_scores = [h.score for h in exact.search({"description": "Return the median of a list"})]
    assert [h.score for h in hits] != exact_scores  # estimates, not exact Jaccard scores
    for hit in hits:
        other = MinHash(num_perm=128, seed=1)
        other.update_batch(
            [
                t.encode()
                for t in set(
                    hit.example["description"].lower().replace(".", " ").replace(",", " ").split()
                )
            ]
        )
        assert hit.score == pytest.approx(query.jaccard(other), abs=0.05)


def test_examples_ids_add_remove(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(input_keys=["description"], k=2)
    assert len(selector) == 0
    assert selector.search({"description": "anything"}) == []
    ids = selector.add_examples(corpus[:10])
    assert ids == [str(i) for i in range(10)]
    assert (
        selector.add_example({"description": "a brand new text", "function": "x"}, example_id="new")
        == "new"
    )
    assert selector.ids[-1] == "new"
    assert selector.examples[0] == corpus[0]
    assert selector.search({"description": "a brand new text"})[0].id == "new"
    assert selector.remove_example("new") == ["new"]
    assert selector.search({"description": "a brand new text"}) == [] or all(
        h.id != "new" for h in selector.search({"description": "a brand new text"})
    )
    assert selector.remove_example(dict(corpus[3])) == ["3"]
    with pytest.raises(ExampleNotFoundError, match="'3'"):
        selector.remove_example("3")
    with pytest.raises(ExampleNotFoundError):
        selector.remove_example({"description": "never stored"})
    with pytest.raises(InvalidParameterError):
        selector.remove_example(3)  # type: ignore[arg-type]
    with pytest.raises(DuplicateIdError):
        selector.add_example({"description": "x"}, example_id="0")
    assert len(selector) == 9


def test_many_removals_compact_and_keep_order(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=3)
    for i in range(0, 2400, 2):
        selector.remove_example(str(i))
    assert len(selector) == len(corpus) - 1200
    text = corpus[2001]["description"]
    assert selector.search({"description": text})[0].id == "2001"
    assert selector.ids[:3] == ["1", "3", "5"]
    removed_text = corpus[2000]["description"]
    assert all(hit.id != "2000" for hit in selector.search({"description": removed_text}))


def test_bad_examples_are_rejected_and_nothing_is_added() -> None:
    selector = MinHashExampleSelector(input_keys=["q"])
    with pytest.raises(InvalidExampleError, match="example 1"):
        selector.add_examples([{"q": "fine"}, "not a dict"])  # type: ignore[list-item]
    with pytest.raises(MissingKeyError, match="example 1"):
        selector.add_examples([{"q": "fine"}, {"other": "x"}])
    with pytest.raises(InvalidExampleError, match="'q'"):
        selector.add_examples([{"q": None}])
    with pytest.raises(InvalidParameterError, match="single dict"):
        selector.add_examples({"q": "one"})  # type: ignore[arg-type]
    assert len(selector) == 0


def test_bad_tokenizer_is_reported() -> None:
    selector = MinHashExampleSelector(input_keys=["q"], tokenizer=lambda text: text)  # type: ignore[arg-type,return-value]
    with pytest.raises(TokenizerError, match="single str"):
        selector.add_example({"q": "text"})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_perm": 1}, "num_perm"),
        ({"num_perm": 4096}, "num_perm"),
        ({"lsh_threshold": 1.2}, "lsh_threshold"),
        ({"lsh_weights": (0.9, 0.9)}, "lsh_weights"),
        ({"seed": -1}, "seed"),
        ({"rerank": "cosine"}, "rerank"),
        ({"fallback": "maybe"}, "fallback"),
        ({"probe_limit": 0}, "probe_limit"),
        ({"k": 0}, "k"),
        ({"threshold": 2}, "threshold"),
        ({"index_name": "has space"}, "index_name"),
        ({"redis_url": "http://example.invalid"}, "redis_url"),
    ],
)
def test_bad_settings_name_the_value(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError, match=name) as info:
        MinHashExampleSelector(**kwargs)
    assert info.value.name == name


def test_settings_are_checked_on_assignment() -> None:
    selector = MinHashExampleSelector(input_keys=["q"])
    selector.fallback = "none"
    with pytest.raises(InvalidParameterError, match="fallback"):
        selector.fallback = "sometimes"  # type: ignore[assignment]
    with pytest.raises(InvalidParameterError, match="probe_limit"):
        selector.probe_limit = -3
    with pytest.raises(ValueError, match="frozen"):
        selector.num_perm = 64


def test_banding_follows_lsh_threshold_and_weights() -> None:
    default = MinHashExampleSelector()
    assert default.lsh_weights == (0.1, 0.9)
    assert (default.bands, default.rows_per_band) == (32, 4)  # datasketch's choice for (0.1, 0.9)
    assert default.banding.probability(0.5) > 0.85
    datasketch_default = MinHashExampleSelector(lsh_weights=(0.5, 0.5))
    assert (datasketch_default.bands, datasketch_default.rows_per_band) == (25, 5)
    selector = MinHashExampleSelector(lsh_threshold=0.9, lsh_weights=(0.5, 0.5))
    assert (selector.bands, selector.rows_per_band) == (5, 25)


def test_without_input_keys_the_compared_fields_follow_the_input(
    corpus: list[dict[str, str]],
) -> None:
    selector = MinHashExampleSelector(examples=corpus[:200], k=1)
    hit = selector.search({"description": corpus[5]["description"], "chat_history": "ignored"})
    assert hit[0].id == "5"
    with pytest.raises(KeyMismatchError):
        selector.search({"question": "no such field"})
    bad = MinHashExampleSelector(examples=[{"description": "x"}, {"other": "y"}])
    with pytest.raises(MissingKeyError, match="'1'"):
        bad.search({"description": "x"})


def test_threshold_diversity_budget_and_example_keys(corpus: list[dict[str, str]]) -> None:
    base = {"examples": corpus, "input_keys": ["description"]}
    text = "Return True if the path is a directory"
    assert all(
        h.score >= 0.4
        for h in MinHashExampleSelector(**base, k=10, threshold=0.4).search({"description": text})
    )
    diverse = MinHashExampleSelector(**base, k=4, diversity=0.7).select_examples(
        {"description": text}
    )
    assert len(diverse) == 4
    budget = MinHashExampleSelector(**base, k=8, max_tokens=30).select_examples(
        {"description": text}
    )
    assert 0 < len(budget) < 8
    projected = MinHashExampleSelector(**base, k=2, example_keys=["function"]).select_examples(
        {"description": text}
    )
    assert all(set(example) == {"function"} for example in projected)


def test_save_load_round_trip(tmp_path: Path, corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(examples=corpus[:500], input_keys=["description"], k=4)
    selector.add_example({"description": "custom id example", "function": "f"}, example_id="custom")
    selector.remove_example("7")
    path = selector.save(tmp_path / "index.niche.zip")
    loaded = MinHashExampleSelector.load(path)
    assert loaded.ids == selector.ids
    assert loaded.examples == selector.examples
    for text in [*QUERIES, corpus[10]["description"], "custom id example"]:
        assert loaded.search({"description": text}) == selector.search({"description": text})
    assert loaded.add_example(
        {"description": "after load", "function": "g"}
    ) == selector.add_example({"description": "after load", "function": "g"})
    with zipfile.ZipFile(path) as zf:
        assert not any(name.endswith((".pkl", ".pickle")) for name in zf.namelist())
    assert MinHashExampleSelector.load(path, k=1).k == 1


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"num_perm": 64}, "num_perm"),
        ({"lsh_threshold": 0.8}, "lsh_threshold"),
        ({"seed": 2}, "seed"),
    ],
)
def test_load_rejects_index_setting_mismatches(
    tmp_path: Path, override: dict[str, Any], name: str
) -> None:
    path = MinHashExampleSelector(examples=[{"q": "a b"}], input_keys=["q"]).save(
        tmp_path / "i.zip"
    )
    with pytest.raises(IndexFormatError, match=name):
        MinHashExampleSelector.load(path, **override)


def test_load_needs_the_custom_tokenizer_again(tmp_path: Path) -> None:
    path = MinHashExampleSelector(
        examples=[{"q": "a b"}], input_keys=["q"], tokenizer=str.split
    ).save(tmp_path / "i.zip")
    with pytest.raises(IndexFormatError, match="tokenizer"):
        MinHashExampleSelector.load(path)
    assert len(MinHashExampleSelector.load(path, tokenizer=str.split)) == 1


def test_load_rejects_tampered_files(tmp_path: Path) -> None:
    path = MinHashExampleSelector(examples=[{"q": "a b"}, {"q": "c"}], input_keys=["q"]).save(
        tmp_path / "i.zip"
    )
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                manifest = json.loads(data)
                manifest["index"]["bands"] = 3
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    with pytest.raises(IndexFormatError):
        MinHashExampleSelector.load(tampered)
    with pytest.raises(IndexFormatError):
        JaccardExampleSelector.load(path)


def test_examples_must_survive_json_to_be_saved(tmp_path: Path) -> None:
    selector = MinHashExampleSelector(examples=[{"q": "a", "extra": (1, 2)}], input_keys=["q"])
    with pytest.raises(InvalidExampleError, match="round trip"):
        selector.save(tmp_path / "x.zip")


async def test_async_twins(corpus: list[dict[str, str]]) -> None:
    selector = await MinHashExampleSelector.afrom_examples(
        corpus[:300], input_keys=["description"], k=2
    )
    assert len(selector) == 300
    text = corpus[42]["description"]
    assert (await selector.aselect_examples({"description": text}))[0]["description"] == text
    scored = await selector.aselect_examples_with_scores({"description": text})
    assert scored[0][1] == 1.0
    new_id = await selector.aadd_example({"description": "async added", "function": "a"})
    assert (await selector.aremove_example(new_id)) == [new_id]
    many = await selector.aadd_examples(corpus[300:900])
    assert len(many) == 600
    results = await asyncio.gather(*[selector.asearch({"description": q}) for q in QUERIES * 8])
    assert results[0] == selector.search({"description": QUERIES[0]})


def test_concurrent_adds_and_selections_from_threads(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(input_keys=["description"], k=3)
    errors: list[BaseException] = []

    def writer(part: list[dict[str, str]]) -> None:
        try:
            for start in range(0, len(part), 50):
                selector.add_examples(part[start : start + 50])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            rng = random.Random(0)
            for _ in range(200):
                for hit in selector.search({"description": rng.choice(QUERIES)}):
                    assert hit.example["description"]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(corpus[:1000],)),
        threading.Thread(target=writer, args=(corpus[1000:2000],)),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(selector) == 2000
    assert sorted(map(int, selector.ids)) == list(range(2000))


def test_index_is_compact(corpus: list[dict[str, str]]) -> None:
    selector = MinHashExampleSelector(examples=corpus, input_keys=["description"])
    tokens = sum(len(set(e["description"].lower().split())) for e in corpus)
    # about 8 bytes per token, 12 per band and 64 for the sketch, plus a few per example
    per_example = 12 * 32 + 64
    assert selector.index_nbytes < (8 * tokens + per_example * len(corpus)) * 1.6 + 20 * len(corpus)
    info = selector.describe_index()
    assert info["examples"] == len(corpus)
    assert info["bands"] == 32
    assert np.isclose(info["lsh_threshold"], 0.5)


def _zipf_corpus(n: int, seed: int) -> list[dict[str, str]]:
    """Short texts over a small vocabulary: common words make many LSH candidates."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(300)])
    weights = 1.0 / np.arange(1, 301)
    weights /= weights.sum()
    lengths = rng.integers(6, 16, size=n)
    return [{"text": " ".join(rng.choice(words, size=m, p=weights))} for m in lengths.tolist()]


def test_prefilter_keeps_the_neighbours_above_lsh_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = _zipf_corpus(4000, seed=5)
    queries = [corpus[i]["text"] for i in range(0, 400, 20)]
    rng = random.Random(3)
    for text in queries:  # near-duplicates between 0.5 and 1.0
        words = text.split()
        for _ in range(3):
            kept = [w for w in words if rng.random() < 0.8] or words[:1]
            corpus.append({"text": " ".join([*kept, "extra" + str(rng.randrange(99))])})
    calls: list[int] = []
    from langchain_niche.minhash.prefilter import Prefilter  # noqa: PLC0415

    survivors = Prefilter.survivors

    def spy(self: Prefilter, mismatches: Any, keep: int) -> Any:
        calls.append(int(mismatches.shape[0]))
        return survivors(self, mismatches, keep)

    monkeypatch.setattr(Prefilter, "survivors", spy)
    filtered = MinHashExampleSelector(
        examples=corpus, input_keys=["text"], k=5, fallback="none", rerank_limit=5
    )
    full = MinHashExampleSelector(
        examples=corpus, input_keys=["text"], k=5, fallback="none", rerank_limit=None
    )
    for text in queries:
        top = {h.id: h.score for h in full.search({"text": text})}
        got = {h.id: h.score for h in filtered.search({"text": text})}
        assert {i: s for i, s in got.items() if s >= 0.5} == {
            i: s for i, s in top.items() if s >= 0.5
        }, text
    assert calls  # the pre-filter ran...
    assert max(calls) > 50  # ...on queries with many candidates


def test_probe_runs_when_too_few_candidates_pass_and_exact_below_lsh_threshold(
    corpus: list[dict[str, str]],
) -> None:
    def selector(fallback: str) -> MinHashExampleSelector:
        return MinHashExampleSelector(
            examples=corpus, input_keys=["description"], k=1, fallback=fallback
        )

    none, probe, exact = selector("none"), selector("probe"), selector("exact")
    jaccard = JaccardExampleSelector(examples=corpus, input_keys=["description"], k=1)
    # banding finds a candidate, but below lsh_threshold: enough for k=1 with the probe...
    text = {"description": "Parse a string into a date and time"}
    hits = none.search(text)
    assert hits
    assert hits[0].score < 0.5
    assert probe.search(text) == hits
    # ...not for fallback="exact", which then returns exactly the exact selector's best
    best = jaccard.search(text)
    assert best != hits  # the scan found what banding missed (an earlier tie)
    assert exact.search(text) == best
    # with no candidate at all, the probe runs (and finds what "none" cannot)
    nothing = {"description": "Compress data with the gzip format"}
    assert none.search(nothing) == []
    assert probe.search(nothing)


def test_load_recomputes_sketches_missing_from_older_files(tmp_path: Path) -> None:
    corpus = _zipf_corpus(600, seed=9)
    selector = MinHashExampleSelector(examples=corpus, input_keys=["text"], k=3, rerank_limit=3)
    path = selector.save(tmp_path / "new.zip")
    with zipfile.ZipFile(path) as zf:
        assert any(name.startswith("sketches_0") for name in zf.namelist())
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(older, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                manifest = json.loads(data)
                manifest["arrays"] = [
                    a for a in manifest["arrays"] if not a.startswith("sketches_")
                ]
                data = json.dumps(manifest).encode()
            if not item.startswith("sketches_"):
                dst.writestr(item, data)
    loaded, recomputed = MinHashExampleSelector.load(path), MinHashExampleSelector.load(older)
    for example in corpus[:40]:
        expected = selector.search(example)
        assert loaded.search(example) == expected
        assert recomputed.search(example) == expected


def test_token_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import langchain_niche.minhash.encoding as lsh_encoding  # noqa: PLC0415

    monkeypatch.setattr(lsh_encoding, "_TOKEN_CACHE", 8)
    corpus = _zipf_corpus(300, seed=2)
    selector = MinHashExampleSelector(examples=corpus, input_keys=["text"], k=3)
    first = [selector.search(example) for example in corpus[:30]]
    assert selector.audit()["token_cache"] <= 8 + 16  # cleared, then refilled
    assert [selector.search(example) for example in corpus[:30]] == first


def test_rerank_limit_is_checked() -> None:
    assert MinHashExampleSelector(rerank_limit=None).rerank_limit is None
    with pytest.raises(InvalidParameterError, match="rerank_limit"):
        MinHashExampleSelector(rerank_limit=0)


def test_many_equal_examples_do_not_hide_all_results() -> None:
    # issue 10 item 7: the probe skipped every prefix range larger than its read
    # budget, and 1,000 equal examples make every range they share that large
    examples, inputs = duplicate_heavy_corpus()
    minhash = MinHashExampleSelector(examples=examples, input_keys=["q"], k=3)
    exact = JaccardExampleSelector(examples=examples, input_keys=["q"], k=3)
    banded_only = MinHashExampleSelector(examples=examples, input_keys=["q"], k=3, fallback="none")
    needed_probe = 0
    for x in inputs:
        expected = [(h.id, h.score) for h in exact.search(x)]
        assert [(h.id, h.score) for h in minhash.search(x)] == expected, x
        needed_probe += len(banded_only.search(x)) < 3
    assert needed_probe > 0  # the inputs exercise the probe, not only banding
