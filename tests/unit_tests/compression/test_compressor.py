"""EntityCompressor end to end with scripted models: outputs, metadata, options, config."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import BaseDocumentCompressor, BaseDocumentTransformer, Document
from langchain_core.runnables import Runnable, RunnableLambda

from langchain_niche import EntityCompressor, EntityGraph
from langchain_niche.compression import ExtractedEntity, ExtractedRelation, Extraction
from langchain_niche.compression.synthetic import make_corpus, scripted_extractor
from langchain_niche.errors import InvalidParameterError, NicheError
from langchain_niche.testing import ScriptedCall, ScriptedChatModel
from tests.support.compression import (
    ACME,
    OKAFOR,
    RULES,
    chunk_of,
    long_text,
    rule_extraction,
    rule_model,
)

TEXT = long_text(ACME, OKAFOR)


def compressor(model: Any = None, **kwargs: Any) -> EntityCompressor:
    kwargs.setdefault("chunk_tokens", 200)
    kwargs.setdefault("chunk_overlap", 20)
    return EntityCompressor(model or rule_model(), **kwargs)


def test_is_a_transformer_a_compressor_and_a_runnable() -> None:
    c = compressor()
    assert isinstance(c, BaseDocumentTransformer)
    assert isinstance(c, BaseDocumentCompressor)
    assert isinstance(c, Runnable)
    chain = RunnableLambda(lambda docs: docs) | c  # composes directly, no adapter needed
    assert chain.invoke([Document(page_content=TEXT)])[0].metadata["compression"] == "compressed"


def test_transform_documents_output_and_metadata() -> None:
    source = Document(page_content=TEXT, metadata={"source": "report.txt", "page": 3}, id="doc-1")
    (doc,) = compressor().transform_documents([source])
    assert doc.id == "doc-1"
    assert doc.metadata["source"] == "report.txt"
    assert doc.metadata["page"] == 3
    assert doc.metadata["compression"] == "compressed"
    assert doc.page_content.startswith("Acme Robotics Inc. [Company] (aka ACME)\n- founded: 1998\n")
    assert "- works_for: Acme Robotics Inc." in doc.page_content
    assert "$12.5 million" in doc.page_content
    assert doc.metadata["origin_tokens"] > 5 * doc.metadata["compressed_tokens"]
    assert doc.metadata["compression_ratio"] == round(
        doc.metadata["origin_tokens"] / doc.metadata["compressed_tokens"], 2
    )
    entities = doc.metadata["entities"]
    assert [e["name"] for e in entities] == ["Acme Robotics Inc.", "Mira Okafor"]
    okafor = entities[1]
    (emp,) = okafor["properties"]["employee_id"]
    assert emp["value"] == "EMP-48213"
    assert emp["grounded"] is True
    (evidence,) = emp["evidence"]
    assert TEXT[evidence["start"] : evidence["end"]] == "EMP-48213"
    assert evidence["source"] == "doc-1"
    (relation,) = doc.metadata["relations"]
    assert (relation["source"], relation["relation"], relation["target"]) == (
        "person:mira-okafor",
        "works_for",
        "company:acme-robotics-inc",
    )
    json.dumps(doc.metadata)  # JSON-serializable, fit for any vector store


async def test_async_matches_sync() -> None:
    docs = [Document(page_content=TEXT)]
    sync = compressor().transform_documents(docs)
    asynchronous = await compressor().atransform_documents(docs)
    assert [d.page_content for d in sync] == [d.page_content for d in asynchronous]
    assert sync[0].metadata == asynchronous[0].metadata


@pytest.mark.parametrize(
    ("output_format", "expected"),
    [
        ("cards", "Mira Okafor [Person]\n- employee_id: EMP-48213"),
        ("triples", "Mira Okafor | employee_id | EMP-48213"),
        ("json", '"name":"Mira Okafor","type":"Person","properties":{"employee_id":"EMP-48213"'),
    ],
)
def test_output_formats(output_format: str, expected: str) -> None:
    (doc,) = compressor(output_format=output_format).transform_documents(
        [Document(page_content=TEXT)]
    )
    assert expected in doc.page_content
    if output_format == "json":
        payload = json.loads(doc.page_content)
        assert payload["relations"] == [["Mira Okafor", "works_for", "Acme Robotics Inc."]]


def hallucinating(chunk: str, call: ScriptedCall, extraction: Extraction) -> Any:
    for entity in extraction.entities:
        entity.properties["net_worth"] = "$4.2 billion"  # in no chunk
        if entity.type == "Person":
            entity.properties["role"] = ["CTO", "chief executive"]  # one true, one invented
    extraction.entities.append(
        ExtractedEntity(name="Phantom Corp", type="Company", properties={"ceo": "Nobody"})
    )
    return extraction


def test_grounding_drop_removes_hallucinated_values_and_entities() -> None:
    (doc,) = compressor(rule_model(transform=hallucinating)).transform_documents(
        [Document(page_content=TEXT)]
    )
    assert "$4.2 billion" not in doc.page_content
    assert "chief executive" not in doc.page_content
    assert "Phantom" not in doc.page_content
    assert "- role: CTO\n" in doc.page_content
    stats = doc.metadata["grounding"]
    assert stats["mode"] == "drop"
    assert stats["hallucinated_entities"] == doc.metadata["chunks"]  # one phantom per chunk
    assert stats["ungrounded"] >= 4


def test_grounding_flag_keeps_values_marked() -> None:
    (doc,) = compressor(rule_model(transform=hallucinating), grounding="flag").transform_documents(
        [Document(page_content=TEXT)]
    )
    assert "- role: CTO | chief executive (unverified)" in doc.page_content
    assert "Phantom Corp [Company]" in doc.page_content
    okafor = next(e for e in doc.metadata["entities"] if e["name"] == "Mira Okafor")
    assert [v["grounded"] for v in okafor["properties"]["role"]] == [True, False]


def test_grounding_off_trusts_the_model() -> None:
    (doc,) = compressor(rule_model(transform=hallucinating), grounding="off").transform_documents(
        [Document(page_content=TEXT)]
    )
    assert "chief executive" in doc.page_content
    assert "(unverified)" not in doc.page_content
    okafor = next(e for e in doc.metadata["entities"] if e["name"] == "Mira Okafor")
    assert okafor["properties"]["role"][0]["grounded"] is None


def test_values_are_kept_verbatim_from_the_source() -> None:
    def respell(chunk: str, call: ScriptedCall, extraction: Extraction) -> Any:
        for entity in extraction.entities:
            if "employee_id" in entity.properties:
                entity.properties["employee_id"] = "emp-48213"
                entity.properties["born"] = "12 march 1971"
        return extraction

    (doc,) = compressor(rule_model(transform=respell)).transform_documents(
        [Document(page_content=TEXT)]
    )
    assert "- employee_id: EMP-48213" in doc.page_content
    assert "- born: 12 March 1971" in doc.page_content


def test_vocabulary_restricts_types_properties_and_relations() -> None:
    (doc,) = compressor(
        entity_types=["company"],
        properties={"Founded": "year", "headquarters": ""},
        relation_types=["owns"],
    ).transform_documents([Document(page_content=TEXT)])
    assert (
        doc.page_content
        == "Acme Robotics Inc. [company] (aka ACME)\n- Founded: 1998\n- headquarters: Oslo"
    )
    assert doc.metadata["grounding"]["off_vocabulary"] >= 2
    assert "Person (" not in doc.page_content


def test_query_keeps_relevant_entities_and_neighbours() -> None:
    rules = [
        *RULES,
        ("Oslo", ExtractedEntity(name="Oslo", type="City", properties={"country": "Norway"})),
    ]
    text = long_text(ACME, OKAFOR, "Oslo is the capital of Norway.")
    c = compressor(rule_model(rules))
    (doc,) = c.compress_documents([Document(page_content=text)], query="When was Mira Okafor born?")
    assert "Mira Okafor [Person]" in doc.page_content
    assert "Acme Robotics Inc. [Company]" in doc.page_content, "a direct neighbour"
    assert "Oslo [City]" not in doc.page_content
    assert doc.metadata["query_matched"] is True
    (doc,) = compressor(rule_model(rules), include_neighbors=False).compress_documents(
        [Document(page_content=text)], query="When was Mira Okafor born?"
    )
    assert "Acme" not in doc.page_content


def test_query_matching_nothing_keeps_everything() -> None:
    (doc,) = compressor().compress_documents([Document(page_content=TEXT)], query="zebra migration")
    assert "Acme Robotics" in doc.page_content
    assert "Mira Okafor" in doc.page_content
    assert doc.metadata["query_matched"] is False


def test_query_from_constructor_transform_kwarg_and_extraction_prompt() -> None:
    model = rule_model()
    c = compressor(model, query="Which company is in Oslo?", include_neighbors=False)
    (doc,) = c.transform_documents([Document(page_content=TEXT)])
    assert "Mira Okafor" not in doc.page_content
    assert "Which company is in Oslo?" in model.calls[0].messages[0].content
    (doc,) = c.transform_documents([Document(page_content=TEXT)], query="What is EMP-48213?")
    assert doc.page_content.startswith("Mira Okafor")
    assert "What is EMP-48213?" in model.calls[-1].messages[0].content


def test_model_relevance() -> None:
    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        if call.tool_names == ["RelevantEntities"]:
            assert "person:mira-okafor: Mira Okafor [Person]" in call.text
            return {"ids": ["person:mira-okafor", "invented:id"]}
        return rule_extraction(chunk_of(messages))

    model = ScriptedChatModel(responder=respond)
    c = compressor(model, relevance="model", include_neighbors=False)
    (doc,) = c.compress_documents([Document(page_content=TEXT)], query="anything")
    assert doc.page_content.startswith("Mira Okafor [Person]")
    assert "Acme Robotics Inc. [" not in doc.page_content
    assert doc.metadata["relevance"] == "model"


def test_model_relevance_failure_falls_back_to_jaccard() -> None:
    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        if call.tool_names == ["RelevantEntities"]:
            raise RuntimeError("model down")
        return rule_extraction(chunk_of(messages))

    c = compressor(ScriptedChatModel(responder=respond), relevance="model", include_neighbors=False)
    (doc,) = c.compress_documents([Document(page_content=TEXT)], query="Mira Okafor")
    assert doc.page_content.startswith("Mira Okafor")
    assert doc.metadata["relevance"].startswith("jaccard (model relevance failed: RuntimeError")


def test_entities_merge_across_documents() -> None:
    docs = [
        Document(page_content=long_text(ACME), metadata={"source": "a"}),
        Document(
            page_content=long_text("ACME opened an office in Oslo."), metadata={"source": "b"}
        ),
        Document(page_content=long_text(OKAFOR), metadata={"source": "c"}),
    ]
    rules = [
        *RULES,
        (
            "ACME opened",
            ExtractedEntity(name="ACME", type="Company", properties={"office": "Oslo"}),
        ),
    ]
    c = compressor(rule_model(rules))
    result = c.compress_with_graph(docs)
    acme = result.graph.get("acme")
    assert acme is not None
    assert acme.id == "company:acme-robotics-inc"
    assert {ev.document for ev in acme.evidence} == {0, 1}
    assert acme.values("office") == ["Oslo"]
    a, b, c_doc = result.documents
    assert b.page_content == "Acme Robotics Inc. [Company] (aka ACME)\n- office: Oslo"
    assert "- office" not in a.page_content, "each document shows what it says"
    # Document c only names Acme in a relation: the relation is kept, Acme as a bare card.
    assert "- works_for: Acme Robotics Inc." in c_doc.page_content
    assert "Acme Robotics Inc. [Company] (aka ACME)\n\n" in c_doc.page_content
    assert [e["id"] for e in b.metadata["entities"]] == ["company:acme-robotics-inc"]


def test_combine_documents_returns_one_merged_document() -> None:
    docs = [
        Document(page_content=long_text(ACME), metadata={"source": "a"}),
        Document(page_content=long_text(OKAFOR), metadata={"source": "b"}),
        Document(page_content="", metadata={"source": "empty"}),
    ]
    out = compressor(combine_documents=True).transform_documents(docs)
    combined, empty = out
    assert [s["source"] for s in combined.metadata["sources"]] == ["a", "b"]
    assert combined.page_content.count("[Company]") == 1
    assert "Mira Okafor" in combined.page_content
    assert combined.metadata["origin_tokens"] > combined.metadata["compressed_tokens"]
    assert empty.metadata["compression"] == "empty"


def test_extract_graph_and_records() -> None:
    graph = compressor().extract_graph([Document(page_content=TEXT)])
    assert isinstance(graph, EntityGraph)
    rows = graph.to_records()
    assert rows[1]["entity"] == "Mira Okafor"
    assert rows[1]["employee_id"] == "EMP-48213"
    graph = compressor().extract_graph([Document(page_content=TEXT)], query="Oslo")
    assert {e.name for e in graph.entities} == {"Acme Robotics Inc.", "Mira Okafor"}


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chains: list[tuple[str, UUID, UUID | None]] = []
        self.models: list[UUID | None] = []

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.chains.append((kwargs.get("name") or "", run_id, parent_run_id))

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.models.append(parent_run_id)


def test_invoke_makes_model_calls_child_runs() -> None:
    recorder = Recorder()
    c = compressor()
    out = c.invoke([Document(page_content=TEXT)], config={"callbacks": [recorder], "tags": ["t"]})
    assert out[0].metadata["compression"] == "compressed"
    root = next(run for run in recorder.chains if run[0] == "EntityCompressor")
    extraction_runs = {
        run_id
        for name, run_id, parent in recorder.chains
        if name == "EntityExtraction" and parent == root[1]
    }
    assert extraction_runs, "chunk extractions are children of the compressor run"
    assert recorder.models
    assert all(parent is not None for parent in recorder.models)


def test_invoke_accepts_a_dict_with_query_and_a_single_document() -> None:
    c = compressor(include_neighbors=False)
    (doc,) = c.invoke({"documents": [Document(page_content=TEXT)], "query": "EMP-48213"})
    assert doc.page_content.startswith("Mira Okafor")
    (doc,) = c.invoke(Document(page_content=TEXT))
    assert "Acme" in doc.page_content
    with pytest.raises(InvalidParameterError, match="needs 'documents'"):
        c.invoke({"docs": []})


def test_compress_documents_passes_callbacks_to_the_model() -> None:
    recorder = Recorder()
    compressor().compress_documents([Document(page_content=TEXT)], "Acme", callbacks=[recorder])
    assert recorder.models


def test_max_concurrency_bounds_parallel_calls() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return Extraction()

    text = "A plain sentence that says nothing at all about anyone here. " * 400
    c = compressor(
        ScriptedChatModel(responder=respond), max_concurrency=3, chunk_tokens=100, chunk_overlap=0
    )
    (doc,) = c.transform_documents([Document(page_content=text)])
    assert doc.metadata["chunks"] >= 10
    assert 2 <= state["peak"] <= 3
    assert doc.metadata["compression"] == "empty"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk_tokens": 4}, "chunk_tokens must be an integer >= 16, got 4"),
        (
            {"chunk_tokens": 100, "chunk_overlap": 100},
            "chunk_overlap must be smaller than chunk_tokens",
        ),
        ({"chunk_overlap": -1}, "chunk_overlap must be an integer >= 0"),
        ({"max_concurrency": 0}, "max_concurrency must be an integer >= 1, got 0"),
        (
            {"output_format": "xml"},
            "output_format must be one of 'cards', 'json', 'triples', got 'xml'",
        ),
        ({"grounding": "strict"}, "grounding must be"),
        ({"fuzzy_threshold": 1.5}, r"fuzzy_threshold must be a number in \[0, 1\]"),
        ({"entity_types": "Person"}, "entity_types must be None, a list of names"),
        ({"entity_types": []}, "entity_types must be None, a list of names"),
        ({"properties": {"born": 3}}, "properties must be None, a list of names"),
        ({"token_counter": 3}, "token_counter must be None or a callable"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"llm": "gpt-4"}, "llm must be a LangChain chat model"),
    ],
)
def test_invalid_parameters_are_named(kwargs: dict[str, Any], match: str) -> None:
    kwargs.setdefault("llm", rule_model())
    with pytest.raises(InvalidParameterError, match=match) as info:
        EntityCompressor(**kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, NicheError)


def test_llm_is_required_and_unknown_kwargs_are_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="needs llm"):
        EntityCompressor()
    with pytest.raises(InvalidParameterError, match="unexpected keyword arguments"):
        compressor().transform_documents([], querry="typo")


def test_custom_token_counter_drives_chunking_and_ratio() -> None:
    def words(text: str) -> int:
        return len(text.split())

    (doc,) = compressor(token_counter=words, chunk_tokens=50, chunk_overlap=0).transform_documents(
        [Document(page_content=TEXT)]
    )
    assert doc.metadata["origin_tokens"] == len(TEXT.split())
    assert doc.metadata["chunks"] >= len(TEXT.split()) // 50


def test_relations_only_between_kept_entities() -> None:
    rules = [
        *RULES,
        (
            "Mira Okafor",
            ExtractedRelation(source="Mira Okafor", relation="admires", target="Nobody Known"),
        ),
    ]
    (doc,) = compressor(rule_model(rules)).transform_documents([Document(page_content=TEXT)])
    assert "admires" not in doc.page_content
    assert len(doc.metadata["relations"]) == 1


def test_relevance_ratio_ignores_words_shared_by_many_cards() -> None:
    corpus = make_corpus(seed=7, companies=6, people=10, products=6)
    company = next(e for e in corpus.entities if e.type == "Company")
    question = f"Who works for {company.name} and where is it headquartered?"
    c = EntityCompressor(scripted_extractor(corpus), chunk_tokens=400, chunk_overlap=40)
    focused = c.extract_graph([corpus.document()], query=question)
    staff = {r.source for r in focused.relations if r.relation == "works_for"}
    assert company.name in {e.name for e in focused.entities}
    assert len(focused.entities) <= 4, [e.name for e in focused.entities]
    assert staff, "who works there is kept"
    loose = EntityCompressor(
        scripted_extractor(corpus), chunk_tokens=400, chunk_overlap=40, relevance_ratio=0.0
    ).extract_graph([corpus.document()], query=question)
    assert len(loose.entities) > 2 * len(focused.entities)


def test_neighbours_are_one_step_not_transitive() -> None:
    rules = [
        *RULES,
        (
            "Helios X7",
            ExtractedEntity(name="Helios X7", type="Product", properties={"sku": "SKU-1"}),
        ),
        (
            "Helios X7",
            ExtractedRelation(source="Helios X7", relation="made by", target="Acme Robotics"),
        ),
    ]
    text = long_text(ACME, OKAFOR, "The Helios X7 (SKU-1) is made by Acme Robotics.")
    (doc,) = compressor(rule_model(rules)).compress_documents(
        [Document(page_content=text)], query="What is the employee id of Mira Okafor?"
    )
    assert "Mira Okafor [Person]" in doc.page_content
    assert "Acme Robotics Inc. [Company]" in doc.page_content  # Okafor's neighbour
    assert "Helios" not in doc.page_content  # Acme's neighbour, two steps away


def test_changed_settings_are_honoured() -> None:
    c = compressor()
    c.entity_types = ["Person"]
    (doc,) = c.transform_documents([Document(page_content=TEXT)])
    assert "[Company]" not in doc.page_content
    assert "of these types only: Person." in c.llm.calls[-1].messages[0].content  # type: ignore[attr-defined]
    copied = c.model_copy(update={"entity_types": None, "output_format": "triples"})
    (doc,) = copied.transform_documents([Document(page_content=TEXT)])
    assert "Acme Robotics Inc. | type | Company" in doc.page_content


def test_assignments_are_checked_like_the_constructor() -> None:
    c = compressor(chunk_tokens=200, chunk_overlap=20)
    with pytest.raises(
        InvalidParameterError, match="chunk_overlap must be smaller than chunk_tokens"
    ):
        c.chunk_overlap = 300
    with pytest.raises(InvalidParameterError, match="grounding must be"):
        c.grounding = "maybe"  # type: ignore[assignment]
    c.chunk_tokens = 400
    c.chunk_overlap = 300
    assert (c.chunk_tokens, c.chunk_overlap) == (400, 300)
