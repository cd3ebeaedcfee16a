"""``EntityCompressor``: replace long documents by the entities a task needs.

One class, three LangChain roles:

* a ``BaseDocumentTransformer`` (``transform_documents`` / ``atransform_documents``),
* a ``BaseDocumentCompressor`` (``compress_documents(documents, query)``), so it
  drops into ``ContextualCompressionRetriever`` and ``DocumentCompressorPipeline``,
* a ``Runnable`` (``retriever | compressor | format_docs | prompt | model``), whose
  model calls are child runs of the compressor's run (callbacks, tags, tracing).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Annotated, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, BaseDocumentTransformer, Document
from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableSerializable
from langchain_core.runnables.config import ensure_config, patch_config
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    InstanceOf,
    Strict,
    StrictBool,
    StrictInt,
    model_validator,
)

from langchain_niche._sansio import Call, arun_calls, run_calls
from langchain_niche._validation import Expected, TypedValidationErrors, with_required
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

_MIN_CHUNK_TOKENS = 16
_VOCABULARY = "None, a list of names or a dict of name -> description"


def _names(value: Any) -> Any:
    if value is not None and (not value or not all(n.strip() for n in value)):
        msg = "names must not be empty or blank"
        raise ValueError(msg)
    return value


Vocab = Annotated[list[str] | dict[str, str] | None, AfterValidator(_names), Expected(_VOCABULARY)]
Unit = Annotated[float, Strict(), Field(ge=0, le=1)]


def _results(chunks: Sequence[Chunk], outputs: Sequence[Any]) -> list[ChunkResult]:
    """Batch outputs as chunk results (an exception the batch returned is that chunk's failure)."""
    return [
        output
        if isinstance(output, ChunkResult)
        else ChunkResult(chunk=chunk, errors=[f"{type(output).__name__}: {output}"])
        for chunk, output in zip(chunks, outputs, strict=True)
    ]


def _as_mapping(value: list[str] | dict[str, str] | None) -> dict[str, str] | None:
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

    llm: Annotated[
        InstanceOf[BaseLanguageModel[Any]], Expected("a LangChain chat model (BaseLanguageModel)")
    ]
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
    chunk_tokens: StrictInt = Field(default=1500, ge=_MIN_CHUNK_TOKENS)
    """Maximum tokens per chunk sent to the model."""
    chunk_overlap: StrictInt = Field(default=100, ge=0)
    """Tokens of whole sentences shared by consecutive chunks."""
    max_concurrency: StrictInt = Field(default=8, ge=1)
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
    max_retries: StrictInt = Field(default=1, ge=0)
    """Further attempts per chunk after a failure (made with the JSON-in-text prompt)."""
    instructions: str | None = None
    """Extra instructions appended to the extraction prompt."""
    relevance: RelevanceMethod = "jaccard"
    """How a query selects entities: ``"jaccard"`` over entity cards, or ``"model"``."""
    relevance_threshold: Unit = 0.0
    """Minimum Jaccard similarity of a relevant entity (it must share a word)."""
    relevance_ratio: Unit = DEFAULT_RELATIVE
    """Keep only entities scoring at least this fraction of the best entity's score
    (``0``: every entity sharing a word with the query)."""
    max_entities: Annotated[StrictInt, Field(ge=1)] | None = None
    """Keep at most this many relevant entities (before neighbours are added)."""
    include_neighbors: StrictBool = True
    """With a query, also keep entities directly related to a relevant one."""
    fuzzy_threshold: Unit = DEFAULT_FUZZY_THRESHOLD
    """Similarity for fuzzy name matching within a type (``1.0`` disables it)."""
    partial_name_types: list[str] | None = Field(default_factory=lambda: list(PARTIAL_NAME_TYPES))
    """Types whose partial names (``Okafor``) merge into the one full name containing
    them (``Mira Okafor``); ``None``: every type."""
    combine_documents: StrictBool = False
    """Return one document for the whole batch (entities merged across documents)
    instead of one per input document."""
    on_error: ErrorPolicy = "pass_through"
    """``"pass_through"``: failures are recorded in metadata; ``"raise"``: raise
    :class:`~langchain_niche.compression.CompressionError` naming the document."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    def __init__(self, llm: BaseLanguageModel[Any] | None = None, **data: Any) -> None:
        super().__init__(
            **with_required(data, "llm", llm, "EntityCompressor needs llm=<a chat model>")
        )
        self._extractor_for(self.query)  # fails now, not at the first call, if it cannot work

    @model_validator(mode="after")
    def _overlap_fits(self) -> EntityCompressor:
        """Chunks must advance: the overlap is smaller than a chunk (also on assignment)."""
        if self.chunk_overlap >= self.chunk_tokens:
            msg = (
                f"chunk_overlap must be smaller than chunk_tokens ({self.chunk_tokens}), "
                f"got {self.chunk_overlap}"
            )
            raise InvalidParameterError(msg, name="chunk_overlap", value=self.chunk_overlap)
        return self

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
            msg = f"query must be None or a string, got {preview(query)}"
            raise InvalidParameterError(msg, name="query", value=query)
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

    def _selecting(
        self, graph: EntityGraph, query: str | None, config: RunnableConfig
    ) -> Generator[Call, Any, RelevanceResult | None]:
        """The entities relevant to ``query`` (sans I/O: the relevance model call)."""
        if query is None or not graph.entities:
            return None
        if self.relevance == "jaccard":
            return self._jaccard(graph, query)
        try:
            messages = model_relevance_messages(graph, query)
            output = yield Call.invoke(self._relevance_model(), messages, config)
            return self._model_choice(graph, output)
        except Exception as exc:  # any model failure: fall back to Jaccard, never fail the batch
            return self._fallback(graph, query, exc)

    # -- the run --------------------------------------------------------------------------
    def _start(
        self, documents: Sequence[Document], query: str | None, config: RunnableConfig | None
    ) -> tuple[str | None, CompressionJob, RunnableConfig]:
        return (
            self._query(query),
            CompressionJob(documents, self._settings()),
            ensure_config(config),
        )

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
        result: CompressionResult = run_calls(self._compressing(documents, query, config))
        return result

    async def acompress_with_graph(
        self,
        documents: Sequence[Document],
        query: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> CompressionResult:
        """Async twin of :meth:`compress_with_graph` (model calls run as concurrent tasks)."""
        result: CompressionResult = await arun_calls(self._compressing(documents, query, config))
        return result

    def _compressing(
        self, documents: Sequence[Document], query: str | None, config: RunnableConfig | None
    ) -> Generator[Call, Any, CompressionResult]:
        """Extract, merge, select (sans I/O: the extraction batch and the relevance call)."""
        query, job, config = self._start(documents, query, config)
        chunks = job.chunks
        runnable = self._extraction_runnable(query)
        outputs = yield Call(
            runnable.batch,
            runnable.abatch,
            (chunks, self._batch_config(config)),
            {"return_exceptions": True},
        )
        graph = job.build_graph(_results(chunks, outputs))
        relevance = yield from self._selecting(graph, query, config)
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
        """Async twin of :meth:`extract_graph`."""
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
        """Async twin of :meth:`transform_documents` (native async model calls)."""
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
        """Async twin of :meth:`compress_documents`."""
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
        """Async twin of :meth:`invoke`."""
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")
