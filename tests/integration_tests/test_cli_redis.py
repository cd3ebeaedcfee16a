"""The command line against a real Redis: a missing index is said in command-line terms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from langchain_niche import MinHashExampleSelector
from langchain_niche.datasets import python_api_examples


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langchain_niche", *args],
        cwd=cwd, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_missing_redis_index(redis_url: str, index_name: str, tmp_path: Path) -> None:
    for args in (["inspect"], ["query", "some text"]):
        result = run(*args, "--redis-url", redis_url, "--index-name", index_name, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: no index named {index_name!r}")
        assert "--redis-url" in line
    # inspecting did not create an empty index
    again = run("inspect", "--redis-url", redis_url, "--index-name", index_name, cwd=tmp_path)
    assert again.returncode == 1


def test_build_inspect_query_in_redis(redis_url: str, index_name: str, tmp_path: Path) -> None:
    rows = python_api_examples()[:50]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = ["--redis-url", redis_url, "--index-name", index_name]
    built = run("build", "in.jsonl", "--input-keys", "description", *store, "--json",
                "--no-progress", cwd=tmp_path)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["examples"] == 50
    inspect = run("inspect", *store, cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.splitlines()[0].split() == ["examples", "50"]
    query = json.dumps({"description": rows[3]["description"]})
    hits = run("query", query, "--json", "-k", "1", *store, cwd=tmp_path)
    assert hits.returncode == 0, hits.stderr
    assert json.loads(hits.stdout)["id"] == "3"


def test_build_sets_the_creation_layout_of_a_redis_index(
    redis_url: str, index_name: str, tmp_path: Path
) -> None:
    rows = python_api_examples()[:40]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = ["--redis-url", redis_url, "--index-name", index_name]
    layout = ["--redis-shards", "2", "--redis-bucket-bits", "6"]
    built = run("build", "in.jsonl", "--input-keys", "description", *store, *layout,
                "--json", "--no-progress", cwd=tmp_path)  # fmt: skip
    assert built.returncode == 0, built.stderr
    opened = MinHashExampleSelector(redis_url=redis_url, index_name=index_name)  # adopts both
    described = opened.describe_index()
    assert (described["shards"], described["bucket_bits"]) == (2, 6)
    assert len(opened) == 40
    assert opened.audit() == {"examples": 40, "problems": []}
    # a file index has no such layout: said in command-line terms, nothing written
    to_file = run("build", "in.jsonl", "--input-keys", "description", "-o", "x.zip",
                  "--redis-bucket-bits", "6", cwd=tmp_path)  # fmt: skip
    assert to_file.returncode == 2
    assert to_file.stderr.splitlines() == ["error: --redis-bucket-bits needs --redis-url"]
    assert not (tmp_path / "x.zip").exists()
    # a value out of range is the selector's typed error, one line, exit 2
    bad = run("build", "in.jsonl", "--input-keys", "description", "--redis-url", redis_url,
              "--index-name", index_name + "-bad", "--redis-bucket-bits", "17", cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    (line,) = bad.stderr.splitlines()
    assert line.startswith("error: ")
    assert "redis_bucket_bits" in line
    assert "17" in line
