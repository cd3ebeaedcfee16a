"""The command line as a user runs it: the real entry points as subprocesses.

Every user error is one ``error:`` line on stderr (never a traceback), positions
are 1-based line numbers of the input file, exit status 2 for a wrong command
line and 1 for rejected input; ``-o`` files are replaced atomically.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import langchain_niche.cli as cli
from langchain_niche import MinHashExampleSelector
from langchain_niche.datasets import python_api_examples

SCRIPT = Path(sys.executable).parent / "langchain-niche"
ENTRY_POINTS = {
    "module": [sys.executable, "-m", "langchain_niche"],
    "script": [str(SCRIPT)],
}


def run(
    *args: str, cwd: Path, entry: str = "module", stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "100"}
    result = subprocess.run(
        [*ENTRY_POINTS[entry], *args],
        cwd=cwd, input=stdin, capture_output=True, check=False, timeout=60, env=env,
    )  # fmt: skip
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def assert_one_error(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert result.returncode == status, (result.returncode, result.stderr)
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def examples_file(tmp_path: Path) -> Path:
    path = tmp_path / "examples.jsonl"
    rows = python_api_examples()[:200]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def index_file(examples_file: Path, tmp_path: Path) -> Path:
    index = tmp_path / "idx.niche.zip"
    assert (
        cli.main(
            [
                *("build", str(examples_file), "--input-keys", "description", "-o", str(index)),
                *("--no-progress", "--json"),
            ]
        )
        == 0
    )
    return index


# -- the entry points ------------------------------------------------------------------
@pytest.mark.parametrize("entry", ["module", "script"])
def test_both_entry_points_build_and_query(entry: str, examples_file: Path, tmp_path: Path) -> None:
    assert SCRIPT.exists(), "the console script is installed with the package"
    index = tmp_path / f"{entry}.niche.zip"
    built = run(
        "build", examples_file.name, "--input-keys", "description", "-o", index.name,
        "--no-progress", "--json", cwd=tmp_path, entry=entry,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["examples"] == 200
    text = python_api_examples()[7]["description"]
    human = run("query", index.name, text, "-k", "2", cwd=tmp_path, entry=entry)
    assert human.returncode == 0, human.stderr
    header, first, second = human.stdout.splitlines()
    assert header.split()[:3] == ["#", "score", "id"]
    assert first.split()[:3] == ["1", "1.000", "7"]
    assert second.split()[0] == "2"
    # aligned: every column starts at the same offset on every line
    assert first.index("1.000") + len("1.000") == header.index("score") + len("score")
    machine = run(
        "query", index.name, json.dumps({"description": text}), "--json", "-k", "1",
        cwd=tmp_path, entry=entry,
    )  # fmt: skip
    hit = json.loads(machine.stdout)
    assert set(hit) == {"id", "score", "example"}
    assert (hit["id"], hit["score"]) == ("7", 1.0)


# -- every bad input: one error line, no traceback --------------------------------------
def test_non_utf8_input_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b'{"q": "fine"}\n\n{"q": "caf\xe9"}\n')
    result = run("dedupe", "bad.jsonl", cwd=tmp_path)
    assert_one_error(result, 1, "bad.jsonl:3:", "not UTF-8", "0xe9")


def test_a_directory_as_input(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    assert_one_error(run("dedupe", "adir", cwd=tmp_path), 1, "adir", "directory")
    result = run("build", "adir", "--input-keys", "q", "-o", "x.zip", cwd=tmp_path)
    assert_one_error(result, 1, "directory")
    assert_one_error(run("inspect", "adir", cwd=tmp_path), 1, "directory")


def test_a_missing_input_file(tmp_path: Path) -> None:
    assert_one_error(run("dedupe", "nope.jsonl", cwd=tmp_path), 1, "nope.jsonl")
    assert_one_error(run("query", "nope.zip", "text", cwd=tmp_path), 1, "nope.zip")


def test_malformed_json_option(index_file: Path) -> None:
    cwd = index_file.parent
    result = run("query", index_file.name, '{"description": ', "--json", cwd=cwd)
    assert_one_error(result, 2, "--json", "not JSON")
    result = run("query", index_file.name, "[1, 2]", "--json", cwd=cwd)
    assert_one_error(result, 2, "--json", "JSON object")


def test_deeply_nested_json(index_file: Path, tmp_path: Path) -> None:
    deep = "[" * 20_000 + "]" * 20_000  # beyond Python's recursion limit
    result = run("query", index_file.name, '{"d": ' + deep + "}", "--json", cwd=tmp_path)
    assert_one_error(result, 2, "nested deeper")
    (tmp_path / "deep.jsonl").write_text('{"q": "a"}\n{"q": ' + deep + "}\n")
    assert_one_error(run("dedupe", "deep.jsonl", cwd=tmp_path), 1, "deep.jsonl:2:", "nested")
    # nesting that json accepts but deeper than the documented limit is rejected too
    medium = "[" * (cli.MAX_NESTING + 1) + "]" * (cli.MAX_NESTING + 1)
    (tmp_path / "medium.jsonl").write_text('{"q": "a", "x": ' + medium + "}\n")
    assert_one_error(run("dedupe", "medium.jsonl", cwd=tmp_path), 1, "medium.jsonl:1:")


@pytest.mark.parametrize("size", ["0", "-1", "two"])
def test_batch_size_must_be_positive(size: str, examples_file: Path, tmp_path: Path) -> None:
    result = run(
        "build", examples_file.name, "--input-keys", "description", "-o", "x.zip",
        "--batch-size", size, cwd=tmp_path,
    )  # fmt: skip
    assert_one_error(result, 2, "--batch-size")
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["query", "idx.niche.zip", "x", "-k", "0"],
        ["query", "idx.niche.zip", "x", "--threshold", "1.5"],
        ["query", "idx.niche.zip", "x", "--threshold", "nan"],
        ["query", "idx.niche.zip", "x", "--fallback", "sometimes"],
        ["dedupe", "examples.jsonl", "--threshold", "0"],
        ["dedupe", "examples.jsonl", "--ngram-range", "3,1"],
        ["build", "examples.jsonl", "--input-keys", "description"],  # neither -o nor --redis-url
        ["query", "x"],  # missing TEXT is fine (index then text) but no index: usage
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(args: list[str], index_file: Path) -> None:
    assert_one_error(run(*args, cwd=index_file.parent), 2)


@pytest.mark.parametrize(
    "url",
    [
        "http://example",
        "redis://h:notaport/0",
        "redis://:s3cret@h:99999/0",
        "redis://u:s3cret@[::1/0",
    ],
)
@pytest.mark.parametrize("command", [["inspect"], ["query", "text"], ["build", "in.jsonl"]])
def test_malformed_redis_url_is_a_usage_error_without_the_password(
    url: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"q": "a"}\n')
    args = [*command, "--redis-url", url]
    if command[0] == "build":
        args = ["build", str(source), "--input-keys", "q", "--redis-url", url]
    assert cli.main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --redis-url")
    assert "s3cret" not in line


def test_bad_index_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["inspect", "--redis-url", "redis://127.0.0.1:1/0", "--index-name", "bad name!"]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.startswith("error: --index-name")


def test_line_numbers_are_file_lines(tmp_path: Path) -> None:
    lines = ['{"q": "a b"}', "", '{"q": "c d"}', "   ", '{"other": "e"}']
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    result = run("dedupe", "in.jsonl", "--input-keys", "q", cwd=tmp_path)
    assert_one_error(result, 1, "in.jsonl:5:", "'q'")
    result = run("build", "in.jsonl", "--input-keys", "q", "-o", "x.zip", "--batch-size", "2",
                 "--no-progress", cwd=tmp_path)  # fmt: skip
    assert_one_error(result, 1, "in.jsonl:5:", "'q'")
    (tmp_path / "arr.jsonl").write_text('{"q": "a"}\n\n[1]\n')
    assert_one_error(run("dedupe", "arr.jsonl", cwd=tmp_path), 1, "arr.jsonl:3:", "an array")


def test_id_key_errors_name_the_lines(tmp_path: Path) -> None:
    rows = [{"q": "a", "id": "x"}, {"q": "b", "id": "y"}, {"q": "c", "id": "x"}, {"q": "d"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["build", "in.jsonl", "--input-keys", "q", "--id-key", "id", "-o", "x.zip"]
    assert_one_error(run(*args, cwd=tmp_path), 1, "in.jsonl:3:", "line 1")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2] + rows[3:]))
    assert_one_error(run(*args, cwd=tmp_path), 1, "in.jsonl:3:", "'id'")


def test_lone_surrogate_is_rejected_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"q": "fine"}\n{"q": "bad \\ud800 text"}\n')
    result = run("dedupe", "in.jsonl", "-o", "out.jsonl", cwd=tmp_path)
    assert_one_error(result, 1, "in.jsonl:2:", "surrogate")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_rejected_at_their_line(number: str, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"q": "a"}\n\n{"q": "b", "x": ' + number + "}\n")
    result = run("build", "in.jsonl", "--input-keys", "q", "-o", "x.zip", cwd=tmp_path)
    assert_one_error(result, 1, "in.jsonl:3:", number, "finite")


def test_empty_input_is_an_error_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n  \n")
    assert_one_error(run("dedupe", "empty.jsonl", cwd=tmp_path), 1, "--allow-empty")
    build = ["build", "empty.jsonl", "--input-keys", "q", "-o", "e.zip", "--no-progress"]
    assert_one_error(run(*build, cwd=tmp_path), 1, "empty.jsonl", "no examples")
    assert not (tmp_path / "e.zip").exists()
    allowed = run(*build, "--allow-empty", "--json", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["examples"] == 0
    allowed = run("dedupe", "empty.jsonl", "--allow-empty", "--no-progress", cwd=tmp_path)
    assert (allowed.returncode, allowed.stdout) == (0, "")


def test_query_stopwords_must_match_the_index(index_file: Path) -> None:
    result = run(
        "query", index_file.name, "a text", "--stopwords", "english", cwd=index_file.parent
    )
    assert_one_error(result, 1, "--stopwords none")


# -- selection options -------------------------------------------------------------------
def test_build_and_query_take_selection_options(examples_file: Path, tmp_path: Path) -> None:
    index = tmp_path / "sel.zip"
    code = cli.main(
        [
            *("build", str(examples_file), "--input-keys", "description", "-o", str(index)),
            *("--stopwords", "english", "--similarity", "minhash", "--fallback", "none"),
            *("--threshold", "0.25", "--no-progress", "--json"),
        ]
    )
    assert code == 0
    saved = MinHashExampleSelector.load(index)
    assert (saved.stopwords, saved.rerank, saved.fallback, saved.threshold) == (
        "english", "minhash", "none", 0.25,
    )  # fmt: skip
    text = "Return the value of the named attribute of an object."
    loose = run("query", index.name, text, "--json", cwd=tmp_path, stdin=None)
    assert loose.returncode == 2  # TEXT is not a JSON object in --json mode
    as_json = json.dumps({"description": text})
    strict = run("query", index.name, as_json, "--json", "--threshold", "0.9", cwd=tmp_path)
    relaxed = run(
        "query", index.name, as_json, "--json", "--threshold", "0", "--similarity", "jaccard",
        "--fallback", "probe", "--stopwords", "english", "-k", "3", cwd=tmp_path,
    )  # fmt: skip
    assert relaxed.returncode == 0, relaxed.stderr
    hits = [json.loads(line) for line in relaxed.stdout.splitlines()]
    assert len(hits) == 3
    assert all(hit["score"] >= 0.0 for hit in hits)
    strict_hits = [json.loads(line) for line in strict.stdout.splitlines()]
    assert all(hit["score"] >= 0.9 for hit in strict_hits)
    assert len(strict_hits) < len(hits)


def test_human_output_rounds_scores_and_marks_cuts(index_file: Path) -> None:
    text = "Return a new view of the object's items with a long query to get many hits"
    result = run("query", index_file.name, text, "-k", "4", cwd=index_file.parent)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 4
    for row in rows:
        score = row.split()[1]
        assert len(score.split(".")[1]) == 3
    assert all(len(line) <= 100 for line in result.stdout.splitlines())
    inspect = run("inspect", index_file.name, cwd=index_file.parent)
    assert inspect.returncode == 0
    fields = dict(line.split(None, 1) for line in inspect.stdout.splitlines()[:2])
    assert fields == {"examples": "200", "storage": "memory"}


def test_machine_output_is_stable(index_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(index_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"examples", "storage", "num_perm", "bands", "rows", "input_keys"} <= set(info)


# -- atomic, umask-respecting output ----------------------------------------------------
def test_outputs_follow_the_umask(examples_file: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out, index = tmp_path / "out.jsonl", tmp_path / "idx.zip"
        assert cli.main(["dedupe", str(examples_file), "-o", str(out), "--no-progress"]) == 0
        build = ["build", str(examples_file), "--input-keys", "description", "-o", str(index)]
        assert cli.main([*build, "--no-progress", "--json"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert stat.S_IMODE(index.stat().st_mode) == 0o640


def test_interrupted_write_keeps_the_previous_file(
    examples_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("previous contents\n")
    calls = [0]
    real_dumps = json.dumps

    def dumps_then_interrupt(*args: object, **kwargs: object) -> str:
        calls[0] += 1
        if calls[0] == 50:
            raise KeyboardInterrupt
        return real_dumps(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli.json, "dumps", dumps_then_interrupt)
    assert cli.main(["dedupe", str(examples_file), "-o", str(out), "--no-progress"]) == 130
    monkeypatch.undo()
    assert calls[0] == 50
    assert out.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.jsonl", "out.jsonl"]


def _big_input(path: Path, rows: int) -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    with path.open("w") as stream:
        for _ in range(rows):
            stream.write(json.dumps({"q": " ".join(rng.choices(vocab, k=12))}) + "\n")


def test_sigint_mid_dedupe_keeps_the_previous_file(tmp_path: Path) -> None:
    _big_input(tmp_path / "big.jsonl", 60_000)
    out = tmp_path / "out.jsonl"
    out.write_text("previous contents\n")
    # --no-progress off: the first progress output says the dedupe has started
    proc = subprocess.Popen(
        [*ENTRY_POINTS["module"], "dedupe", "big.jsonl", "-o", "out.jsonl"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    started = threading.Event()
    chunks: list[bytes] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            chunks.append(chunk)
            if b"deduplicating" in b"".join(chunks):
                started.set()
        started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert started.wait(30)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    err = b"".join(chunks).decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        "error: interrupted (an -o file is left as it was)"
    ]
    assert out.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "out.jsonl"]


def test_sigint_while_writing_keeps_the_previous_file(tmp_path: Path) -> None:
    _big_input(tmp_path / "big.jsonl", 60_000)
    out = tmp_path / "out.jsonl"
    out.write_text("previous contents\n")
    proc = subprocess.Popen(
        [*ENTRY_POINTS["module"], "dedupe", "big.jsonl", "-o", "out.jsonl", "--no-progress"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    interrupted = False
    before = out.stat().st_size
    while proc.poll() is None and time.monotonic() < deadline:
        # writing has started: a temporary file exists, or (a non-atomic write) out.jsonl changed
        temporary = any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir())
        if temporary or out.stat().st_size != before:
            proc.send_signal(signal.SIGINT)
            interrupted = True
            break
        time.sleep(0.001)
    _, err = proc.communicate(timeout=60)
    if not interrupted or proc.returncode == 0:  # the write finished before the signal
        assert proc.returncode == 0
        assert len(out.read_text().splitlines()) == 60_000
        return
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert out.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "out.jsonl"]


# -- arbitrary bytes ---------------------------------------------------------------------
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.one_of(
                st.sampled_from(
                    [
                        b'{"q": "a b"}',
                        b"{}",
                        b"[]",
                        b'{"q": 1}',
                        b'{"q": null}',
                        b'{"q": "\\ud800"}',
                        b"\xff",
                        b'"q"',
                        b"{",
                        b"NaN",
                        b'{"q": {"r": ["s"]}}',
                        b"\xef\xbb\xbf{}",
                        b"\r",
                    ]
                ),
                st.binary(max_size=20),
            ),
            max_size=6,
        ).map(b"\n".join),
    ),
    command=st.sampled_from(["dedupe", "build"]),
)
def test_arbitrary_bytes_never_crash(
    data: bytes, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    args = [command, str(source), "--no-progress"]
    if command == "build":
        args += ["--input-keys", "q", "-o", str(tmp_path / "x.zip"), "--json"]
    else:
        args += ["-o", str(tmp_path / "out.jsonl")]
    status = cli.main(args)  # any exception escaping cli.main() fails the test
    err = capsys.readouterr().err
    if status == 0:
        return
    assert status in (1, 2)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff\xfe",
        b'{"q": "a"}\n\xc3\x28\n',
        b"[" * 50_000,
        b'{"q": "a"}\n{"q": ["b"]}\n',
        b'{"q": "\\udfff"}',
    ],
)
def test_arbitrary_bytes_through_the_real_entry_point(data: bytes, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(data)
    result = run("build", "in.jsonl", "--input-keys", "q", "-o", "x.zip", cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert_one_error(result, result.returncode)
    result = run("dedupe", "-", cwd=tmp_path, stdin=data)
    assert_one_error(result, result.returncode)
    assert result.returncode in (1, 2)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=10)),
            lambda children: st.lists(children) | st.dictionaries(st.text(max_size=8), children),
            max_leaves=20,
        ).map(json.dumps),
        st.dictionaries(st.sampled_from(["description", "other"]), st.text(max_size=20)).map(
            json.dumps
        ),
    )
)
def test_arbitrary_json_option_never_crashes(
    text: str, index_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["query", str(index_file), text, "--json", "-k", "2"])
    out, err = capsys.readouterr()
    if status == 0:
        assert all(set(json.loads(line)) == {"id", "score", "example"} for line in out.splitlines())
        return
    assert status in (1, 2)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")


@pytest.mark.parametrize("password", ["s3#cr/et", "p@ss:w?rd", "pw%zz"])
def test_redis_url_with_an_unencoded_password_reaches_the_server_check(
    password: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command line accepts every URL the selector accepts (one parser): the URL
    # passes the usage check and fails only at the (closed) port, without the password.
    url = f"redis://:{password}@127.0.0.1:1/0"
    status = cli.main(["inspect", "--redis-url", url, "--index-name", "idx"])
    (line,) = capsys.readouterr().err.splitlines()
    assert status == 1, line
    assert line.startswith("error:")
    assert password not in line
