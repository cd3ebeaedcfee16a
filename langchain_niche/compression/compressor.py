"""``EntityCompressor``: replace long documents by the entities a task needs.

One class, three LangChain roles:

* a ``BaseDocumentTransformer`` (``transform_documents`` / ``atransform_documents``),
* a ``BaseDocumentCompressor`` (``compress_documents(documents, query)``), so it
  drops into ``ContextualCompressionRetriever`` and ``DocumentCompressorPipeline``,
* a ``Runnable`` (``retriever | compressor | format_docs | prompt | model``), whose
  model calls are child runs of the compressor's run (callbacks, tags, tracing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, BaseDocumentTransformer, Document
from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableSerializable
from langchain_core.runnables.config import ensure_config, patch_config
from pydantic import ConfigDict, Field, InstanceOf

from langchain_niche._validation import TypedValidationErrors
from langchain_niche.compression.chunking import Chunk
from langchain_niche.compression.extract import (
    ChunkExtractor,
    ChunkResult,
    ExtractionMethod,
    ExtractionSpec,
)
from langchain_niche.compression.graph import EntityGraph
from langchain_niche.compression.grounding import GroundingMode
from langchain_niche.compression.mentions import Vocabulary
from langchain_niche.compression.merge import DEFAULT_FUZZY_THRESHOLD, PARTIAL_NAME_TYPES
from langchain_niche.compression.pipeline import (
    CompressionJob,
    CompressionResult,
    ErrorPolicy,
    JobSettings,
)
from langchain_niche.compression.relevance import (
    DEFAULT_RELATIVE,
    RelevanceMethod,
    RelevanceResult,
    RelevantEntities,
    model_relevance_messages,
    model_result,
    read_relevant_ids,
    select_relevant,
)
from langchain_niche.compression.render import OutputFormat
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.tokens import TokenCounter, approximate_token_count

__all__ = ["CompressorInput", "EntityCompressor"]

CompressorInput = Sequence[Document] | Document | Mapping[str, Any]
"""What the runnable form accepts: documents, one document, or
``{"documents": [...], "query": "..."}``."""

Vocab = list[str] | dict[str, str] | None

_CHOICES: dict[str, tuple[str, ...]] = {
    "output_format": ("cards", "json", "triples"),
    "grounding": ("drop", "flag", "off"),
    "extraction_method": ("auto", "structured", "json"),
    "relevance": ("jaccard", "model"),
    "on_error": ("pass_through", "raise"),
}
_MIN_CHUNK_TOKENS = 16


def _reject(name: str, expected: str, value: Any) -> NoReturn:
    msg = f"{name} must be {expected}, got {preview(value)}"
    raise InvalidParameterError(msg, name=name, value=value)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_unit(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


_VOCABULARY = "None, a list of names or a dict of name -> description"


def _check_vocabulary(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        if not all(isinstance(v, str) for v in value.values()):
            _reject(name, _VOCABULARY, value)
    elif not isinstance(value, list | tuple):
        _reject(name, _VOCABULARY, value)
    if not value or not all(isinstance(n, str) and n.strip() for n in value):
        _reject(name, _VOCABULARY, value)


# name -> (check, expected), applied to the arguments that are given.
_SIMPLE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "chunk_tokens": (
        lambda v: _is_int(v, _MIN_CHUNK_TOKENS),
        f"an integer >= {_MIN_CHUNK_TOKENS}",
    ),
    "chunk_overlap": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "max_concurrency": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "max_entities": (lambda v: v is None or _is_int(v, 1), "None or an integer >= 1"),
    "max_retries": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "relevance_threshold": (_is_unit, "a number in [0, 1]"),
    "relevance_ratio": (_is_unit, "a number in [0, 1]"),
    "fuzzy_threshold": (_is_unit, "a number in [0, 1]"),
    "token_counter": (lambda v: v is None or callable(v), "None or a callable str -> int"),
    "query": (lambda v: v is None or isinstance(v, str), "None or a string"),
    "llm": (
        lambda v: isinstance(v, BaseLanguageModel),
        "a LangChain chat model (BaseLanguageModel)",
    ),
}


_CHECKED = frozenset({*_CHOICES, *_SIMPLE_CHECKS, "entity_types", "properties", "relation_types"})


def _check_parameters(data: dict[str, Any]) -> None:
    for name, choices in _CHOICES.items():
        if name in data and data[name] not in choices:
            _reject(name, " or ".join(repr(c) for c in choices), data[name])
    for name, (check, expected) in _SIMPLE_CHECKS.items():
        if name in data and not check(data[name]):
            _reject(name, expected, data[name])
    if data.get("chunk_overlap", 0) >= data.get("chunk_tokens", 1500):
        _reject("chunk_overlap", "smaller than chunk_tokens", data["chunk_overlap"])
    for name in ("entity_types", "properties", "relation_types"):
        _check_vocabulary(name, data.get(name))


def _results(chunks: Sequence[Chunk], outputs: Sequence[Any]) -> list[ChunkResult]:
    """Batch outputs as chunk results (an exception the batch returned is that chunk's failure)."""
    return [
        output
        if isinstance(output, ChunkResult)
        else ChunkResult(chunk=chunk, errors=[f"{type(output).__name__}: {output}"])
        for chunk, output in zip(chunks, outputs, strict=True)
    ]


def _as_mapping(value: Vocab) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return dict.fromkeys(value, "")


class EntityCompressor(
    TypedValidationErrors,
    BaseDocumentCompressor,
    BaseDocumentTransformer,
    RunnableSerializable[CompressorInput, list[Document]],
):
    """Compress documents into the entities (and properties, relations) a task needs.

    Each document is split into chunks; a model extracts an
    :class:`~langchain_niche.compression.Extraction` from every chunk, concurrently;
    every value is checked against its chunk (grounding); entities are merged
    across chunks and documents into one graph; with a query, only the relevant
    entities and their neighbours are kept; each document's entities are rendered
    as compact text. The structured data travels in ``metadata["entities"]`` and
    ``metadata["relations"]``.

    Output is never empty: a document that yields no entity, or whose extraction
    failed, passes through unchanged with ``metadata["compression"]`` set to
    ``"empty"`` or ``"failed"``; chunks that failed stay verbatim in the output
    (``"partial"``).

    Example:
        ```python
        from langchain_openai import ChatOpenAI
        from langchain_niche import EntityCompressor

        compressor = EntityCompressor(
            llm=ChatOpenAI(model="gpt-4o-mini"),
            entity_types=["Company", "Person"],
            properties=["founded", "headquarters", "revenue", "role"],
        )
        docs = compressor.transform_documents(long_documents)
        print(docs[0].page_content)  # entity cards
        docs[0].metadata["compression_ratio"]  # e.g. 7.4

        # In a retriever (query-conditioned):
        from langchain_classic.retrievers import ContextualCompressionRetriever

        retriever = ContextualCompressionRetriever(
            base_compressor=compressor, base_retriever=vectorstore.as_retriever()
        )
        # In LCEL:
        chain = retriever | compressor | format_docs | prompt | model
        ```
    """

    llm: InstanceOf[BaseLanguageModel[Any]]
    """The model that extracts entities (tool calling, or JSON in text)."""
    entity_types: Vocab = None
    """Entity types to extract (names, or name -> description); ``None``: any type.
    Entities of other types are left out."""
    properties: Vocab = None
    """Properties to extract (names, or name -> description); ``None``: any fact."""
    relation_types: Vocab = None
    """Relations to extract (names, or name -> description); ``None``: any relation."""
    query: str | None = None
    """The task: focuses extraction and keeps only relevant entities (and neighbours).
    ``compress_documents(documents, query)`` and ``{"query": ...}`` inputs override it."""
    chunk_tokens: int = 1500
    """Maximum tokens per chunk sent to the model."""
    chunk_overlap: int = 100
    """Tokens of whole sentences shared by consecutive chunks."""
    max_concurrency: int = 8
    """Chunks extracted at the same time (threads in sync code, tasks in async code)."""
    output_format: OutputFormat = "cards"
    """``"cards"``, ``"json"`` or ``"triples"``."""
    grounding: GroundingMode = "drop"
    """``"drop"`` ungrounded values, ``"flag"`` them as unverified, or ``"off"``."""
    token_counter: TokenCounter | None = None
    """Counts tokens for chunking and the ratio (default: ``approximate_token_count``)."""
    extraction_method: ExtractionMethod = "auto"
    """``"auto"`` (tool calling when the model has it), ``"structured"`` or ``"json"``."""
    structured_output_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments of ``with_structured_output`` (e.g. ``{"method": "function_calling"}``)."""
    max_retries: int = 1
    """Further attempts per chunk after a failure (made with the JSON-in-text prompt)."""
    instructions: str | None = None
    """Extra instructions appended to the extraction prompt."""
    relevance: RelevanceMethod = "jaccard"
    """How a query selects entities: ``"jaccard"`` over entity cards, or ``"model"``."""
    relevance_threshold: float = 0.0
    """Minimum Jaccard similarity of a relevant entity (it must share a word)."""
    relevance_ratio: float = DEFAULT_RELATIVE
    """Keep only entities scoring at least this fraction of the best entity's score
    (``0``: every entity sharing a word with the query)."""
    max_entities: int | None = None
    """Keep at most this many relevant entities (before neighbours are added)."""
    include_neighbors: bool = True
    """With a query, also keep entities directly related to a relevant one."""
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD
    """Similarity for fuzzy name matching within a type (``1.0`` disables it)."""
    partial_name_types: list[str] | None = Field(default_factory=lambda: list(PARTIAL_NAME_TYPES))
    """Types whose partial names (``Okafor``) merge into the one full name containing
    them (``Mira Okafor``); ``None``: every type."""
    combine_documents: bool = False
    """Return one document for the whole batch (entities merged across documents)
    instead of one per input document."""
    on_error: ErrorPolicy = "pass_through"
    """``"pass_through"``: failures are recorded in metadata; ``"raise"``: raise
    :class:`~langchain_niche.compression.CompressionError` naming the document."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    def __init__(self, llm: BaseLanguageModel[Any] | None = None, **data: Any) -> None:
        if llm is not None:
            data["llm"] = llm
        if "llm" not in data:
            msg = "EntityCompressor needs llm=<a chat model>"
            raise InvalidParameterError(msg, name="llm", value=None)
        _check_parameters(data)
        super().__init__(**data)
        self._extractor_for(self.query)  # fails now, not at the first call, if it cannot work

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CHECKED:  # the same checks as the constructor, against the other fields
            _check_parameters(
                {
                    "chunk_tokens": self.chunk_tokens,
                    "chunk_overlap": self.chunk_overlap,
                    name: value,
                }
            )
        super().__setattr__(name, value)

    # -- configuration ----------------------------------------------------------------
    def _spec(self, query: str | None) -> ExtractionSpec:
        return ExtractionSpec(
            entity_types=_as_mapping(self.entity_types),
            properties=_as_mapping(self.properties),
            relation_types=_as_mapping(self.relation_types),
            task=query,
            instructions=self.instructions,
        )

    def _settings(self) -> JobSettings:
        return JobSettings(
            chunk_tokens=self.chunk_tokens,
            chunk_overlap=self.chunk_overlap,
            token_counter=self.token_counter or approximate_token_count,
            grounding=self.grounding,
            vocabulary=Vocabulary(
                _as_mapping(self.entity_types),
                _as_mapping(self.properties),
                _as_mapping(self.relation_types),
            ),
            output_format=self.output_format,
            fuzzy_threshold=self.fuzzy_threshold,
            partial_name_types=self.partial_name_types,
            combine_documents=self.combine_documents,
            on_error=self.on_error,
        )

    def _extractor_for(self, query: str | None) -> ChunkExtractor:
        # Built per run (a few milliseconds) from the current fields, so that changed
        # attributes or model_copy(update=...) are always honoured.
        return ChunkExtractor(
            self.llm,
            self._spec(query),
            method=self.extraction_method,
            structured_output_kwargs=self.structured_output_kwargs,
            max_retries=self.max_retries,
        )

    def _query(self, query: str | None) -> str | None:
        if query is not None and not isinstance(query, str):
            _reject("query", "None or a string", query)
        chosen = query if query and query.strip() else self.query
        return chosen if chosen and chosen.strip() else None

    def _extraction_runnable(self, query: str | None) -> RunnableLambda[Chunk, ChunkResult]:
        extractor = self._extractor_for(query)

        def extract(chunk: Chunk, config: RunnableConfig) -> ChunkResult:
            return extractor.invoke(chunk, config)

        async def aextract(chunk: Chunk, config: RunnableConfig) -> ChunkResult:
            return await extractor.ainvoke(chunk, config)

        return RunnableLambda(extract, afunc=aextract, name="EntityExtraction")

    def _batch_config(self, config: RunnableConfig | None) -> RunnableConfig:
        return patch_config(ensure_config(config), max_concurrency=self.max_concurrency)

    # -- relevance ----------------------------------------------------------------------
    def _jaccard(self, graph: EntityGraph, query: str) -> RelevanceResult:
        return select_relevant(
            graph,
            query,
            threshold=self.relevance_threshold,
            relative=self.relevance_ratio,
            max_entities=self.max_entities,
            include_neighbors=self.include_neighbors,
        )

    def _relevance_model(self) -> Any:
        try:
            return self.llm.with_structured_output(RelevantEntities)
        except NotImplementedError:
            return self.llm

    def _model_choice(self, graph: EntityGraph, output: Any) -> RelevanceResult:
        chosen = read_relevant_ids(output, graph)
        if self.max_entities is not None:
            chosen = chosen[: self.max_entities]
        return model_result(graph, chosen, include_neighbors=self.include_neighbors)

    def _fallback(self, graph: EntityGraph, query: str, exc: Exception) -> RelevanceResult:
        result = self._jaccard(graph, query)
        note = f"jaccard (model relevance failed: {type(exc).__name__}: {exc})"
        return RelevanceResult(
            ids=result.ids, scores=result.scores, matched=result.matched, method=note
        )

    def _select(
        self, graph: EntityGraph, query: str | None, config: RunnableConfig
    ) -> RelevanceResult | None:
        if query is None or not graph.entities:
            return None
        if self.relevance == "jaccard":
            return self._jaccard(graph, query)
        try:
            output = self._relevance_model().invoke(model_relevance_messages(graph, query), config)
            return self._model_choice(graph, output)
        except Exception as exc:  # any model failure: fall back to Jaccard, never fail the batch
            return self._fallback(graph, query, exc)

    async def _aselect(
        self, graph: EntityGraph, query: str | None, config: RunnableConfig
    ) -> RelevanceResult | None:
        if query is None or not graph.entities or self.relevance == "jaccard":
            return self._select(graph, query, config)
        try:
            output = await self._relevance_model().ainvoke(
                model_relevance_messages(graph, query), config
            )
            return self._model_choice(graph, output)
        except Exception as exc:  # any model failure: fall back to Jaccard, never fail the batch
            return self._fallback(graph, query, exc)

    # -- the run --------------------------------------------------------------------------
    def compress_with_graph(
        self,
        documents: Sequence[Document],
        query: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> CompressionResult:
        """Compress documents and return the merged entity graph with them.

        Args:
            documents: The documents.
            query: The task (overrides the constructor's ``query`` when not empty).
            config: Runnable config for the model calls (callbacks, tags, ...).

        Returns:
            The output documents, the merged graph and the relevance decision.
        """
        query = self._query(query)
        job = CompressionJob(documents, self._settings())
        config = ensure_config(config)
        chunks = job.chunks
        outputs = self._extraction_runnable(query).batch(
            chunks, self._batch_config(config), return_exceptions=True
        )
        graph = job.build_graph(_results(chunks, outputs))
        relevance = self._select(graph, query, config)
        return CompressionResult(job.finish(graph, relevance), graph, relevance)

    async def acompress_with_graph(
        self,
        documents: Sequence[Document],
        query: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> CompressionResult:
        """Async :meth:`compress_with_graph` (model calls run as concurrent tasks).

        Args:
            documents: The documents.
            query: The task (overrides the constructor's ``query`` when not empty).
            config: Runnable config for the model calls.

        Returns:
            The output documents, the merged graph and the relevance decision.
        """
        query = self._query(query)
        job = CompressionJob(documents, self._settings())
        config = ensure_config(config)
        chunks = job.chunks
        outputs = await self._extraction_runnable(query).abatch(
            chunks, self._batch_config(config), return_exceptions=True
        )
        graph = job.build_graph(_results(chunks, outputs))
        relevance = await self._aselect(graph, query, config)
        return CompressionResult(job.finish(graph, relevance), graph, relevance)

    def extract_graph(
        self,
        documents: Sequence[Document],
        query: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> EntityGraph:
        """Extract and merge the entity graph of documents (limited to a query's needs).

        Args:
            documents: The documents.
            query: The task; ``None`` uses the constructor's (or keeps everything).
            config: Runnable config for the model calls.

        Returns:
            The graph, ready for :meth:`EntityGraph.to_records` / ``to_dataframe``.
        """
        return self.compress_with_graph(documents, query, config=config).selected

    async def aextract_graph(
        self,
        documents: Sequence[Document],
        query: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> EntityGraph:
        """Async :meth:`extract_graph`.

        Args:
            documents: The documents.
            query: The task.
            config: Runnable config for the model calls.

        Returns:
            The graph.
        """
        result = await self.acompress_with_graph(documents, query, config=config)
        return result.selected

    # -- BaseDocumentTransformer ----------------------------------------------------------
    @staticmethod
    def _call_kwargs(kwargs: dict[str, Any]) -> tuple[str | None, RunnableConfig]:
        config = ensure_config(kwargs.pop("config", None))
        callbacks = kwargs.pop("callbacks", None)
        if callbacks is not None:
            config = patch_config(config, callbacks=callbacks)
        query = kwargs.pop("query", None)
        if kwargs:
            msg = f"unexpected keyword arguments {sorted(kwargs)} (accepted: query, callbacks, config)"
            raise InvalidParameterError(msg, name=next(iter(kwargs)), value=kwargs)
        return query, config

    def transform_documents(self, documents: Sequence[Document], **kwargs: Any) -> list[Document]:
        """Compress documents (the task fixed at construction, or ``query=`` here).

        Args:
            documents: The documents.
            **kwargs: ``query`` (task), ``callbacks``, ``config``.

        Returns:
            One compressed document per input (see ``combine_documents``).
        """
        query, config = self._call_kwargs(dict(kwargs))
        return self.compress_with_graph(documents, query, config=config).documents

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`transform_documents` (native async model calls).

        Args:
            documents: The documents.
            **kwargs: ``query`` (task), ``callbacks``, ``config``.

        Returns:
            One compressed document per input (see ``combine_documents``).
        """
        query, config = self._call_kwargs(dict(kwargs))
        result = await self.acompress_with_graph(documents, query, config=config)
        return result.documents

    # -- BaseDocumentCompressor -----------------------------------------------------------
    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Compress retrieved documents for a query (``ContextualCompressionRetriever``).

        Args:
            documents: The retrieved documents.
            query: The retrieval query: only entities relevant to it are kept
                (an empty query falls back to the constructor's ``query``).
            callbacks: Callbacks for the model calls.

        Returns:
            The compressed documents.
        """
        config = ensure_config({"callbacks": callbacks})
        return self.compress_with_graph(documents, query, config=config).documents

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`.

        Args:
            documents: The retrieved documents.
            query: The retrieval query.
            callbacks: Callbacks for the model calls.

        Returns:
            The compressed documents.
        """
        config = ensure_config({"callbacks": callbacks})
        result = await self.acompress_with_graph(documents, query, config=config)
        return result.documents

    # -- Runnable -----------------------------------------------------------------------
    @staticmethod
    def _unpack(value: CompressorInput) -> tuple[Sequence[Document], str | None]:
        if isinstance(value, Mapping):
            if "documents" not in value:
                msg = (
                    "a dict input needs 'documents' (and optionally 'query'), got keys "
                    f"{sorted(map(str, value))}"
                )
                raise InvalidParameterError(msg, name="input", value=value)
            return value["documents"], value.get("query")
        if isinstance(value, Document):
            return [value], None
        return value, None

    def _invoke(
        self,
        value: CompressorInput,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> list[Document]:
        documents, query = self._unpack(value)
        return self.compress_with_graph(documents, query, config=config).documents

    async def _ainvoke(
        self,
        value: CompressorInput,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> list[Document]:
        documents, query = self._unpack(value)
        result = await self.acompress_with_graph(documents, query, config=config)
        return result.documents

    def invoke(
        self, input: CompressorInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Compress documents as a step of an LCEL chain.

        Args:
            input: A list of documents (e.g. a retriever's output), one document,
                or ``{"documents": [...], "query": "..."}``.
            config: Runnable config; the model calls become child runs.
            **kwargs: Ignored (Runnable protocol).

        Returns:
            The compressed documents.
        """
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: CompressorInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`invoke`.

        Args:
            input: See :meth:`invoke`.
            config: Runnable config.
            **kwargs: Ignored (Runnable protocol).

        Returns:
            The compressed documents.
        """
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def as_runnable(self) -> EntityCompressor:
        """The runnable form (the compressor itself is a ``Runnable``).

        Returns:
            ``self``, for ``retriever | compressor.as_runnable() | ...``.
        """
        return self
