"""The model-facing extraction schema (a public contract: do not rename fields).

A chat model fills one :class:`Extraction` per chunk of text, either through
tool calling (``llm.with_structured_output(Extraction)``; the tool the model sees
is named ``Extraction``) or as JSON in its text reply. Recorded responses and
other tools rely on these exact names and shapes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ExtractedEntity", "ExtractedRelation", "Extraction"]


class ExtractedEntity(BaseModel):
    """One entity mentioned in the text, with the facts the text states about it."""

    name: str = Field(description="The most complete name of the entity used in the text.")
    type: str = Field(description="The entity type, e.g. Person, Organization, Product.")
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names, abbreviations or acronyms the text uses for the entity.",
    )
    properties: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description=(
            "Facts about the entity as property name -> value, each value copied exactly "
            "as written in the text (a list when the text gives several values)."
        ),
    )


class ExtractedRelation(BaseModel):
    """A relation the text states between two entities (referenced by name)."""

    source: str = Field(description="Name of the source entity.")
    relation: str = Field(description="The relation, e.g. works_for, acquired, located_in.")
    target: str = Field(description="Name of the target entity.")


class Extraction(BaseModel):
    """Entities and relations extracted from a text."""

    entities: list[ExtractedEntity] = Field(
        default_factory=list, description="Every relevant entity in the text."
    )
    relations: list[ExtractedRelation] = Field(
        default_factory=list, description="Relations between the extracted entities."
    )
