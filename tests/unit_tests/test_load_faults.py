"""Loading saved indexes under faults: bit flips, bombs, crafted arrays and manifests.

A load either gives back an index that selects exactly as the saved one did, or
raises ``IndexFormatError`` naming the member and the problem; it never
decompresses more than the zip directory and the manifest allow.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_niche import (
    IndexFormatError,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
)
from langchain_niche.persistence import MAX_COMPRESSION_RATIO, read_index_file
from langchain_niche.text import MAX_NGRAM, TextAnalyzer
from tests.support.corrupt_files import (
    crafted_npy,
    flip_bits,
    npy_bytes,
    read_members,
    rewrite_index,
    shuffled_rows,
    splice,
    truncate,
    write_zip_bomb,
)

Selector = JaccardExampleSelector | MinHashExampleSelector

EXAMPLES = [
    {"q": "the cat sat on the mat", "a": "1"},
    {"q": "a dog chased the cat", "a": "2"},
    {"q": "birds sing in the morning", "a": "3"},
    {"q": "東京の天気 ☀️ sunny", "a": "4"},
    {"q": "the morning sun over the mat", "a": "5"},
    {"q": "cats and dogs and birds", "a": "6"},
    {"q": "rain in the afternoon", "a": "7"},
    {"q": "sunny afternoon with birds", "a": "8"},
]
QUERIES = [
    {"q": "the cat on the mat"},
    {"q": "sunny morning birds"},
    {"q": "東京"},
    {"q": "dogs and cats in the rain"},
]


def build(cls: type[Selector]) -> Selector:
    selector = cls(examples=EXAMPLES, input_keys=["q"], k=3)
    selector.add_example({"q": "custom cat example", "a": "9"}, example_id="custom")
    selector.remove_example("2")
    return selector


def selections(selector: Selector) -> list[Any]:
    return [selector.ids, selector.examples, *(selector.search(q) for q in QUERIES)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes, list[Any]]]:
    """Per selector class: a saved file, its bytes and the selections it must give back."""
    folder = tmp_path_factory.mktemp("saved")
    out = {}
    for cls in (JaccardExampleSelector, MinHashExampleSelector):
        selector = build(cls)
        path = selector.save(folder / f"{cls.__name__}.zip")
        out[cls.__name__] = (path, path.read_bytes(), selections(selector))
    return out


def load(cls: type[Selector], path: Path) -> Selector:
    return cls.load(path)


CLASSES = [JaccardExampleSelector, MinHashExampleSelector]


# -- bit flips, truncation, splicing (hypothesis) -----------------------------------------------
def check_mutant(
    cls: type[Selector],
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    data: bytes,
    folder: Path,
) -> None:
    _, _, expected = saved[cls.__name__]
    mutant = folder / f"mutant-{cls.__name__}.zip"
    mutant.write_bytes(data)
    try:
        loaded = cls.load(mutant)
    except IndexFormatError:
        return
    assert selections(loaded) == expected


# NICHE_FUZZ_EXAMPLES=5000 for a deeper run; the default keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("NICHE_FUZZ_EXAMPLES", "100")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), min_size=1, max_size=4)
)
def test_bit_flips_raise_index_format_error_or_change_nothing(
    cls: type[Selector],
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    tmp_path_factory: pytest.TempPathFactory,
    flips: list[tuple[int, int]],
) -> None:
    data = saved[cls.__name__][1]
    folder = tmp_path_factory.getbasetemp()
    check_mutant(cls, saved, flip_bits(data, flips), folder)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@FUZZ
@given(
    cut=st.integers(0, 1 << 20),
    at=st.integers(0, 1 << 20),
    start=st.integers(0, 1 << 20),
    length=st.integers(1, 512),
)
def test_truncated_and_spliced_files(
    cls: type[Selector],
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    tmp_path_factory: pytest.TempPathFactory,
    cut: int,
    at: int,
    start: int,
    length: int,
) -> None:
    data = saved[cls.__name__][1]
    other = saved[
        "MinHashExampleSelector" if cls is JaccardExampleSelector else "JaccardExampleSelector"
    ][1]
    folder = tmp_path_factory.getbasetemp()
    check_mutant(cls, saved, truncate(data, cut), folder)
    check_mutant(cls, saved, splice(data, other, at, start, length), folder)
    check_mutant(cls, saved, splice(data, data, at, start, length), folder)


def test_every_byte_of_the_zip_directory_inverted(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    """Each byte of the Jaccard file's central directory and end record, every 4th of MinHash's."""
    for cls, step in ((JaccardExampleSelector, 1), (MinHashExampleSelector, 4)):
        data = saved[cls.__name__][1]
        for position in range(data.find(b"PK\x01\x02"), len(data), step):
            check_mutant(cls, saved, flip_bits(data, [(position, 0xFF)]), tmp_path)


# -- zip bombs ------------------------------------------------------------------------------------
BOMB_LINE = b'{"id": "x", "example": {"q": "' + b"a" * (1 << 20) + b'"}}\n'


@pytest.mark.parametrize("member", ["manifest.json", "examples.jsonl"])
def test_a_3_mb_bomb_is_refused_before_decompressing(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path, member: str
) -> None:
    path = saved["JaccardExampleSelector"][0]
    line = b" " if member == "manifest.json" else BOMB_LINE
    bomb = write_zip_bomb(tmp_path / "bomb.zip", path, member=member, size=3 * 10**9, line=line)
    assert bomb.stat().st_size < 4 * 10**6
    with zipfile.ZipFile(bomb) as zf:
        assert zf.getinfo(member).file_size > 2.9 * 10**9  # the directory is honest
    with pytest.raises(IndexFormatError, match=rf"{member}: declares \d+ bytes .*zip bomb"):
        JaccardExampleSelector.load(bomb)
    with pytest.raises(IndexFormatError, match="zip bomb"):
        read_index_file(bomb, kind="JaccardExampleSelector")


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    from langchain_niche import IndexFormatError, JaccardExampleSelector, MinHashExampleSelector
    resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))  # the old code hit 6-7 GB
    for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
        cls = {"JaccardExampleSelector": JaccardExampleSelector,
               "MinHashExampleSelector": MinHashExampleSelector}[kind]
        tracemalloc.start()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            cls.load(path)
            outcome = "loaded"
        except IndexFormatError as exc:
            outcome = "IndexFormatError: " + str(exc)
        except BaseException as exc:
            outcome = type(exc).__name__ + ": " + str(exc)[:200]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({"outcome": outcome, "traced_peak": peak, "rss_growth_kib": grown}))
    """
)


def test_a_3_mb_bomb_fails_fast_with_low_memory(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    """Measured in a fresh process: peak RSS growth and traced allocations of each load."""
    argv = []
    for cls in CLASSES:
        for member, line in (("manifest.json", b" "), ("examples.jsonl", BOMB_LINE)):
            bomb = write_zip_bomb(
                tmp_path / f"{cls.__name__}-{member}.zip",
                saved[cls.__name__][0],
                member=member,
                size=3 * 10**9,
                line=line,
            )
            assert bomb.stat().st_size < 4 * 10**6
            argv += [cls.__name__, str(bomb)]
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(reports) == 4
    for report, member in zip(reports, ["manifest.json", "examples.jsonl"] * 2, strict=True):
        assert report["outcome"].startswith("IndexFormatError"), report
        assert f"{member}: declares" in report["outcome"], report
        assert report["traced_peak"] < 200 * 2**20, report
        assert report["rss_growth_kib"] < 200 * 2**10, report


def test_the_ratio_limit_leaves_room_for_what_save_writes(tmp_path: Path) -> None:
    """The writer's deflate level 1 stays below the limit even on the most repetitive data."""
    selector = JaccardExampleSelector(examples=[{"q": "a " * 300_000}] * 3)
    path = selector.save(tmp_path / "repetitive.zip")
    with zipfile.ZipFile(path) as zf:
        ratio = max(i.file_size / i.compress_size for i in zf.infolist() if i.compress_size)
    assert 100 < ratio < MAX_COMPRESSION_RATIO
    assert JaccardExampleSelector.load(path).examples == selector.examples


# -- crafted arrays ---------------------------------------------------------------------------------
def test_npy_header_claiming_10_12_rows(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    huge = crafted_npy((10**12,), descr="<i8", data=b"\x00" * 64)
    for cls in CLASSES:
        bad = rewrite_index(
            saved[cls.__name__][0], tmp_path / "huge.zip", members={"seq.npy": huge}
        )
        with pytest.raises(IndexFormatError, match=r"seq\.npy: has shape \(1000000000000,\)"):
            cls.load(bad)
        with pytest.raises(IndexFormatError, match=r"seq\.npy: holds 64 data bytes"):
            read_index_file(bad, kind=cls.__name__)
    bad = rewrite_index(
        saved["MinHashExampleSelector"][0],
        tmp_path / "tokens.zip",
        members={"tokens_0.npy": crafted_npy((10**12,))},
    )
    with pytest.raises(IndexFormatError, match=r"tokens_0\.npy: has shape"):
        MinHashExampleSelector.load(bad)


def test_shuffled_token_rows_are_detected(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    path = saved["MinHashExampleSelector"][0]
    arrays = read_index_file(path, kind="MinHashExampleSelector").arrays
    tokens, lens = shuffled_rows(arrays["tokens_0"], arrays["lens_0"], seed=3)
    members = {"tokens_0.npy": npy_bytes(tokens), "lens_0.npy": npy_bytes(lens)}
    # Rewritten by hand: the checksums in the manifest no longer match.
    unsigned = rewrite_index(path, tmp_path / "unsigned.zip", members=members, resign=False)
    with pytest.raises(IndexFormatError, match=r"lens_0\.npy: does not match its SHA-256"):
        MinHashExampleSelector.load(unsigned)
    # Rewritten by a tool that recomputes checksums: re-encoding a sample catches it.
    signed = rewrite_index(path, tmp_path / "signed.zip", members=members)
    with pytest.raises(IndexFormatError, match=r"tokens_0\.npy: token ids of example \d+"):
        MinHashExampleSelector.load(signed)


def test_arrays_from_another_index_are_detected(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    path = saved["MinHashExampleSelector"][0]
    other = MinHashExampleSelector(
        examples=[{"q": f"other text {i} {i * 7}", "a": str(i)} for i in range(8)],
        input_keys=["q"],
        k=3,
    ).save(tmp_path / "other.zip")
    theirs = read_members(other)
    for member, problem in [
        ("band_keys_0.npy", "band keys of example"),
        ("sketches_0.npy", "sketches do not match"),
    ]:
        bad = rewrite_index(path, tmp_path / "mixed.zip", members={member: theirs[member]})
        with pytest.raises(IndexFormatError, match=problem):
            MinHashExampleSelector.load(bad)


def _array_edit(
    name: str, edit: Callable[[np.ndarray], np.ndarray]
) -> Callable[[Path], dict[str, bytes]]:
    def members(path: Path) -> dict[str, bytes]:
        arrays = read_index_file(path, kind="MinHashExampleSelector").arrays
        return {f"{name}.npy": npy_bytes(edit(arrays[name].copy()))}

    return members


def _set(index: int, value: int) -> Callable[[np.ndarray], np.ndarray]:
    def edit(array: np.ndarray) -> np.ndarray:
        array[index] = value
        return array

    return edit


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        (_array_edit("band_rows_0", _set(0, 99)), r"band_rows_0\.npy: has rows outside"),
        (_array_edit("band_rows_0", _set(0, -1)), r"band_rows_0\.npy: has rows outside"),
        (_array_edit("band_rows_0", np.sort), r"band_keys_0\.npy|band_rows_0\.npy"),
        (
            _array_edit("band_rows_0", lambda a: np.where(a == 1, 0, a)),
            r"band_rows_0\.npy: does not give each",
        ),
        (_array_edit("band_keys_0", lambda a: a[::-1].copy()), r"band_keys_0\.npy: is not sorted"),
        (_array_edit("lens_0", _set(0, -5)), r"lens_0\.npy: has negative row sizes"),
        (_array_edit("lens_0", _set(0, 2**62)), r"lens_0\.npy: has negative row sizes or more"),
        (_array_edit("lens_0", lambda a: a[:-1].copy()), r"lens_0\.npy: has shape"),
        (
            _array_edit("tokens_0", lambda a: a.astype(np.float64)),
            r"tokens_0\.npy: has dtype float64",
        ),
        (
            _array_edit("sketches_0", np.asfortranarray),
            None,  # Fortran order is read correctly
        ),
        (_array_edit("seq", lambda a: a.astype(">i8")), None),  # big-endian is read correctly
        (_array_edit("seq", lambda a: a[::-1].copy()), r"seq\.npy: inconsistent ids"),
        (
            lambda _: {"seq.npy": npy_bytes(np.zeros(8, dtype=[("a", "<i4"), ("b", "<i4")]))},
            r"seq\.npy: has dtype",
        ),
        (
            lambda _: {"seq.npy": npy_bytes(np.array([object()] * 8), allow_pickle=True)},
            r"seq\.npy: has dtype object",
        ),
        (
            lambda _: {"seq.npy": b"\x93NUMPY\x03\x00" + b"\x00" * 40},
            r"seq\.npy: has \.npy format version",
        ),
        (lambda _: {"seq.npy": b"\x93NUMPY\x01\x00\xff"}, r"seq\.npy: not a readable"),
        (
            lambda _: {"seq.npy": crafted_npy((8,), descr="<i8", data=b"\x00" * 63)},
            r"seq\.npy: holds 63",
        ),
        (
            lambda _: {"seq.npy": b"\x93NUMPY\x01\x00\x10\x00" + b"(" * 15 + b"\n"},
            r"seq\.npy: not a readable",
        ),
    ],
)
def test_crafted_arrays(
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    tmp_path: Path,
    members: Callable[[Path], dict[str, bytes]],
    problem: str | None,
) -> None:
    path, _, expected = saved["MinHashExampleSelector"]
    bad = rewrite_index(path, tmp_path / "bad.zip", members=members(path))
    if problem is None:
        assert selections(MinHashExampleSelector.load(bad)) == expected
        return
    with pytest.raises(IndexFormatError, match=problem):
        MinHashExampleSelector.load(bad)


# -- crafted manifests and records -------------------------------------------------------------
def _manifest(**entries: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        return {**manifest, **entries}

    return edit


def _config(**entries: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        return {**manifest, "config": {**manifest["config"], **entries}}

    return edit


def _examples(lines: Callable[[list[bytes]], list[bytes]]) -> Callable[[Path], dict[str, bytes]]:
    def members(path: Path) -> dict[str, bytes]:
        data = read_members(path)["examples.jsonl"]
        return {"examples.jsonl": b"\n".join(lines(data.splitlines())) + b"\n"}

    return members


MANIFEST_CASES = [
    (_config(ngram_range=[1, 10**7]), r"manifest\.json: invalid saved settings: ngram_range"),
    (_config(k="4"), r"manifest\.json: invalid saved settings: k must be"),
    (_config(k=0), r"manifest\.json: invalid saved settings: k must be"),
    (_config(threshold=float("inf")), r"manifest\.json: .*JSON constant Infinity"),
    (_config(ngram_range=5), r"manifest\.json: invalid saved settings: ngram_range"),
    (_config(redis_url="redis://127.0.0.1:1"), r"manifest\.json: unknown setting 'redis_url'"),
    (_config(bogus=1), r"manifest\.json: unknown setting 'bogus'"),
    (_config(input_keys="q"), r"manifest\.json: invalid saved settings: input_keys"),
    (_manifest(count=-1), r"'count' >= 0"),
    (_manifest(count=True), r"'count' >= 0"),
    (_manifest(count=10**9), r"manifest\.json: announces 1000000000 examples"),
    (_manifest(count=7), r"examples\.jsonl: has more lines than the 7"),
    (_manifest(count=9), r"manifest announces 9 examples, found 8"),
    (_manifest(next_seq="10"), r"manifest\.json: 'next_seq' must be an integer"),
    (_manifest(next_seq=3), r"seq\.npy: inconsistent ids"),
    (_manifest(next_seq=2**70), r"'next_seq' must be an integer in \[0, 2\*\*62\]"),
    (_manifest(compared_keys=[["q"], ["q"]]), r"'compared_keys' must be"),
    (_manifest(compared_keys="q"), r"'compared_keys' must be"),
    (_manifest(compared_keys=[[]]), r"'compared_keys' must be"),
    (_manifest(compared_keys=[["q"]] * 2000), r"'compared_keys' must be"),
    (_manifest(arrays=["../seq"]), r"'arrays' must be a list of distinct names"),
    (_manifest(version=True), "format version True"),
    (_manifest(sha256={"seq.npy": "xyz"}), r"'sha256' must map member names"),
]


@pytest.mark.parametrize(("edit", "problem"), MANIFEST_CASES)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_crafted_manifests(
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    tmp_path: Path,
    cls: type[Selector],
    edit: Callable[[dict[str, Any]], dict[str, Any]],
    problem: str,
) -> None:
    bad = rewrite_index(saved[cls.__name__][0], tmp_path / "bad.zip", manifest=edit)
    with pytest.raises(IndexFormatError, match=problem):
        cls.load(bad)


RECORD_CASES = [
    (
        _examples(lambda ls: [ls[0].replace(b'"q"', b'"x"'), *ls[1:]]),
        r"examples\.jsonl: cannot index",
    ),
    (
        _examples(lambda ls: [b'{"id": "0", "example": {"q": "\\ud800"}}', *ls[1:]]),
        "lone surrogate",
    ),
    (_examples(lambda ls: [b'{"id": "0", "example": {"q": 1e999}}', *ls[1:]]), "number 1e999"),
    (_examples(lambda ls: [b'{"id": "0", "example": {"q": NaN}}', *ls[1:]]), "JSON constant NaN"),
    (_examples(lambda ls: [b'{"id": "", "example": {"q": "a"}}', *ls[1:]]), "not an {id, example}"),
    (_examples(lambda ls: [b'{"id": 0, "example": {"q": "a"}}', *ls[1:]]), "not an {id, example}"),
    (
        _examples(lambda ls: [b'{"id": "0", "example": {}, "x": 1}', *ls[1:]]),
        "not an {id, example}",
    ),
    (_examples(lambda ls: [b'["0", {}]', *ls[1:]]), r"line 1: is not an \{id, example\}"),
    (_examples(lambda ls: [ls[1], *ls[1:]]), r"line 2: repeats the id '1'"),
    (_examples(lambda ls: [b"\xff\xfe", *ls[1:]]), r"line 1: not a readable .*UnicodeDecodeError"),
    (_examples(lambda ls: [b"[" * 5_000, *ls[1:]]), r"line 1: nested too deeply"),
    (_examples(lambda ls: [*ls[:3], b"", *ls[3:-1]]), r"line 4: not a readable"),
]


@pytest.mark.parametrize(("members", "problem"), RECORD_CASES)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_crafted_records(
    saved: dict[str, tuple[Path, bytes, list[Any]]],
    tmp_path: Path,
    cls: type[Selector],
    members: Callable[[Path], dict[str, bytes]],
    problem: str,
) -> None:
    path = saved[cls.__name__][0]
    bad = rewrite_index(path, tmp_path / "bad.zip", members=members(path))
    with pytest.raises(IndexFormatError, match=problem):
        cls.load(bad)


def _raw_zip(target: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(target, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is what we want here
        for name, data in entries:
            zf.writestr(name, data)
    return target


def test_crafted_zip_directories(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    path = saved["JaccardExampleSelector"][0]
    members = read_members(path)
    entries = list(members.items())

    extra = _raw_zip(tmp_path / "extra.zip", [*entries, ("evil.pkl", b"x")])
    with pytest.raises(IndexFormatError, match=r"evil\.pkl: is not announced"):
        JaccardExampleSelector.load(extra)
    missing = _raw_zip(tmp_path / "missing.zip", [e for e in entries if e[0] != "seq.npy"])
    with pytest.raises(
        IndexFormatError, match=r"seq\.npy: is announced by manifest\.json but missing"
    ):
        JaccardExampleSelector.load(missing)
    twice = _raw_zip(tmp_path / "twice.zip", [*entries, ("seq.npy", members["seq.npy"])])
    with pytest.raises(IndexFormatError, match=r"seq\.npy: appears twice"):
        JaccardExampleSelector.load(twice)
    no_manifest = _raw_zip(tmp_path / "none.zip", [e for e in entries if e[0] != "manifest.json"])
    with pytest.raises(IndexFormatError, match=r"no manifest\.json"):
        JaccardExampleSelector.load(no_manifest)
    many = _raw_zip(tmp_path / "many.zip", [*entries, *((f"x{i}", b"") for i in range(5000))])
    with pytest.raises(IndexFormatError, match="5003 members, more than the 4096"):
        JaccardExampleSelector.load(many)

    data = path.read_bytes()
    entry = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)  # seq.npy's entry
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("seq.npy")
    assert data[entry + 46 : entry + 46 + 7] == b"seq.npy"
    size = struct.pack("<I", info.file_size)
    for field_offset, value, problem in [
        (10, b"\x0c\x00", "uses compression method 12"),  # bzip2
        (10, b"\x63\x00", "uses compression method 99"),  # AES
        (10, b"\x00\x00", "is stored uncompressed but declares"),
        (8, b"\x01\x00", "is encrypted"),
        (8, b"\x40\x00", "not a readable .*NotImplementedError"),  # strong encryption
        (20, b"\xff\xff\xff\x7f", "claims .* past the end of the"),  # compressed size
        (24, struct.pack("<I", info.file_size - 8), "not a readable .*CRC"),  # too small
        (24, struct.pack("<I", info.file_size + 8), r"holds \d+ bytes or more, its zip"),  # too big
        (24, struct.pack("<I", 200_000), "declares 200000 bytes .*zip bomb"),
        (16, b"\x00\x00\x00\x00", "not a readable .*CRC"),
        (24, size, None),  # unchanged: loads
    ]:
        patched = bytearray(data)
        patched[entry + field_offset : entry + field_offset + len(value)] = value
        bad = tmp_path / "patched.zip"
        bad.write_bytes(bytes(patched))
        if problem is None:
            assert len(JaccardExampleSelector.load(bad)) == len(EXAMPLES)
            continue
        with pytest.raises(IndexFormatError, match=rf"seq\.npy: {problem}"):
            JaccardExampleSelector.load(bad)


# -- settings -------------------------------------------------------------------------------------------
def test_ngram_range_has_a_documented_upper_bound() -> None:
    with pytest.raises(InvalidParameterError, match=rf"max_n <= {MAX_NGRAM}, got \(1, 10000000\)"):
        JaccardExampleSelector(ngram_range=(1, 10**7))
    with pytest.raises(InvalidParameterError, match="ngram_range"):
        MinHashExampleSelector(ngram_range=(1, MAX_NGRAM + 1))
    analyzer = TextAnalyzer(ngram_range=(1, MAX_NGRAM))
    assert analyzer.shingles("new york new") == {
        "new",
        "york",
        "new york",
        "york new",
        "new york new",
    }
    chars = TextAnalyzer(analyzer="char", ngram_range=(2, MAX_NGRAM))
    assert chars.shingles("abc") == {"ab", "bc", "abc"}


def test_files_without_checksums_still_load(
    saved: dict[str, tuple[Path, bytes, list[Any]]], tmp_path: Path
) -> None:
    for cls in CLASSES:
        path, _, expected = saved[cls.__name__]

        def drop(manifest: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in manifest.items() if k != "sha256"}

        older = rewrite_index(path, tmp_path / "older.zip", manifest=drop)
        assert "sha256" not in json.loads(read_members(older)["manifest.json"])
        assert selections(cls.load(older)) == expected


def test_overrides_keep_their_own_errors(
    saved: dict[str, tuple[Path, bytes, list[Any]]],
) -> None:
    for cls in CLASSES:
        with pytest.raises(InvalidParameterError, match="k must be"):
            cls.load(saved[cls.__name__][0], k=0)


@pytest.fixture(scope="module")
def large_minhash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    words = [
        "cat",
        "dog",
        "bird",
        "sun",
        "rain",
        "mat",
        "morning",
        "sunny",
        "afternoon",
        "tree",
        "river",
        "stone",
    ]
    examples = [
        {"q": " ".join(words[(i * j) % len(words)] for j in range(1, 6)) + f" n{i}"}
        for i in range(200)
    ]
    selector = MinHashExampleSelector(examples=examples, input_keys=["q"], k=5)
    return selector.save(tmp_path_factory.mktemp("large") / "large.zip")


@settings(max_examples=25, derandomize=True, deadline=None, database=None)
@given(
    tokens=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8),
    keys=st.lists(st.integers(0, 2**64 - 2), min_size=32, max_size=32),
    query=st.sampled_from(["cat dog", "sunny morning n1", "n1", "river stone mat"]),
)
def test_rows_outside_the_spot_check_cannot_break_a_load_or_a_selection(
    large_minhash: Path, tokens: list[int], keys: list[int], query: str
) -> None:
    """A hand-made file may give one unchecked row any token ids and band keys."""
    path = large_minhash
    arrays = read_index_file(path, kind="MinHashExampleSelector").arrays
    lens, flat = arrays["lens_0"], arrays["tokens_0"]
    row = 1  # not among the 64 evenly spaced rows re-encoded on load
    start = int(lens[:row].sum())
    new_row = np.array(tokens, dtype=np.uint64)  # may repeat an id
    flat = np.concatenate([flat[:start], new_row, flat[start + int(lens[row]) :]])
    lens = lens.copy()
    lens[row] = new_row.shape[0]
    band_keys, band_rows = arrays["band_keys_0"], arrays["band_rows_0"]
    band_keys = np.concatenate([band_keys[band_rows != row], np.array(keys, dtype=np.uint64)])
    band_rows = np.concatenate(
        [band_rows[band_rows != row], np.full(len(keys), row, dtype=band_rows.dtype)]
    )
    order = np.argsort(band_keys, kind="stable")
    members = {
        "tokens_0.npy": npy_bytes(flat),
        "lens_0.npy": npy_bytes(lens),
        "band_keys_0.npy": npy_bytes(band_keys[order]),
        "band_rows_0.npy": npy_bytes(band_rows[order]),
    }
    crafted = rewrite_index(path, path.with_name("crafted.zip"), members=members)
    loaded = MinHashExampleSelector.load(crafted)
    for fallback in ("probe", "exact", "none"):
        loaded.fallback = fallback
        found = loaded.search({"q": query})
        assert len(found) <= loaded.k
        assert all(np.isfinite(s.score) for s in found)
