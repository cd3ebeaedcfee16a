"""Exceptions of the entity-compression package (all derive from ``NicheError``)."""

from __future__ import annotations

from langchain_niche.errors import NicheError

__all__ = ["CompressionError", "ExtractionParseError", "InvalidDocumentError"]


class ExtractionParseError(NicheError, ValueError):
    """A model reply could not be turned into an :class:`~langchain_niche.compression.Extraction`."""


class InvalidDocumentError(NicheError, TypeError):
    """An input is not a LangChain ``Document`` (or its ``page_content`` is not text).

    Attributes:
        index: Position of the offending input in the batch.
    """

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class CompressionError(NicheError, RuntimeError):
    """Compressing a document failed (raised only with ``on_error="raise"``).

    Attributes:
        document: Position of the failed document in the batch (``None`` when
            a step over the whole batch failed).
        source: The document's ``id`` or ``metadata["source"]``, when it has one.
        chunk: The failed chunk's number, when one chunk is at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        document: int | None,
        source: str | None = None,
        chunk: int | None = None,
    ) -> None:
        super().__init__(message)
        self.document = document
        self.source = source
        self.chunk = chunk
