"""The command line against a real Redis: a missing index is said in command-line terms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
