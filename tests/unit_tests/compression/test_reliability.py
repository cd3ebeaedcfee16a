"""Bad input and bad replies: a failure never loses the other documents or chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.documents import Document

from langchain_niche import CompressionError, EntityCompressor, InvalidDocumentError
from langchain_niche.compression import ExtractedEntity, Extraction
from langchain_niche.testing import ScriptedCall, ScriptedChatModel
from tests.support.compression import (
    ACME,
    FILLER,
    OKAFOR,
    chunk_of,
    long_text,
    rule_extraction,
    rule_model,
)

TEXT = long_text(ACME, OKAFOR)


def compressor(model: Any, **kwargs: Any) -> EntityCompressor:
    kwargs.setdefault("chunk_tokens", 200)
    kwargs.setdefault("chunk_overlap", 0)
    return EntityCompressor(model, **kwargs)


def failing_when(trigger: str, reply: Any) -> ScriptedChatModel:
    """Extracts by rules, but answers ``reply`` for every chunk containing ``trigger``."""

    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        chunk = chunk_of(messages)
        if trigger in chunk:
            return reply
        extraction = rule_extraction(chunk)
        return extraction if call.tools else json.dumps(extraction.model_dump())

    return ScriptedChatModel(responder=respond)


def test_empty_and_blank_documents_pass_through_without_a_model_call() -> None:
    model = rule_model()
    docs = [
        Document(page_content="", metadata={"n": 0}),
        Document(page_content=" \n\t ", metadata={"n": 1}),
    ]
    out = compressor(model).transform_documents(docs)
    assert [d.page_content for d in out] == ["", " \n\t "]
    assert [d.metadata["compression"] for d in out] == ["empty", "empty"]
    assert [d.metadata["n"] for d in out] == [0, 1]
    assert out[0].metadata["compression_ratio"] == 1.0
    assert model.calls == []
    assert compressor(model).transform_documents([]) == []


def test_nothing_found_passes_the_document_through() -> None:
    model = ScriptedChatModel(responses=[Extraction()], cycle=True)
    text = FILLER * 10
    (doc,) = compressor(model).transform_documents(
        [Document(page_content=text, metadata={"k": "v"})]
    )
    assert doc.page_content == text
    assert doc.metadata["compression"] == "empty"
    assert doc.metadata["entities"] == []
    assert doc.metadata["k"] == "v"


def test_invalid_json_without_tool_calling_fails_only_that_chunk() -> None:
    # JSON in text (as for models without tool calling); one chunk's reply is garbage twice.
    model = failing_when("Mira Okafor", "Sorry, I cannot help with that.")
    (doc,) = compressor(model, extraction_method="json").transform_documents(
        [Document(page_content=TEXT)]
    )
    assert doc.metadata["compression"] == "partial"
    assert "Acme Robotics Inc. [Company]" in doc.page_content
    # The failed chunk's text is kept verbatim: nothing the document says is lost.
    assert "[text not compressed: extraction failed for this part]" in doc.page_content
    assert "EMP-48213" in doc.page_content
    (error,) = doc.metadata["compression_errors"]
    assert error.startswith("chunk ")
    assert "ExtractionParseError" in error
    assert "attempt 2" in error, "it was retried"


def test_garbled_but_repairable_json_is_used() -> None:
    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        data = rule_extraction(chunk_of(messages)).model_dump()
        text = json.dumps(data).replace('"', "'")[:-1] + ",}"  # single quotes, trailing comma
        return "Here is the extraction:\n```json\n" + text + "\n```"

    (doc,) = compressor(
        ScriptedChatModel(responder=respond), extraction_method="json"
    ).transform_documents([Document(page_content=TEXT)])
    assert doc.metadata["compression"] == "compressed"
    assert "- employee_id: EMP-48213" in doc.page_content


def test_schema_violations_keep_the_valid_items() -> None:
    def respond(messages: list[Any], call: ScriptedCall) -> Any:
        chunk = chunk_of(messages)
        entities: list[Any] = [e.model_dump() for e in rule_extraction(chunk).entities]
        entities += [{"type": "Person"}, {"name": ["not", "a", "name"]}, 42]
        return {"entities": entities, "relations": "not a list"}

    (doc,) = compressor(ScriptedChatModel(responder=respond)).transform_documents(
        [Document(page_content=TEXT)]
    )
    assert doc.metadata["compression"] == "compressed"
    assert "Mira Okafor [Person]" in doc.page_content


def test_model_exceptions_in_one_chunk_keep_the_others() -> None:
    model = failing_when("Mira Okafor", TimeoutError("upstream timed out"))
    (doc,) = compressor(model).transform_documents([Document(page_content=TEXT)])
    assert doc.metadata["compression"] == "partial"
    assert "Acme Robotics Inc. [Company]" in doc.page_content
    assert "Dr. Mira Okafor, employee EMP-48213" in doc.page_content
    assert "TimeoutError: upstream timed out" in doc.metadata["compression_errors"][0]


def test_a_failing_document_never_loses_the_others() -> None:
    docs = [
        Document(page_content=long_text(ACME), metadata={"source": "good"}),
        Document(page_content="POISON " + FILLER, metadata={"source": "bad"}),
        Document(page_content=long_text(OKAFOR), metadata={"source": "good too"}),
    ]
    out = compressor(failing_when("POISON", RuntimeError("boom"))).transform_documents(docs)
    assert [d.metadata["compression"] for d in out] == ["compressed", "failed", "compressed"]
    assert out[1].page_content == docs[1].page_content
    assert out[1].metadata["source"] == "bad"
    assert "RuntimeError: boom" in out[1].metadata["compression_errors"][0]


async def test_async_failures_are_contained_too() -> None:
    docs = [Document(page_content=long_text(ACME)), Document(page_content="POISON " + FILLER)]
    out = await compressor(failing_when("POISON", ValueError("nope"))).atransform_documents(docs)
    assert [d.metadata["compression"] for d in out] == ["compressed", "failed"]


def test_on_error_raise_names_the_document_and_chunk() -> None:
    docs = [
        Document(page_content=long_text(ACME)),
        Document(page_content="POISON " + FILLER, id="doc-7"),
    ]
    c = compressor(failing_when("POISON", RuntimeError("boom")), on_error="raise", max_retries=0)
    with pytest.raises(
        CompressionError, match=r"document 1 \(doc-7\), chunk 0: attempt 1: RuntimeError: boom"
    ) as info:
        c.transform_documents(docs)
    assert (info.value.document, info.value.source, info.value.chunk) == (1, "doc-7", 0)
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize(
    ("documents", "match", "index"),
    [
        ("just a string", "documents must be a list", 0),
        (
            [Document(page_content="ok"), {"page_content": "dict"}],
            "document 1 must be a langchain_core",
            1,
        ),
        ([None], "document 0 must be", 0),
    ],
)
def test_bad_inputs_are_typed_errors_naming_the_item(
    documents: Any, match: str, index: int
) -> None:
    with pytest.raises(InvalidDocumentError, match=match) as info:
        compressor(rule_model()).transform_documents(documents)
    assert info.value.index == index
    assert isinstance(info.value, TypeError)


def test_one_megabyte_document() -> None:
    facts = [ACME, OKAFOR]
    text = long_text(*facts, filler=6000)
    assert len(text) > 1_000_000
    model = rule_model()
    (doc,) = compressor(
        model, chunk_tokens=4000, chunk_overlap=100, max_concurrency=16
    ).transform_documents([Document(page_content=text)])
    assert doc.metadata["compression"] == "compressed"
    assert doc.metadata["chunks"] == len(model.calls) > 40
    assert doc.metadata["compression_ratio"] > 1000
    assert "- employee_id: EMP-48213" in doc.page_content
    (emp,) = next(e for e in doc.metadata["entities"] if e["name"] == "Mira Okafor")["properties"][
        "employee_id"
    ]
    start = emp["evidence"][0]["start"]
    assert text[start : start + 9] == "EMP-48213"


GERMAN = "Die Müller & Söhne GmbH wurde 1987 in Köln gegründet. Geschäftsführerin ist Jürgen Weiß\u2019 Tochter Ännchen Weiß."
JAPANESE = "株式会社アクメは一九九八年に東京で設立された。代表取締役は山田太郎である。"


def test_non_english_text() -> None:
    rules = [
        (
            "Müller",
            ExtractedEntity(
                name="Müller & Söhne GmbH",
                type="Unternehmen",
                properties={"gegründet": "1987", "sitz": "KÖLN"},
            ),
        ),
        (
            "Ännchen",
            ExtractedEntity(
                name="Ännchen Weiß", type="Person", properties={"rolle": "Geschäftsführerin"}
            ),
        ),
        (
            "アクメ",
            ExtractedEntity(
                name="株式会社アクメ",
                type="会社",
                aliases=["アクメ"],
                properties={"設立": "一九九八年", "所在地": "東京"},
            ),
        ),
        ("山田", ExtractedEntity(name="山田太郎", type="人物", properties={"役職": "代表取締役"})),
    ]
    docs = [
        Document(page_content=long_text(GERMAN, filler=5)),
        Document(page_content=(JAPANESE + "天気の話。" * 200)),
    ]
    out = compressor(rule_model(rules), chunk_tokens=120).transform_documents(docs)
    german, japanese = out
    assert (
        "Müller & Söhne GmbH [Unternehmen]\n- gegründet: 1987\n- sitz: Köln" in german.page_content
    )
    assert "Ännchen Weiß [Person]\n- rolle: Geschäftsführerin" in german.page_content
    assert (
        "株式会社アクメ [会社] (aka アクメ)\n- 設立: 一九九八年\n- 所在地: 東京"
        in japanese.page_content
    )
    assert "山田太郎 [人物]\n- 役職: 代表取締役" in japanese.page_content
    assert japanese.metadata["compression_ratio"] > 5
