"""Entity compression: replace long documents by the entities a task needs.

The model-facing schema (:class:`Extraction`, :class:`ExtractedEntity`,
:class:`ExtractedRelation`) is a fixed public contract; :class:`EntityCompressor`
is the LangChain component; :class:`EntityGraph` is the merged, structured
result (records and DataFrames for decisions without a model).
"""

from langchain_niche.compression.compressor import EntityCompressor
from langchain_niche.compression.errors import (
    CompressionError,
    ExtractionParseError,
    InvalidDocumentError,
)
from langchain_niche.compression.graph import (
    Entity,
    EntityGraph,
    Evidence,
    PropertyValue,
    Relation,
)
from langchain_niche.compression.jsonrepair import parse_json_loosely
from langchain_niche.compression.pipeline import CompressionResult
from langchain_niche.compression.render import render_graph
from langchain_niche.compression.schema import ExtractedEntity, ExtractedRelation, Extraction

__all__ = [
    "CompressionError",
    "CompressionResult",
    "Entity",
    "EntityCompressor",
    "EntityGraph",
    "Evidence",
    "ExtractedEntity",
    "ExtractedRelation",
    "Extraction",
    "ExtractionParseError",
    "InvalidDocumentError",
    "PropertyValue",
    "Relation",
    "parse_json_loosely",
    "render_graph",
]
