"""The command line (`python -m langchain_niche`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from langchain_niche import MinHashExampleSelector
from langchain_niche.cli import main
from langchain_niche.datasets import python_api_examples


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "examples.jsonl"
    examples = python_api_examples()[:400]
    lines = [json.dumps({**e, "uid": f"u{i}"}) for i, e in enumerate(examples)]
    lines += [json.dumps(examples[0]), ""]  # a duplicate and a blank line
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_build_inspect_query(
    jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "idx.niche.zip"
    assert (
        main(
            [
                "build",
                str(jsonl),
                "--input-keys",
                "description",
                "-o",
                str(index),
                "--batch-size",
                "150",
                "--json",
            ]
        )
        == 0
    )
    built = json.loads(capsys.readouterr().out)
    assert built["examples"] == 401
    assert built["bands"] == 32
    assert len(MinHashExampleSelector.load(index)) == 401

    assert main(["inspect", str(index), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 401

    text = python_api_examples()[5]["description"]
    query = json.dumps({"description": text})
    assert main(["query", str(index), query, "--json", "-k", "2"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2
    assert hits[0]["score"] == 1.0
    assert hits[0]["example"]["description"] == text

    assert main(["query", str(index), text, "-k", "2"]) == 0  # for people: a table
    header, first, _second = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["#", "score", "id", "description"]
    assert first.split()[:3] == ["1", "1.000", "5"]

    assert main(["query", str(index), json.dumps({"description": text}), "--json", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "5"


def test_build_with_ids_from_a_field(
    jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = jsonl.read_text().splitlines()[:400]
    jsonl.write_text("\n".join(lines))
    index = tmp_path / "idx.zip"
    assert (
        main(
            [
                "build",
                str(jsonl),
                "--input-keys",
                "description",
                "--id-key",
                "uid",
                "-o",
                str(index),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert MinHashExampleSelector.load(index).ids[:2] == ["u0", "u1"]


def test_dedupe(jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "dedupe",
                str(jsonl),
                "-o",
                str(out),
                "--threshold",
                "0.9",
                "--input-keys",
                "description",
                "--no-progress",
            ]
        )
        == 0
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) < 401
    assert "near-duplicates removed" in capsys.readouterr().err


def test_errors_are_reported_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine"}\n[1, 2]\n')
    assert main(["dedupe", str(bad)]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.zip")]) == 1
    assert "missing.zip: no such index file" in capsys.readouterr().err
    assert main(["build", str(bad), "--input-keys", "q"]) == 2  # neither -o nor --redis-url
    assert capsys.readouterr().err.startswith("error: build needs -o")


def test_module_entry_point_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "langchain_niche", "--help"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "dedupe" in result.stdout
