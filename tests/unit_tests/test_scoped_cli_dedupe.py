"""Scoped dedupe and CLI (issue 14): --filter-keys, --filter, scopes never merged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.cli import main
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.errors import InvalidExampleError, InvalidParameterError, MissingKeyError

WORDS = ["reset", "my", "password", "now", "invoice", "where", "is"]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["acme", "beta", 1, "1", True]),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
        ),
        max_size=30,
    ),
    threshold=st.sampled_from([0.5, 0.8, 1.0]),
)
def test_dedupe_is_per_scope(rows: list[tuple[Any, str]], threshold: float) -> None:
    """Scoped dedupe equals deduping each scope on its own; scopes are never merged."""
    examples = [{"tenant": t, "q": q, "n": str(i)} for i, (t, q) in enumerate(rows)]
    got = dedupe_examples(examples, threshold, input_keys=["q"], filter_keys=["tenant"])
    per_scope: list[dict[str, Any]] = []
    for tenant in ["acme", "beta", 1, "1", True]:
        mine = [e for e in examples if type(e["tenant"]) is type(tenant) and e["tenant"] == tenant]
        per_scope.extend(dedupe_examples(mine, threshold, input_keys=["q"]))
    assert sorted(e["n"] for e in got) == sorted(e["n"] for e in per_scope)
    # every scope that has examples keeps at least one
    assert {json.dumps(e["tenant"]) for e in got} == {json.dumps(e["tenant"]) for e in examples}


def test_dedupe_scope_errors_and_defaults() -> None:
    same = [{"tenant": "a", "q": "reset my password"}, {"tenant": "b", "q": "reset my password"}]
    assert dedupe_examples(same, 0.9, filter_keys=["tenant"]) == same
    # without input_keys the filter field is not compared: same tenant, same text -> merged
    assert dedupe_examples([*same, same[0]], 0.9, filter_keys=["tenant"]) == same
    with pytest.raises(MissingKeyError, match="tenant"):
        dedupe_examples([{"q": "x"}], 0.9, filter_keys=["tenant"])
    with pytest.raises(InvalidExampleError, match="tenant"):
        dedupe_examples([{"tenant": 1.5, "q": "x"}], 0.9, filter_keys=["tenant"])
    with pytest.raises(InvalidParameterError):
        dedupe_examples(same, 0.9, input_keys=["q", "tenant"], filter_keys=["tenant"])


@pytest.fixture
def tenants_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "ex.jsonl"
    rows = [
        {"id": f"{t}-{n}-{lang}", "tenant": t, "lang": lang, "q": q}
        for n, q in enumerate(["reset my password", "reset my password please", "where is it"])
        for t in ["acme", "beta"]
        for lang in ["de", "fr"]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _hits(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_cli_build_and_query_scoped(
    tenants_jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "x.niche.zip"
    argv = ["build", str(tenants_jsonl), "-o", str(index), "--input-keys", "q"]
    assert main([*argv, "--filter-keys", "tenant", "--id-key", "id", "--no-progress"]) == 0
    capsys.readouterr()
    query = json.dumps({"tenant": "beta", "q": "reset my password"})
    assert main(["query", str(index), query, "--json", "-k", "20"]) == 0
    hits = _hits(capsys)
    assert hits
    assert {h["example"]["tenant"] for h in hits} == {"beta"}
    # the filter key comes from --filter when the input lacks it
    text = json.dumps({"q": "reset my password"})
    argv = ["query", str(index), text, "-k", "20", "--filter", "tenant=acme"]
    assert main([*argv, "--filter", "lang=fr", "--json"]) == 0
    hits = _hits(capsys)
    assert hits
    assert {(h["example"]["tenant"], h["example"]["lang"]) for h in hits} == {("acme", "fr")}
    # plain text (a table for people) takes the scope from --filter too
    argv = ["query", str(index), "reset my password", "--filter", "tenant=beta"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "beta" in table
    assert "acme" not in table
    # an input without the filter field is an error, never an unscoped selection
    assert main(["query", str(index), "reset my password"]) == 1
    assert "tenant" in capsys.readouterr().err


def test_cli_query_filter_keys_override_and_bad_filter(
    tenants_jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "y.niche.zip"
    assert main(["build", str(tenants_jsonl), "-o", str(index), "--input-keys", "q"]) == 0
    capsys.readouterr()
    query = json.dumps({"lang": "de", "q": "reset my password"})
    assert main(["query", str(index), query, "--json", "-k", "20", "--filter-keys", "lang"]) == 0
    hits = _hits(capsys)
    assert hits
    assert {h["example"]["lang"] for h in hits} == {"de"}
    assert main(["query", str(index), "x", "--filter", "novalue"]) == 2


def test_cli_dedupe_scoped(tenants_jsonl: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    argv = ["dedupe", str(tenants_jsonl), "-o", str(out), "--input-keys", "q", "--no-progress"]
    assert main([*argv, "--threshold", "0.5", "--filter-keys", "tenant"]) == 0
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["tenant"] for r in kept} == {"acme", "beta"}
    assert main([*argv, "--threshold", "0.5"]) == 0
    unscoped = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(unscoped) < len(kept)
