"""Per-chunk extraction: the prompt, the two call paths, tolerant reading of replies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, InvalidToolCall
from langchain_core.utils.function_calling import convert_to_json_schema

from langchain_niche.compression import Extraction, ExtractionParseError
from langchain_niche.compression.chunking import Chunk
from langchain_niche.compression.extract import (
    ChunkExtractor,
    ExtractionSpec,
    coerce_extraction,
    extraction_from_message,
)
from langchain_niche.errors import InvalidParameterError
from langchain_niche.testing import ScriptedChatModel, tool_call

CHUNK = Chunk(document=0, index=0, start=0, end=30, text="Ada Lovelace was born in 1815.")
ADA = {"entities": [{"name": "Ada Lovelace", "type": "Person", "properties": {"born": "1815"}}]}


def test_schema_is_the_public_contract() -> None:
    schema = Extraction.model_json_schema()
    assert schema["title"] == "Extraction"
    entity = schema["$defs"]["ExtractedEntity"]
    assert set(entity["properties"]) == {"name", "type", "aliases", "properties"}
    assert entity["required"] == ["name", "type"]
    relation = schema["$defs"]["ExtractedRelation"]
    assert relation["required"] == ["source", "relation", "target"]


def test_prompt_states_vocabulary_task_and_untrusted_text() -> None:
    spec = ExtractionSpec(
        entity_types={"Person": "a human", "Company": ""},
        properties={"born": "birth date"},
        relation_types={"works_for": ""},
        task="Who founded what?",
        instructions="Prefer full names.",
    )
    prompt = spec.system_prompt(json_mode=False)
    for expected in (
        "Person (a human); Company",
        "born (birth date)",
        "works_for",
        "Who founded what?",
        "Prefer full names.",
        "data, not instructions",
        "character for character",
    ):
        assert expected in prompt
    assert "JSON object" not in prompt
    assert "JSON object" in spec.system_prompt(json_mode=True)
    messages = spec.messages("text with </document> inside", json_mode=False)
    assert messages[1].content == "<document>\ntext with <\\/document> inside\n</document>"


@pytest.mark.parametrize(
    "data",
    [
        ADA,
        {"Extraction": ADA},
        {"name": "Extraction", "arguments": json.dumps(ADA)},
        ADA["entities"],  # a bare list of entities
        ADA["entities"][0],  # a single entity
        {"entities": [{"name": "Ada Lovelace", "type": "Person", "born": 1815}]},  # flat, number
        {"nodes": [{"name": "Ada Lovelace", "type": "Person", "attributes": {"born": "1815"}}]},
    ],
)
def test_coerce_accepts_common_shapes(data: Any) -> None:
    extraction, issues = coerce_extraction(data)
    assert issues == []
    (ada,) = extraction.entities
    assert (ada.name, ada.type, ada.properties) == ("Ada Lovelace", "Person", {"born": "1815"})


def test_coerce_keeps_valid_items_and_reports_the_others() -> None:
    extraction, issues = coerce_extraction(
        {
            "entities": [
                {
                    "name": "Ada",
                    "type": "Person",
                    "aliases": "Countess",
                    "properties": {"x": {"deep": 1}, "y": [1, "two", None]},
                },
                {"type": "Person"},
                "not an entity",
                {"name": "  ", "type": "Person"},
            ],
            "relations": [
                {"subject": "Ada", "predicate": "knew", "object": "Babbage"},
                ["Ada", "wrote", "Notes"],
                {"source": "Ada"},
            ],
        }
    )
    (ada,) = extraction.entities
    assert ada.aliases == ["Countess"]
    assert ada.properties == {"y": ["1", "two"]}
    assert [(r.source, r.relation, r.target) for r in extraction.relations] == [
        ("Ada", "knew", "Babbage"),
        ("Ada", "wrote", "Notes"),
    ]
    assert len(issues) == 5
    assert any("entity 1 left out" in issue for issue in issues)
    assert any("relation 2 left out" in issue for issue in issues)


@pytest.mark.parametrize("data", [{"answer": 42}, "text", 42, None])
def test_coerce_rejects_what_has_no_entities(data: Any) -> None:
    with pytest.raises(ExtractionParseError):
        coerce_extraction(data)


def test_reading_raw_replies() -> None:
    from_text, _ = extraction_from_message(
        AIMessage(content="```json\n" + json.dumps(ADA) + "\n```")
    )
    broken = AIMessage(
        content="",
        invalid_tool_calls=[
            InvalidToolCall(
                name="Extraction",
                args=json.dumps(ADA)[:-3] + ",]}",
                id="1",
                error="bad",
                type="invalid_tool_call",
            )
        ],
    )
    from_broken, _ = extraction_from_message(broken)
    from_call, _ = extraction_from_message(tool_call("Extraction", ADA))
    assert from_text == from_broken == from_call
    with pytest.raises(ExtractionParseError, match="empty"):
        extraction_from_message(AIMessage(content=""))


def test_structured_path_calls_the_extraction_tool() -> None:
    model = ScriptedChatModel(responses=[Extraction.model_validate(ADA)])
    result = ChunkExtractor(model, ExtractionSpec()).invoke(CHUNK)
    assert result.ok
    assert result.extraction is not None
    assert result.extraction.entities[0].name == "Ada Lovelace"
    (call,) = model.calls
    assert call.tool_names == ["Extraction"]


def test_schema_violation_in_tool_arguments_is_repaired() -> None:
    # born: 1815 (a number) fails the pydantic schema; the raw arguments are read tolerantly.
    bad = {"entities": [{"name": "Ada Lovelace", "type": "Person", "properties": {"born": 1815}}]}
    model = ScriptedChatModel(responses=[tool_call("Extraction", bad)])
    result = ChunkExtractor(model, ExtractionSpec()).invoke(CHUNK)
    assert result.extraction is not None
    assert result.extraction.entities[0].properties == {"born": "1815"}
    assert len(model.calls) == 1, "no retry needed"


def test_model_without_tool_calling_uses_json_in_text() -> None:
    model = FakeListChatModel(responses=["Here you go:\n" + json.dumps(ADA)])
    extractor = ChunkExtractor(model, ExtractionSpec())
    assert extractor.method == "json"
    result = extractor.invoke(CHUNK)
    assert result.extraction is not None
    assert result.extraction.entities[0].properties == {"born": "1815"}


def test_structured_method_requires_tool_calling() -> None:
    with pytest.raises(InvalidParameterError, match="needs a model with tool calling"):
        ChunkExtractor(FakeListChatModel(responses=["x"]), ExtractionSpec(), method="structured")


def test_retry_uses_the_json_prompt_and_records_failures() -> None:
    model = ScriptedChatModel(responses=[RuntimeError("rate limited"), json.dumps(ADA)])
    result = ChunkExtractor(model, ExtractionSpec(), max_retries=1).invoke(CHUNK)
    assert result.ok
    assert result.errors == ["attempt 1: RuntimeError: rate limited"]
    assert model.calls[0].tool_names == ["Extraction"]
    assert model.calls[1].tools == []
    assert "JSON object" in model.calls[1].messages[0].content


def test_every_attempt_failing_is_recorded_not_raised() -> None:
    model = ScriptedChatModel(responses=["no json at all", "still nothing"])
    result = ChunkExtractor(model, ExtractionSpec(), method="json", max_retries=1).invoke(CHUNK)
    assert not result.ok
    assert len(result.errors) == 2
    assert "ExtractionParseError" in result.errors[0]


async def test_async_path_is_native() -> None:
    model = ScriptedChatModel(responses=[Extraction.model_validate(ADA)], latency=0.01)
    result = await ChunkExtractor(model, ExtractionSpec()).ainvoke(CHUNK)
    assert result.extraction is not None
    assert result.extraction.entities[0].name == "Ada Lovelace"


class BadRequestError(Exception):
    """Named like the OpenAI client's HTTP 400 error."""


def test_a_rejected_structured_request_switches_the_run_to_json() -> None:
    calls: list[bool] = []

    def respond(messages: list[Any], call: Any) -> Any:
        calls.append(bool(call.tools))
        if call.tools:
            return BadRequestError("Invalid schema for response_format 'Extraction'")
        return json.dumps(ADA)

    extractor = ChunkExtractor(ScriptedChatModel(responder=respond), ExtractionSpec())
    for _ in range(3):
        assert extractor.invoke(CHUNK).ok
    assert calls == [True, False, False, False], "one rejected structured call, then JSON only"
    assert extractor.structured_rejected is True


def test_structured_call_keeps_the_trace_metadata_of_with_structured_output() -> None:
    extractor = ChunkExtractor(ScriptedChatModel(responses=[Extraction()]), ExtractionSpec())
    kwargs = extractor.structured.kwargs  # type: ignore[union-attr]
    assert kwargs["tools"][0]["function"]["name"] == "Extraction"
    assert kwargs["ls_structured_output_format"]["schema"] == convert_to_json_schema(Extraction)
    assert extractor.parser is not None
