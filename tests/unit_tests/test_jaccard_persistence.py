"""save/load: safe format, exact round trip, clear errors on bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from langchain_niche import IndexFormatError, InvalidExampleError, JaccardExampleSelector
from tests.support.corrupt_files import npy_bytes, rewrite_index

EXAMPLES = [
    {"input": "happy", "output": "sad", "meta": {"source": "list", "n": [1, 2.5, None, True]}},
    {"input": "sunny day", "output": "rainy day", "meta": {}},
    {"input": "東京の天気 ☀️", "output": "晴れ", "meta": {"lang": "ja"}},
    {"input": "windy day", "output": "calm day", "meta": {}},
]
QUERIES = [{"input": "a sunny windy day"}, {"input": "東京"}, {"input": "happy day"}]


def selections(
    selector: JaccardExampleSelector,
) -> list[list[tuple[str, dict[str, object], float]]]:
    return [[(s.id, s.example, s.score) for s in selector.search(q)] for q in QUERIES]


def test_round_trip_returns_identical_selections(tmp_path: Path) -> None:
    selector = JaccardExampleSelector(
        examples=EXAMPLES, k=3, threshold=0.1, diversity=0.2, max_tokens=500
    )
    selector.add_example({"input": "sunny", "output": "cloudy", "meta": {}}, example_id="custom-id")
    selector.remove_example("0")
    selector.select_examples(QUERIES[0])  # builds the lazy index for ("input",)
    path = selector.save(tmp_path / "index.niche.zip")
    loaded = JaccardExampleSelector.load(path)
    assert loaded.ids == selector.ids == ["1", "2", "3", "custom-id"]
    assert loaded.examples == selector.examples
    assert selections(loaded) == selections(selector)
    assert (loaded.k, loaded.threshold, loaded.diversity, loaded.max_tokens) == (3, 0.1, 0.2, 500)
    unindexed = JaccardExampleSelector(examples=loaded.examples)  # no query yet: no index
    assert loaded.index_nbytes > unindexed.index_nbytes  # the saved index was rebuilt eagerly
    # New default ids continue after the saved ones.
    assert loaded.add_example({"input": "x", "output": "y", "meta": {}}) == selector.add_example(
        {"input": "x", "output": "y", "meta": {}}
    )


def test_file_is_json_and_numpy_only(tmp_path: Path) -> None:
    path = JaccardExampleSelector(examples=EXAMPLES, input_keys=["input"]).save(tmp_path / "i.zip")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["examples.jsonl", "manifest.json", "seq.npy"]
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "langchain-niche-index"
        assert manifest["kind"] == "JaccardExampleSelector"
        assert manifest["config"]["input_keys"] == ["input"]
        lines = zf.read("examples.jsonl").decode().splitlines()
        assert json.loads(lines[2]) == {"id": "2", "example": EXAMPLES[2]}


def test_overrides_and_custom_tokenizer(tmp_path: Path) -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, tokenizer=str.split, input_keys=["input"])
    path = selector.save(tmp_path / "i.zip")
    with pytest.raises(IndexFormatError, match=r"custom tokenizer str\.split"):
        JaccardExampleSelector.load(path)
    loaded = JaccardExampleSelector.load(path, tokenizer=str.split, k=1)
    assert loaded.k == 1
    assert loaded.select_examples({"input": "sunny day"}) == [EXAMPLES[1]]


def test_examples_that_json_would_change_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "i.zip"
    JaccardExampleSelector(examples=EXAMPLES).save(target)
    before = target.read_bytes()
    for bad in (
        {"input": "x", "pair": (1, 2)},
        {"input": "x", "n": float("nan")},
        {"input": "x", "k": {1: "a"}},
    ):
        selector = JaccardExampleSelector(examples=[*EXAMPLES, bad])
        with pytest.raises(InvalidExampleError, match="example '4'"):
            selector.save(target)
        assert target.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["i.zip"]  # no temporary leftovers


def test_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(IndexFormatError, match="not a readable langchain-niche index"):
        JaccardExampleSelector.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "other"}))
    with pytest.raises(IndexFormatError, match="is not a langchain-niche index"):
        JaccardExampleSelector.load(path)


def test_wrong_version_kind_and_truncation(tmp_path: Path) -> None:
    good = JaccardExampleSelector(examples=EXAMPLES).save(tmp_path / "good.zip")

    def rewrite(name: str, edit: dict[str, object], drop_last_line: bool = False) -> Path:
        target = tmp_path / name
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.namelist():
                data = src.read(item)
                if item == "manifest.json":
                    data = json.dumps({**json.loads(data), **edit}).encode()
                if item == "examples.jsonl" and drop_last_line:
                    data = b"\n".join(data.splitlines()[:-1]) + b"\n"
                dst.writestr(item, data)
        return target

    with pytest.raises(IndexFormatError, match="format version 99"):
        JaccardExampleSelector.load(rewrite("v.zip", {"version": 99}))
    with pytest.raises(IndexFormatError, match="holds a 'MinHashExampleSelector' index"):
        JaccardExampleSelector.load(rewrite("k.zip", {"kind": "MinHashExampleSelector"}))
    with pytest.raises(IndexFormatError, match="announces 4 examples, found 3"):
        JaccardExampleSelector.load(rewrite("t.zip", {}, drop_last_line=True))


def with_seq_array(good: Path, target: Path, array: np.ndarray, allow_pickle: bool = False) -> Path:
    """Copy a saved index, replacing its seq.npy member (checksums recomputed)."""
    seq = npy_bytes(array, allow_pickle=allow_pickle)
    return rewrite_index(good, target, members={"seq.npy": seq})


def test_inconsistent_sequence_numbers_are_rejected(tmp_path: Path) -> None:
    good = JaccardExampleSelector(examples=EXAMPLES).save(tmp_path / "good.zip")
    bad = with_seq_array(good, tmp_path / "bad.zip", np.array([3, 2, 1, 0]))
    with pytest.raises(IndexFormatError, match="inconsistent ids"):
        JaccardExampleSelector.load(bad)


def test_object_arrays_are_never_loaded(tmp_path: Path) -> None:
    good = JaccardExampleSelector(examples=EXAMPLES).save(tmp_path / "good.zip")
    objects = np.array([object(), object()], dtype=object)
    bad = with_seq_array(good, tmp_path / "pickle.zip", objects, allow_pickle=True)
    with pytest.raises(IndexFormatError, match=r"seq\.npy: has dtype object"):
        JaccardExampleSelector.load(bad)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        JaccardExampleSelector.load("/nonexistent/index.zip")


def test_text_options_round_trip(tmp_path: Path) -> None:
    selector = JaccardExampleSelector(
        examples=EXAMPLES,
        stopwords={"day", "A"},
        similarity="bm25",
        bm25_b=0.3,
        input_keys=["input"],
    )
    loaded = JaccardExampleSelector.load(selector.save(tmp_path / "i.zip"))
    assert (loaded.similarity, loaded.bm25_b) == ("bm25", 0.3)
    assert loaded._analyzer.shingles("A windy DAY") == {"windy"}
    assert selections(loaded) == selections(selector)
