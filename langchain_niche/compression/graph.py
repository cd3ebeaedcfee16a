"""The merged entity graph: what compression keeps, with the evidence for every fact.

These are plain, JSON-serializable pydantic models (``model_dump(mode="json")``
is what compressed documents carry in ``metadata["entities"]`` and
``metadata["relations"]``). :meth:`EntityGraph.from_documents` rebuilds a graph
from such metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_niche.compression.grounding import normalize_text

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["Entity", "EntityGraph", "Evidence", "PropertyValue", "RecordKind", "Relation"]

RecordKind = Literal["entities", "facts", "relations"]
"""``"entities"``: one row per entity (a column per property); ``"facts"``: one row
per property value with its evidence; ``"relations"``: one row per relation."""


class Evidence(BaseModel):
    """Where something was read: a document of the batch, a chunk, a character span."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document: int
    """Position of the source document in the batch."""
    chunk: int
    """Chunk number within that document."""
    start: int | None = None
    """Offset of the matched text in the document (``None`` when not located)."""
    end: int | None = None
    """Offset after the matched text."""
    source: str | None = None
    """The document's ``id`` or ``metadata["source"]``, when it has one."""


class PropertyValue(BaseModel):
    """One value of a property, with every place it was read."""

    model_config = ConfigDict(extra="forbid")

    value: str
    """The value (the exact source characters when grounded)."""
    grounded: bool | None = None
    """``True``: found in the source; ``False``: not found (kept by ``grounding="flag"``);
    ``None``: not checked (``grounding="off"``)."""
    evidence: list[Evidence] = Field(default_factory=list)
    """Every chunk that stated this value."""


def _value_here(item: PropertyValue, evidence: list[Evidence]) -> PropertyValue:
    """A value limited to one document's evidence: verified only if found in that document."""
    grounded = item.grounded
    if grounded is True:  # another document's text does not verify it here
        grounded = any(ev.start is not None for ev in evidence)
    return item.model_copy(update={"evidence": evidence, "grounded": grounded})


class Entity(BaseModel):
    """A merged entity: every name it goes by and every value stated about it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable id within the graph, ``"<type>:<name>"`` in slug form."""
    name: str
    """Canonical name (the most complete name the sources use)."""
    type: str
    """Entity type."""
    aliases: list[str] = Field(default_factory=list)
    """Every other name, abbreviation and acronym seen (first-seen order)."""
    properties: dict[str, list[PropertyValue]] = Field(default_factory=dict)
    """Property name -> values. Several values are all kept (conflicts or lists)."""
    evidence: list[Evidence] = Field(default_factory=list)
    """Every chunk that mentioned the entity."""

    def values(self, key: str) -> list[str]:
        """Return the values of one property (empty when absent).

        Args:
            key: The property name.

        Returns:
            The values, in first-seen order.
        """
        return [item.value for item in self.properties.get(key, [])]

    @property
    def names(self) -> list[str]:
        """The canonical name followed by the aliases."""
        return [self.name, *self.aliases]

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """Properties with more than one distinct value."""
        return {
            key: [item.value for item in items]
            for key, items in self.properties.items()
            if len(items) > 1
        }

    def text(self) -> str:
        """A plain-text description (names, type, properties), used for relevance scoring.

        Returns:
            The text.
        """
        parts = [self.name, self.type, *self.aliases]
        for key, items in self.properties.items():
            parts.append(key.replace("_", " "))
            parts.extend(item.value for item in items)
        return "\n".join(parts)


class Relation(BaseModel):
    """A relation between two entities of the graph (by id)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    """Id of the source entity."""
    relation: str
    """Relation name (snake_case)."""
    target: str
    """Id of the target entity."""
    evidence: list[Evidence] = Field(default_factory=list)
    """Every chunk that stated the relation."""


class EntityGraph(BaseModel):
    """Entities merged across chunks and documents, and the relations between them.

    Example:
        ```python
        graph = compressor.extract_graph(documents)
        graph.get("IBM").values("headquarters")  # ['Armonk, New York']
        graph.to_records()  # one dict per entity
        graph.to_dataframe("facts")  # needs pandas
        ```
    """

    model_config = ConfigDict(extra="forbid")

    entities: list[Entity] = Field(default_factory=list)
    """The entities, in order of first mention."""
    relations: list[Relation] = Field(default_factory=list)
    """The relations, in order of first mention."""

    def __len__(self) -> int:
        return len(self.entities)

    def by_id(self) -> dict[str, Entity]:
        """Return the entities keyed by id.

        Returns:
            A new dict.
        """
        return {entity.id: entity for entity in self.entities}

    def get(self, name: str) -> Entity | None:
        """Find an entity by id, canonical name or alias (case-insensitive).

        Args:
            name: An id, a name or an alias.

        Returns:
            The first matching entity, or ``None``.
        """
        wanted = normalize_text(name)
        for entity in self.entities:
            if entity.id == name or any(normalize_text(n) == wanted for n in entity.names):
                return entity
        return None

    def neighbours(self, entity_id: str) -> set[str]:
        """Ids of the entities directly related to ``entity_id`` (either direction).

        Args:
            entity_id: An entity id.

        Returns:
            The neighbours' ids.
        """
        out: set[str] = set()
        for relation in self.relations:
            if relation.source == entity_id:
                out.add(relation.target)
            elif relation.target == entity_id:
                out.add(relation.source)
        return out

    def subgraph(self, ids: Iterable[str]) -> EntityGraph:
        """Keep only the given entities and the relations among them.

        Args:
            ids: Entity ids to keep.

        Returns:
            A new graph (entities in their original order).
        """
        keep = set(ids)
        return EntityGraph(
            entities=[entity for entity in self.entities if entity.id in keep],
            relations=[r for r in self.relations if r.source in keep and r.target in keep],
        )

    def for_document(self, document: int) -> EntityGraph:
        """What one document of the batch says: its entities, values and relations.

        An entity the document only names as the end of a relation is included
        without properties (the relation is a fact of this document).

        Args:
            document: Position of the document in the batch.

        Returns:
            A new graph limited to evidence from that document.
        """

        def here(evidence: list[Evidence]) -> list[Evidence]:
            return [ev for ev in evidence if ev.document == document]

        relations = [
            relation.model_copy(update={"evidence": here(relation.evidence)})
            for relation in self.relations
            if here(relation.evidence)
        ]
        endpoints = {r.source for r in relations} | {r.target for r in relations}
        entities = []
        for entity in self.entities:
            evidence = here(entity.evidence)
            if not evidence and entity.id not in endpoints:
                continue
            properties: dict[str, list[PropertyValue]] = {}
            for key, items in entity.properties.items():
                kept = [_value_here(item, here(item.evidence)) for item in items]
                kept = [item for item in kept if item.evidence]
                if kept:
                    properties[key] = kept
            entities.append(
                entity.model_copy(update={"properties": properties, "evidence": evidence})
            )
        return EntityGraph(entities=entities, relations=relations)

    def to_records(self, kind: RecordKind = "entities") -> list[dict[str, Any]]:
        """The graph as a list of flat dicts, for decisions without a model.

        Args:
            kind: ``"entities"`` (one row per entity, a column per property),
                ``"facts"`` (one row per value, with evidence) or ``"relations"``.

        Returns:
            The records.
        """
        from langchain_niche.compression.records import graph_records  # noqa: PLC0415

        return graph_records(self, kind)

    def to_dataframe(self, kind: RecordKind = "entities") -> Any:
        """The records of :meth:`to_records` as a ``pandas.DataFrame``.

        Args:
            kind: See :meth:`to_records`.

        Returns:
            The DataFrame.

        Raises:
            ImportError: pandas is not installed (``pip install "langchain-niche[pandas]"``).
        """
        from langchain_niche.compression.records import records_dataframe  # noqa: PLC0415

        return records_dataframe(self.to_records(kind), kind)

    @classmethod
    def from_documents(cls, documents: Sequence[Document]) -> EntityGraph:
        """Rebuild one graph from the metadata of compressed documents.

        Entities with the same id in several documents are combined (aliases,
        values and evidence united); documents without entities are skipped.

        Args:
            documents: Documents produced by :class:`~langchain_niche.EntityCompressor`.

        Returns:
            The graph.
        """
        from langchain_niche.compression.merge import combine_graphs  # noqa: PLC0415

        graphs = [
            cls(
                entities=list(doc.metadata.get("entities") or []),
                relations=list(doc.metadata.get("relations") or []),
            )
            for doc in documents
            if doc.metadata.get("entities")
        ]
        return combine_graphs(graphs)
