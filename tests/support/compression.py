"""Scripted extraction for the compression tests: rules from chunk text to an Extraction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_niche.compression import ExtractedEntity, ExtractedRelation, Extraction
from langchain_niche.testing import ScriptedCall, ScriptedChatModel

Rule = tuple[str, ExtractedEntity | ExtractedRelation]
"""(trigger text, item): the item is extracted from every chunk containing the trigger."""

ACME = "Acme Robotics Inc. (ACME) was founded in 1998 in Oslo. Its revenue was $12.5 million."
OKAFOR = "Dr. Mira Okafor, employee EMP-48213, is the CTO of Acme Robotics. She was born on 12 March 1971."
FILLER = "The committee discussed the weather and the schedule without reaching any conclusion. "

RULES: list[Rule] = [
    (
        "Acme Robotics Inc.",
        ExtractedEntity(
            name="Acme Robotics Inc.",
            type="Company",
            aliases=["ACME"],
            properties={"founded": "1998", "headquarters": "Oslo", "revenue": "$12.5 million"},
        ),
    ),
    (
        "Mira Okafor",
        ExtractedEntity(
            name="Mira Okafor",
            type="Person",
            properties={"employee_id": "EMP-48213", "role": "CTO", "born": "12 March 1971"},
        ),
    ),
    (
        "Mira Okafor",
        ExtractedRelation(source="Mira Okafor", relation="works for", target="Acme Robotics"),
    ),
]


def chunk_of(messages: Sequence[BaseMessage]) -> str:
    text = str(messages[-1].content)
    return text.split("<document>\n", 1)[-1].rsplit("\n</document>", 1)[0]


def rule_extraction(chunk: str, rules: Sequence[Rule] = RULES) -> Extraction:
    entities = [
        item for trigger, item in rules if trigger in chunk and isinstance(item, ExtractedEntity)
    ]
    relations = [
        item for trigger, item in rules if trigger in chunk and isinstance(item, ExtractedRelation)
    ]
    return Extraction(entities=entities, relations=relations)


def rule_model(
    rules: Sequence[Rule] = RULES,
    *,
    latency: float = 0.0,
    transform: Callable[[str, ScriptedCall, Extraction], Any] | None = None,
) -> ScriptedChatModel:
    """A scripted model extracting by rules; JSON text when no tool is bound."""

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> Any:
        chunk = chunk_of(messages)
        extraction = rule_extraction(chunk, rules)
        if transform is not None:
            return transform(chunk, call, extraction)
        if call.tools:
            return extraction
        return json.dumps(extraction.model_dump())

    return ScriptedChatModel(responder=respond, latency=latency)


def long_text(*facts: str, filler: int = 30) -> str:
    """Facts separated by filler prose (so they land in different chunks)."""
    parts = []
    for fact in facts:
        parts.append(FILLER * filler)
        parts.append(fact + " ")
    parts.append(FILLER * filler)
    return "".join(parts)
