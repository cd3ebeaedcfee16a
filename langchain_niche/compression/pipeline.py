"""One compression run over a batch of documents, apart from any LangChain interface.

:class:`CompressionJob` does the steps that do not call a model: check and
chunk the documents, ground and merge what the model extracted, and build the
output documents. The compressor runs the model calls in between (sync or
async), so both paths share every other line.

Failures are contained: a chunk whose extraction failed leaves its text
verbatim in the output (``metadata["compression"] == "partial"``); a document
whose every chunk failed, or that yields no entity, passes through unchanged
(``"failed"`` / ``"empty"``); a document that breaks while being assembled
passes through as ``"failed"`` while the others are compressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.documents import Document

from langchain_niche.compression.chunking import Chunk, plan_chunks
from langchain_niche.compression.errors import CompressionError, InvalidDocumentError
from langchain_niche.compression.extract import ChunkResult
from langchain_niche.compression.graph import EntityGraph
from langchain_niche.compression.grounding import GroundingMode
from langchain_niche.compression.mentions import (
    EntityMention,
    GroundingStats,
    RelationMention,
    Vocabulary,
    chunk_mentions,
)
from langchain_niche.compression.merge import merge_mentions
from langchain_niche.compression.relevance import RelevanceResult
from langchain_niche.compression.render import OutputFormat, render_graph
from langchain_niche.errors import preview
from langchain_niche.tokens import TokenCounter

__all__ = ["CompressionJob", "CompressionResult", "ErrorPolicy", "JobSettings", "Status"]

Status = Literal["compressed", "partial", "empty", "failed"]
"""``metadata["compression"]`` of an output document."""

ErrorPolicy = Literal["pass_through", "raise"]
"""What a failure does: pass the original document through, or raise :class:`CompressionError`."""

_UNCOMPRESSED_HEADER = "[text not compressed: extraction failed for this part]"


@dataclass(frozen=True)
class JobSettings:
    """The compressor's settings that the job needs."""

    chunk_tokens: int
    chunk_overlap: int
    token_counter: TokenCounter
    grounding: GroundingMode
    vocabulary: Vocabulary
    output_format: OutputFormat
    fuzzy_threshold: float
    partial_name_types: Sequence[str] | None
    combine_documents: bool
    on_error: ErrorPolicy


@dataclass
class CompressionResult:
    """Everything one compression run produced."""

    documents: list[Document]
    """The output documents (what ``transform_documents`` returns)."""
    graph: EntityGraph
    """The entity graph merged over the whole batch, before task conditioning."""
    relevance: RelevanceResult | None = None
    """Which entities the query kept (``None`` without a query)."""

    @property
    def selected(self) -> EntityGraph:
        """The graph limited to the entities the query kept (the whole graph without one)."""
        if self.relevance is None:
            return self.graph
        return self.graph.subgraph(self.relevance.ids)


@dataclass
class _DocState:
    index: int
    document: Document
    source: str | None
    origin_tokens: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    results: list[ChunkResult] = field(default_factory=list)
    stats: GroundingStats = field(default_factory=GroundingStats)
    error: str | None = None

    @property
    def failed_chunks(self) -> list[ChunkResult]:
        return [result for result in self.results if not result.ok]

    def where(self) -> str:
        return f"document {self.index}" + (f" ({self.source})" if self.source else "")


def _source_of(document: Document) -> str | None:
    if document.id:
        return str(document.id)
    source = document.metadata.get("source")
    return None if source is None else str(source)


def check_documents(documents: Any) -> list[Document]:
    """Check that the input is a sequence of ``Document`` objects.

    Args:
        documents: The input.

    Returns:
        The documents as a list.

    Raises:
        InvalidDocumentError: Not a sequence, or an item is not a ``Document``.
    """
    if isinstance(documents, Document):
        return [documents]
    if isinstance(documents, str | bytes) or not isinstance(documents, Sequence):
        msg = (
            "documents must be a list of langchain_core.documents.Document, got "
            f"{type(documents).__name__} {preview(documents)}"
        )
        raise InvalidDocumentError(msg, index=0)
    out = list(documents)
    for index, document in enumerate(out):
        if not isinstance(document, Document) or not isinstance(document.page_content, str):
            msg = (
                f"document {index} must be a langchain_core.documents.Document, got "
                f"{type(document).__name__} {preview(document)}"
            )
            raise InvalidDocumentError(msg, index=index)
    return out


class CompressionJob:
    """Chunks a batch, then turns extraction results into compressed documents."""

    def __init__(self, documents: Sequence[Document], settings: JobSettings) -> None:
        self.settings = settings
        self.states: list[_DocState] = []
        for index, document in enumerate(check_documents(documents)):
            state = _DocState(index=index, document=document, source=_source_of(document))
            self.states.append(state)
            try:
                self._chunk(state)
            except Exception as exc:
                self._fail(state, f"chunking failed: {type(exc).__name__}: {exc}", exc)

    def _fail(self, state: _DocState, message: str, exc: BaseException | None = None) -> None:
        if self.settings.on_error == "raise":
            msg = f"{state.where()}: {message}"
            raise CompressionError(msg, document=state.index, source=state.source) from exc
        state.error = message

    def _chunk(self, state: _DocState) -> None:
        text = state.document.page_content
        count = self.settings.token_counter
        if not text.strip():
            state.origin_tokens = int(count(text))
            return
        plan = plan_chunks(
            text,
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
            token_counter=count,
        )
        state.origin_tokens = int(plan.tokens)
        state.chunks = [
            Chunk(document=state.index, index=i, start=start, end=end, text=text[start:end])
            for i, (start, end) in enumerate(plan.spans)
        ]

    @property
    def chunks(self) -> list[Chunk]:
        """Every chunk to extract, document by document."""
        return [chunk for state in self.states if state.error is None for chunk in state.chunks]

    # -- after extraction ---------------------------------------------------------------
    def build_graph(self, results: Sequence[ChunkResult]) -> EntityGraph:
        """Ground every extraction against its chunk and merge everything into one graph.

        Args:
            results: One result per chunk of :attr:`chunks` (any order).

        Returns:
            The merged graph.
        """
        for result in results:
            self.states[result.chunk.document].results.append(result)
        entities: list[EntityMention] = []
        relations: list[RelationMention] = []
        for state in self.states:
            state.results.sort(key=lambda r: r.chunk.index)
            failed = state.failed_chunks
            if failed and self.settings.on_error == "raise":
                first = failed[0]
                msg = f"{state.where()}, chunk {first.chunk.index}: " + "; ".join(first.errors)
                raise CompressionError(
                    msg, document=state.index, source=state.source, chunk=first.chunk.index
                )
            try:
                found = self._mentions(state)
            except Exception as exc:
                self._fail(state, f"grounding failed: {type(exc).__name__}: {exc}", exc)
                continue
            entities.extend(found[0])
            relations.extend(found[1])
        try:
            graph, _unresolved = merge_mentions(
                entities,
                relations,
                fuzzy_threshold=self.settings.fuzzy_threshold,
                partial_name_types=self.settings.partial_name_types,
            )
        except Exception as exc:
            message = f"merging entities failed: {type(exc).__name__}: {exc}"
            if self.settings.on_error == "raise":
                msg = f"documents 0-{len(self.states) - 1}: {message}"
                raise CompressionError(msg, document=None) from exc
            for state in self.states:
                state.error = state.error or message
            return EntityGraph()
        return graph

    def _mentions(self, state: _DocState) -> tuple[list[EntityMention], list[RelationMention]]:
        entities: list[EntityMention] = []
        relations: list[RelationMention] = []
        for result in state.results:
            if result.extraction is None:
                continue
            found = chunk_mentions(
                result.extraction,
                result.chunk,
                grounding=self.settings.grounding,
                vocabulary=self.settings.vocabulary,
                source=state.source,
            )
            state.stats.add(found.stats)
            entities.extend(found.entities)
            relations.extend(found.relations)
        return entities, relations

    def finish(self, graph: EntityGraph, relevance: RelevanceResult | None) -> list[Document]:
        """Build the output documents.

        Args:
            graph: The merged graph (from :meth:`build_graph`).
            relevance: The entities a query kept, or ``None``.

        Returns:
            The documents, in input order (combined mode: the combined document first,
            then the documents that passed through).
        """
        selected = graph if relevance is None else graph.subgraph(relevance.ids)
        if self.settings.combine_documents:
            return self._finish_combined(selected, relevance)
        return [self._finish_safely(state, graph, selected, relevance) for state in self.states]

    # -- output documents ---------------------------------------------------------------
    def _status(self, state: _DocState, graph: EntityGraph) -> Status:
        if state.error is not None:
            return "failed"
        if not state.chunks:
            return "empty"
        if len(state.failed_chunks) == len(state.results):
            return "failed"
        if not graph.entities:
            return "failed" if state.failed_chunks else "empty"
        return "partial" if state.failed_chunks else "compressed"

    def _errors(self, state: _DocState) -> list[str]:
        errors = [f"chunk {r.chunk.index}: " + "; ".join(r.errors) for r in state.failed_chunks]
        if state.error is not None:
            errors.insert(0, state.error)
        return errors

    def _base_metadata(self, state: _DocState, status: Status) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            **state.document.metadata,
            "compression": status,
            "chunks": len(state.chunks),
            "grounding": {"mode": self.settings.grounding, **state.stats.as_dict()},
        }
        errors = self._errors(state)
        if errors:
            metadata["compression_errors"] = errors
        return metadata

    def _pass_through(self, state: _DocState, status: Status) -> Document:
        metadata = self._base_metadata(state, status)
        metadata.update(
            entities=[],
            relations=[],
            origin_tokens=state.origin_tokens,
            compressed_tokens=state.origin_tokens,
            compression_ratio=1.0,
        )
        return Document(
            page_content=state.document.page_content, metadata=metadata, id=state.document.id
        )

    def _uncompressed_text(self, state: _DocState) -> str:
        """The text of failed chunks (overlaps merged), so nothing is lost."""
        spans: list[list[int]] = []
        for result in state.failed_chunks:
            start, end = result.chunk.start, result.chunk.end
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        text = state.document.page_content
        return "\n\n".join(f"{_UNCOMPRESSED_HEADER}\n{text[s:e].strip()}" for s, e in spans)

    def _content(self, states: Sequence[_DocState], graph: EntityGraph) -> str:
        parts = [render_graph(graph, self.settings.output_format)]
        parts.extend(self._uncompressed_text(s) for s in states if s.failed_chunks)
        return "\n\n".join(part for part in parts if part)

    def _finish_safely(
        self,
        state: _DocState,
        graph: EntityGraph,
        selected: EntityGraph,
        relevance: RelevanceResult | None,
    ) -> Document:
        try:
            full = graph.for_document(state.index)
            own = full if relevance is None else selected.for_document(state.index)
            matched = relevance is not None and relevance.matched and bool(own.entities)
            # Nothing in this document is relevant: keep all of it rather than drop it.
            return self._finish_one(state, own if own.entities else full, relevance, matched)
        except CompressionError:
            raise
        except Exception as exc:
            self._fail(state, f"rendering failed: {type(exc).__name__}: {exc}", exc)
            return self._pass_through(state, "failed")

    def _finish_one(
        self,
        state: _DocState,
        graph: EntityGraph,
        relevance: RelevanceResult | None,
        matched: bool,
    ) -> Document:
        status = self._status(state, graph)
        if status in ("empty", "failed"):
            return self._pass_through(state, status)
        content = self._content([state], graph)
        metadata = self._base_metadata(state, status)
        self._add_graph_metadata(
            metadata,
            graph,
            relevance=relevance,
            matched=matched,
            origin=state.origin_tokens,
            content=content,
        )
        return Document(page_content=content, metadata=metadata, id=state.document.id)

    def _add_graph_metadata(
        self,
        metadata: dict[str, Any],
        graph: EntityGraph,
        *,
        relevance: RelevanceResult | None,
        matched: bool,
        origin: int,
        content: str,
    ) -> None:
        compressed = int(self.settings.token_counter(content))
        metadata.update(
            entities=[entity.model_dump(mode="json") for entity in graph.entities],
            relations=[relation.model_dump(mode="json") for relation in graph.relations],
            origin_tokens=origin,
            compressed_tokens=compressed,
            compression_ratio=round(origin / max(compressed, 1), 2),
        )
        if relevance is not None:
            metadata["query_matched"] = matched
            metadata["relevance"] = relevance.method

    def _finish_combined(
        self, graph: EntityGraph, relevance: RelevanceResult | None
    ) -> list[Document]:
        used = [
            s
            for s in self.states
            if self._status(s, graph.for_document(s.index)) in ("compressed", "partial")
        ]
        passed = [
            self._pass_through(s, self._status(s, graph.for_document(s.index)))
            for s in self.states
            if s not in used
        ]
        if not used:
            return passed
        keep = {s.index for s in used}
        ids = {e.id for e in graph.entities if any(ev.document in keep for ev in e.evidence)}
        combined_graph = graph.subgraph(ids)
        content = self._content(used, combined_graph)
        partial = any(s.failed_chunks for s in used)
        metadata: dict[str, Any] = {
            "compression": "partial" if partial else "compressed",
            "sources": [
                {"document": s.index, "id": s.document.id, **s.document.metadata} for s in used
            ],
            "chunks": sum(len(s.chunks) for s in used),
        }
        errors = [f"{s.where()}: {error}" for s in used for error in self._errors(s)]
        if errors:
            metadata["compression_errors"] = errors
        matched = relevance is not None and relevance.matched
        origin = sum(s.origin_tokens for s in used)
        self._add_graph_metadata(
            metadata,
            combined_graph,
            relevance=relevance,
            matched=matched,
            origin=origin,
            content=content,
        )
        return [Document(page_content=content, metadata=metadata), *passed]
