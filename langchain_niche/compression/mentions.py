"""From one chunk's extraction to grounded mentions, ready to be merged.

This is where the configured vocabulary is enforced (entity types, properties
and relations outside the declared ones are left out, declared spellings are
restored) and where every value is checked against the chunk it was read
from (see :mod:`~langchain_niche.compression.grounding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

from langchain_niche.compression.chunking import Chunk
from langchain_niche.compression.graph import Evidence
from langchain_niche.compression.grounding import GroundingMode, SourceText
from langchain_niche.compression.keys import name_key, property_key, type_key
from langchain_niche.compression.schema import ExtractedEntity, ExtractedRelation, Extraction

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
        for count in fields(self):
            setattr(self, count.name, getattr(self, count.name) + getattr(other, count.name))

    def as_dict(self) -> dict[str, int]:
        """The counts as a dict (for document metadata)."""
        return asdict(self)


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


@dataclass
class _Grounder:
    """Checks one chunk's extraction (see :func:`chunk_mentions`)."""

    chunk: Chunk
    grounding: GroundingMode
    vocabulary: Vocabulary
    source: str | None
    text: SourceText | None
    stats: GroundingStats = field(default_factory=GroundingStats)

    def evidence(self, span: tuple[int, int] | None) -> Evidence:
        chunk = self.chunk
        if span is None:
            return Evidence(document=chunk.document, chunk=chunk.index, source=self.source)
        return Evidence(
            document=chunk.document,
            chunk=chunk.index,
            start=chunk.start + span[0],
            end=chunk.start + span[1],
            source=self.source,
        )

    def find(self, value: str) -> tuple[int, int] | None:
        return None if self.text is None else self.text.find(value)

    def value(self, raw: str) -> ValueMention | None:
        """The value as a mention (verbatim when grounded), or ``None`` when it is dropped."""
        value = raw.strip()
        if not value:
            return None
        if self.text is None:
            return ValueMention(value=value, grounded=None, evidence=self.evidence(None))
        span = self.text.find(value)
        if span is not None:
            verbatim = self.chunk.text[span[0] : span[1]]
            return ValueMention(value=verbatim, grounded=True, evidence=self.evidence(span))
        self.stats.ungrounded += 1
        if self.grounding == "drop":
            return None
        return ValueMention(value=value, grounded=False, evidence=self.evidence(None))

    def properties(self, item: ExtractedEntity) -> dict[str, list[ValueMention]]:
        out: dict[str, list[ValueMention]] = {}
        for raw_key, raw_value in item.properties.items():
            key = self.vocabulary.property(raw_key)
            if key is None:
                self.stats.off_vocabulary += 1
                continue
            for value in [raw_value] if isinstance(raw_value, str) else raw_value:
                self.stats.values += 1
                mention = self.value(value)
                if mention is not None:
                    out.setdefault(key, []).append(mention)
        return out

    def entity(self, item: ExtractedEntity) -> EntityMention | None:
        entity_type = self.vocabulary.entity_type(item.type)
        if entity_type is None:
            self.stats.off_vocabulary += 1
            return None
        name_span = self.find(item.name)
        aliases = []
        for alias in item.aliases:
            span = self.find(alias)
            if span is None and self.text is not None and self.grounding == "drop":
                continue
            name_span = name_span or span
            aliases.append(alias.strip())
        properties = self.properties(item)
        grounded = name_span is not None or any(
            v.grounded for values in properties.values() for v in values
        )
        if self.text is not None and not grounded:
            self.stats.hallucinated_entities += 1
            if self.grounding == "drop":
                return None
        return EntityMention(
            name=item.name.strip(),
            type=entity_type,
            aliases=aliases,
            properties=properties,
            evidence=self.evidence(name_span),
        )

    def named_here(self, endpoint: str, known: set[str]) -> bool:
        """Whether a relation's endpoint is an entity of this chunk or written in it."""
        return name_key(endpoint) in known or self.find(endpoint) is not None

    def relation(self, item: ExtractedRelation, known: set[str]) -> RelationMention | None:
        name = self.vocabulary.relation(item.relation)
        if name is None:
            self.stats.off_vocabulary += 1
            return None
        if self.text is not None and not (
            self.named_here(item.source, known) and self.named_here(item.target, known)
        ):
            # An endpoint this chunk never names would pull another document's
            # entity into this one: not a fact of this chunk.
            return None
        return RelationMention(
            source=item.source, relation=name, target=item.target, evidence=self.evidence(None)
        )


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
        source_text: The chunk indexed for search (built when needed and omitted).

    Returns:
        The mentions and the counts of what was left out or flagged.
    """
    if not extraction.entities and not extraction.relations:
        return ChunkMentions()
    if grounding != "off" and source_text is None:
        source_text = SourceText(chunk.text)
    grounder = _Grounder(chunk, grounding, vocabulary, source, source_text)
    entities = [m for m in map(grounder.entity, extraction.entities) if m is not None]
    known = {name_key(name) for m in entities for name in (m.name, *m.aliases)}
    relations = [
        m for m in (grounder.relation(r, known) for r in extraction.relations) if m is not None
    ]
    return ChunkMentions(entities=entities, relations=relations, stats=grounder.stats)
