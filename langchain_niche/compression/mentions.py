"""From one chunk's extraction to grounded mentions, ready to be merged.

This is where the configured vocabulary is enforced (entity types, properties
and relations outside the declared ones are left out, declared spellings are
restored) and where every value is checked against the chunk it was read
from (see :mod:`~langchain_niche.compression.grounding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from langchain_niche.compression.chunking import Chunk
from langchain_niche.compression.graph import Evidence
from langchain_niche.compression.grounding import GroundingMode, SourceText
from langchain_niche.compression.keys import property_key, type_key
from langchain_niche.compression.schema import Extraction

__all__ = [
    "ChunkMentions",
    "EntityMention",
    "GroundingStats",
    "RelationMention",
    "ValueMention",
    "Vocabulary",
    "chunk_mentions",
]


@dataclass
class ValueMention:
    """One property value read in one chunk."""

    value: str
    grounded: bool | None
    evidence: Evidence


@dataclass
class EntityMention:
    """One entity as extracted from one chunk (after grounding)."""

    name: str
    type: str
    evidence: Evidence
    aliases: list[str] = field(default_factory=list)
    properties: dict[str, list[ValueMention]] = field(default_factory=dict)


@dataclass
class RelationMention:
    """One relation as extracted from one chunk (endpoints are names)."""

    source: str
    relation: str
    target: str
    evidence: Evidence


@dataclass
class GroundingStats:
    """Counts of what grounding and the vocabulary filters did."""

    values: int = 0
    """Property values checked."""
    ungrounded: int = 0
    """Values not found in their chunk (dropped or flagged)."""
    hallucinated_entities: int = 0
    """Entities with nothing found in their chunk (dropped with ``grounding="drop"``)."""
    off_vocabulary: int = 0
    """Entities, properties or relations outside the declared vocabulary (left out)."""

    def add(self, other: GroundingStats) -> None:
        """Add another chunk's counts to these."""
        self.values += other.values
        self.ungrounded += other.ungrounded
        self.hallucinated_entities += other.hallucinated_entities
        self.off_vocabulary += other.off_vocabulary

    def as_dict(self) -> dict[str, int]:
        """The counts as a dict (for document metadata)."""
        return {
            "values": self.values,
            "ungrounded": self.ungrounded,
            "hallucinated_entities": self.hallucinated_entities,
            "off_vocabulary": self.off_vocabulary,
        }


@dataclass
class ChunkMentions:
    """The grounded mentions of one chunk."""

    entities: list[EntityMention] = field(default_factory=list)
    relations: list[RelationMention] = field(default_factory=list)
    stats: GroundingStats = field(default_factory=GroundingStats)


class Vocabulary:
    """Declared entity types, properties and relations (``None``: anything goes).

    Names are compared by a normalizing key function (case, spaces, punctuation)
    and mapped back to the declared spelling.
    """

    def __init__(
        self,
        entity_types: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        relation_types: Mapping[str, str] | None = None,
    ) -> None:
        self.types = None if entity_types is None else {type_key(t): t for t in entity_types}
        self.properties = None if properties is None else {property_key(p): p for p in properties}
        self.relations = (
            None if relation_types is None else {property_key(r): r for r in relation_types}
        )

    def entity_type(self, value: str) -> str | None:
        """The declared spelling of a type, or ``None`` when it is not declared."""
        if self.types is None:
            return value.strip()
        return self.types.get(type_key(value))

    def property(self, value: str) -> str | None:
        """The declared spelling of a property (snake_case when none are declared)."""
        key = property_key(value)
        if self.properties is None:
            return key or None
        return self.properties.get(key)

    def relation(self, value: str) -> str | None:
        """The declared spelling of a relation (snake_case when none are declared)."""
        key = property_key(value)
        if self.relations is None:
            return key or None
        return self.relations.get(key)


def chunk_mentions(
    extraction: Extraction,
    chunk: Chunk,
    *,
    grounding: GroundingMode,
    vocabulary: Vocabulary,
    source: str | None = None,
    source_text: SourceText | None = None,
) -> ChunkMentions:
    """Check one chunk's extraction against its text and the vocabulary.

    Args:
        extraction: What the model extracted from the chunk.
        chunk: The chunk.
        grounding: ``"drop"``, ``"flag"`` or ``"off"``.
        vocabulary: Declared types, properties and relations.
        source: The document's id or source, recorded in the evidence.
        source_text: The chunk indexed for search (built when omitted).

    Returns:
        The mentions and the counts of what was left out or flagged.
    """
    out = ChunkMentions()
    stats = out.stats
    text = source_text if source_text is not None or grounding == "off" else SourceText(chunk.text)

    def evidence(span: tuple[int, int] | None) -> Evidence:
        if span is None:
            return Evidence(document=chunk.document, chunk=chunk.index, source=source)
        return Evidence(
            document=chunk.document,
            chunk=chunk.index,
            start=chunk.start + span[0],
            end=chunk.start + span[1],
            source=source,
        )

    def check(value: str) -> tuple[str, bool | None, tuple[int, int] | None] | None:
        """(value, grounded, span), or None when the value is dropped."""
        value = value.strip()
        if not value:
            return None
        if text is None:
            return value, None, None
        span = text.find(value)
        if span is not None:
            return chunk.text[span[0] : span[1]], True, span
        stats.ungrounded += 1
        if grounding == "drop":
            return None
        return value, False, None

    for item in extraction.entities:
        entity_type = vocabulary.entity_type(item.type)
        if entity_type is None:
            stats.off_vocabulary += 1
            continue
        name_span = None if text is None else text.find(item.name)
        aliases = []
        for alias in item.aliases:
            span = None if text is None else text.find(alias)
            if span is None and grounding == "drop":
                continue
            name_span = name_span or span
            aliases.append(alias.strip())
        properties: dict[str, list[ValueMention]] = {}
        any_grounded = False
        for raw_key, raw_value in item.properties.items():
            key = vocabulary.property(raw_key)
            if key is None:
                stats.off_vocabulary += 1
                continue
            for value in [raw_value] if isinstance(raw_value, str) else raw_value:
                stats.values += 1
                checked = check(value)
                if checked is None:
                    continue
                verbatim, grounded, span = checked
                any_grounded = any_grounded or bool(grounded)
                properties.setdefault(key, []).append(
                    ValueMention(value=verbatim, grounded=grounded, evidence=evidence(span))
                )
        if text is not None and name_span is None and not any_grounded:
            stats.hallucinated_entities += 1
            if grounding == "drop":
                continue
        out.entities.append(
            EntityMention(
                name=item.name.strip(),
                type=entity_type,
                aliases=aliases,
                properties=properties,
                evidence=evidence(name_span),
            )
        )
    for relation in extraction.relations:
        name = vocabulary.relation(relation.relation)
        if name is None:
            stats.off_vocabulary += 1
            continue
        out.relations.append(
            RelationMention(
                source=relation.source,
                relation=name,
                target=relation.target,
                evidence=evidence(None),
            )
        )
    return out
