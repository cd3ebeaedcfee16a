"""The merged graph as records and DataFrames; rebuilding it from document metadata."""

from __future__ import annotations

import builtins

import pandas as pd
import pytest
from langchain_core.documents import Document

from langchain_niche import EntityCompressor, EntityGraph
from langchain_niche.compression import ExtractedEntity, render_graph
from langchain_niche.compression.records import records_dataframe
from langchain_niche.errors import InvalidParameterError
from tests.support.compression import ACME, OKAFOR, RULES, long_text, rule_model


@pytest.fixture(scope="module")
def result() -> tuple[EntityGraph, list[Document]]:
    docs = [
        Document(page_content=long_text(ACME), id="a"),
        Document(page_content=long_text(OKAFOR, ACME.replace("1998", "1999")), id="b"),
    ]
    rules = [
        *RULES,
        ("in 1999", ExtractedEntity(name="ACME", type="Company", properties={"founded": "1999"})),
    ]
    model = rule_model(rules)
    compressed = EntityCompressor(model, chunk_tokens=200, chunk_overlap=0).compress_with_graph(
        docs
    )
    return compressed.graph, compressed.documents


def test_entity_records(result: tuple[EntityGraph, list[Document]]) -> None:
    graph, _ = result
    acme, okafor = graph.to_records()
    assert acme["entity_id"] == "company:acme-robotics-inc"
    assert acme["entity_type"] == "Company"
    assert acme["aliases"] == ["ACME"]
    assert acme["founded"] == ["1998", "1999"], "conflicting values are all kept"
    assert acme["headquarters"] == "Oslo"
    assert okafor["employee_id"] == "EMP-48213"


def test_fact_records_carry_evidence_and_conflicts(
    result: tuple[EntityGraph, list[Document]],
) -> None:
    graph, _ = result
    facts = graph.to_records("facts")
    founded = [f for f in facts if f["property"] == "founded"]
    assert [(f["value"], f["documents"], f["sources"], f["conflict"]) for f in founded] == [
        ("1998", [0], ["a"], True),
        ("1999", [1], ["b"], True),
    ]
    assert all(f["grounded"] is True for f in facts)
    assert all(isinstance(f["start"], int) for f in facts)


def test_relation_records(result: tuple[EntityGraph, list[Document]]) -> None:
    graph, _ = result
    (row,) = graph.to_records("relations")
    assert (row["source"], row["relation"], row["target"], row["documents"]) == (
        "Mira Okafor",
        "works_for",
        "Acme Robotics Inc.",
        [1],
    )


def test_dataframes(result: tuple[EntityGraph, list[Document]]) -> None:
    graph, _ = result
    frame = graph.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["entity"]) == ["Acme Robotics Inc.", "Mira Okafor"]
    facts = graph.to_dataframe("facts")
    assert facts.loc[facts["property"] == "employee_id", "value"].tolist() == ["EMP-48213"]
    empty = EntityGraph().to_dataframe("relations")
    assert list(empty.columns)[:3] == ["source_id", "source", "relation"]
    assert len(empty) == 0


def test_records_reject_unknown_kinds() -> None:
    with pytest.raises(
        InvalidParameterError, match="kind must be 'entities', 'facts' or 'relations', got 'rows'"
    ):
        EntityGraph().to_records("rows")  # type: ignore[arg-type]


def test_dataframe_without_pandas_has_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: object, **kwargs: object) -> object:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r'pip install "langchain-niche\[pandas\]"'):
        records_dataframe([{"a": 1}])


def test_graph_from_document_metadata(result: tuple[EntityGraph, list[Document]]) -> None:
    graph, documents = result
    rebuilt = EntityGraph.from_documents(documents)
    assert [e.id for e in rebuilt.entities] == [e.id for e in graph.entities]
    assert rebuilt.get("ACME").values("founded") == ["1998", "1999"]  # type: ignore[union-attr]
    assert len(rebuilt.relations) == 1
    assert render_graph(rebuilt) == render_graph(graph)


def test_graph_lookup_and_neighbours(result: tuple[EntityGraph, list[Document]]) -> None:
    graph, _ = result
    assert graph.get("acme") is graph.get("company:acme-robotics-inc") is not None
    assert graph.get("nobody") is None
    assert graph.neighbours("person:mira-okafor") == {"company:acme-robotics-inc"}
    assert len(graph.subgraph(["person:mira-okafor"]).relations) == 0
