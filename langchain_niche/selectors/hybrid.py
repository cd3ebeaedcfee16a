"""Hybrid selection: embedding candidates fused with exact lexical scores."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langchain_niche._validation import TypedValidationErrors
from langchain_niche.errors import (
    ExampleNotFoundError,
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    VectorStoreError,
    preview,
)
from langchain_niche.scope import Scope
from langchain_niche.selectors._vector_copy import (
    deepcopy_store,
    pickle_store_field,
    unpickle_store_field,
)
from langchain_niche.selectors.base import ScoredExample
from langchain_niche.selectors.fusion import (
    ID_KEY,
    rrf_scores,
    vector_candidates,
    weighted_order,
)
from langchain_niche.selectors.jaccard import JaccardExampleSelector
from langchain_niche.selectors.vector_search import (
    StoreAbilities,
    asearch_vectors,
    search_vectors,
)
from langchain_niche.text import example_fields

__all__ = ["FallbackWarning", "HybridExampleSelector"]

logger = logging.getLogger(__name__)

Fusion = Literal["weighted", "rerank", "rrf"]
"""How vector and lexical evidence are combined (see :class:`HybridExampleSelector`)."""

_Count = Annotated[int, Field(ge=1, strict=True)]
_Weight = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


class FallbackWarning(UserWarning):
    """A hybrid selection fell back to lexical-only results (the vector store failed)."""


class HybridExampleSelector(BaseExampleSelector, TypedValidationErrors, BaseModel):
    """Few-shot selection fusing embedding similarity with exact lexical similarity.

    Candidates come from a LangChain ``VectorStore`` (the ``fetch_k`` nearest
    examples by embedding) and from the package's lexical index
    (:class:`JaccardExampleSelector`, with any of its text options: stop words,
    BM25, n-grams...). They are fused by

    * ``fusion="weighted"`` (default): the vector candidates are ordered by
      ``vector_weight * vector_score + lexical_weight * lexical_score``, ties by
      vector rank (reported as the score). The vector score is the store's
      relevance in [0, 1] when it defines one; otherwise its scores rescaled to
      [0, 1] (best 1, last candidate 0); for a store that implements only
      ``similarity_search`` (no scores at all), the rank rescaled the same way.
    * ``fusion="rerank"``: the vector candidates are ordered by their exact
      lexical score, ties (including "no shared token") by vector rank. The
      reported score is the lexical score.
    * ``fusion="rrf"``: reciprocal-rank fusion of both rankings,
      ``vector_weight / (rrf_k + vector_rank) + lexical_weight / (rrf_k + lexical_rank)``
      over the union of both candidate lists (reported as the score).

    Any LangChain ``VectorStore`` works, down to one that implements only
    ``similarity_search`` (as ``SemanticSimilarityExampleSelector`` needs): its
    ranking is used, silently (no warning per selection).

    Copies and pickles: ``copy.deepcopy`` and ``pickle`` give an independent
    selector when the vector store can be copied or pickled (e.g.
    ``InMemoryVectorStore`` with a picklable embedding model); otherwise they
    raise :class:`~langchain_niche.errors.VectorStoreError` naming the store.

    Examples added once (``add_example(s)``) reach both indexes; if the vector
    store rejects them the lexical add is rolled back. Examples are embedded on
    their ``input_keys`` fields, joined like langchain-core's selectors.

    Behaviour at the edges (never a silent random pick):

    * empty input (no text in the compared fields): ``[]``;
    * no example shares a token with the input: ``weighted`` and ``rerank`` keep
      the vector order; ``rrf`` ranks by the vector side alone;
    * examples known to only one index (e.g. an external vector store without
      them): ``rrf`` can still select them through the other index; ``weighted``
      and ``rerank`` fill up from the lexical ranking only when the vector store
      returns fewer than ``k`` usable candidates;
    * scoped selection (issue 14): build the lexical index with
      ``filter_keys=[...]`` (``from_examples(..., filter_keys=["tenant"])``) and/or
      pass ``filter=`` per call. The filter-key values are stored in each
      document's metadata; the scope's conditions on them go to the vector store
      in its own format (``InMemoryVectorStore``: a callable; Chroma from
      ``langchain-chroma``: a ``where`` dict; other stores: none), and every
      vector hit and the whole lexical side are checked against the scope here,
      so a store that ignores filters cannot leak another scope's example;
    * the vector store (or embedding model) raises: with
      ``on_vector_error="fallback"`` (default) the lexical ranking is used and a
      :class:`FallbackWarning` is emitted and logged; with ``"raise"`` a
      :class:`~langchain_niche.errors.VectorStoreError` is raised.

    Example:
        ```python
        from langchain_core.embeddings import DeterministicFakeEmbedding
        from langchain_niche import HybridExampleSelector

        selector = HybridExampleSelector.from_examples(
            [{"input": "happy", "output": "sad"}, {"input": "tall", "output": "short"}],
            DeterministicFakeEmbedding(size=64),
            input_keys=["input"],
            k=1,
            stopwords="english",
        )
        selector.select_examples({"input": "very happy"})
        # [{'input': 'happy', 'output': 'sad'}]
        ```
    """

    vectorstore: VectorStore
    """Vector store holding one document per example (``metadata["niche_id"]`` = id)."""
    lexical: JaccardExampleSelector
    """The lexical index; it also stores the examples and their ids."""
    input_keys: Annotated[list[str], Field(min_length=1)]
    """Fields embedded and compared (required: vectors are computed when an example is added)."""
    k: _Count = 4
    """Number of examples to select."""
    example_keys: list[str] | None = None
    """Fields of the returned examples (``None``: all)."""
    fusion: Fusion = "weighted"
    """How the two signals are combined (see the class docstring)."""
    fetch_k: _Count = 50
    """Candidates taken from each source before fusion."""
    vector_weight: _Weight = 0.5
    """Weight of the vector score (``weighted``) or ranking (``rrf``)."""
    lexical_weight: _Weight = 0.5
    """Weight of the lexical score (``weighted``) or ranking (``rrf``)."""
    rrf_k: Annotated[int, Field(ge=0, strict=True)] = 60
    """Rank offset of reciprocal-rank fusion (larger: flatter)."""
    on_vector_error: Literal["fallback", "raise"] = "fallback"
    """What to do when the vector store fails during a selection."""
    vectorstore_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments for the vector store's similarity search (e.g. a filter)."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    _last_fallback: str | None = PrivateAttr(default=None)
    _abilities: StoreAbilities = PrivateAttr(default_factory=StoreAbilities)

    # -- copying and pickling ------------------------------------------------------------
    def __getstate__(self) -> dict[Any, Any]:
        return pickle_store_field(super().__getstate__(), "vectorstore")

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(unpickle_store_field(state, "vectorstore"))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> HybridExampleSelector:
        memo = {} if memo is None else memo
        deepcopy_store(self.vectorstore, memo)  # a clear error if it cannot be copied
        return super().__deepcopy__(memo)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> HybridExampleSelector:
        """Copy the selector, optionally with other settings.

        Args:
            update: Settings of the copy (``{"k": 2}``), checked like an assignment.
            deep: ``True``: an independent selector, as ``copy.deepcopy`` gives.
                ``False``: a view of the same lexical index and vector store.

        Returns:
            The copy.

        Raises:
            InvalidParameterError: An update is invalid.
        """
        copied = self.__deepcopy__() if deep else self.__copy__()
        for name, value in (update or {}).items():
            setattr(copied, name, value)
        return copied

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_examples(
        cls,
        examples: Iterable[Mapping[str, Any]],
        embeddings: Embeddings,
        vectorstore_cls: type[VectorStore] = InMemoryVectorStore,
        *,
        input_keys: list[str],
        k: int = 4,
        example_keys: list[str] | None = None,
        ids: Sequence[str] | None = None,
        fusion: Fusion = "weighted",
        fetch_k: int = 50,
        vector_weight: float = 0.5,
        lexical_weight: float = 0.5,
        rrf_k: int = 60,
        on_vector_error: Literal["fallback", "raise"] = "fallback",
        vectorstore_kwargs: dict[str, Any] | None = None,
        vectorstore_cls_kwargs: dict[str, Any] | None = None,
        **lexical_options: Any,
    ) -> HybridExampleSelector:
        """Index examples in a new vector store and a new lexical index.

        Args:
            examples: The examples.
            embeddings: The embedding model for the vector store.
            vectorstore_cls: A ``VectorStore`` class with ``from_texts``.
            input_keys: Fields embedded and compared.
            k: Number of examples to select.
            example_keys: Fields of the returned examples.
            ids: Optional example ids.
            fusion: ``"weighted"``, ``"rerank"`` or ``"rrf"``.
            fetch_k: Candidates per source.
            vector_weight: Weight of the vector score or ranking.
            lexical_weight: Weight of the lexical score or ranking.
            rrf_k: Reciprocal-rank-fusion offset.
            on_vector_error: ``"fallback"`` or ``"raise"``.
            vectorstore_kwargs: Extra arguments for similarity searches.
            vectorstore_cls_kwargs: Extra arguments for ``vectorstore_cls.from_texts``.
            **lexical_options: Text options of the lexical index (``stopwords``,
                ``similarity``, ``ngram_range``, ``tokenizer``...).

        Returns:
            The selector.
        """
        lexical = JaccardExampleSelector(
            examples=examples, ids=ids, input_keys=input_keys, k=k, **lexical_options
        )
        texts, metadatas, new_ids = _documents(lexical, input_keys)
        vectorstore = vectorstore_cls.from_texts(
            texts, embeddings, metadatas=metadatas, ids=new_ids, **(vectorstore_cls_kwargs or {})
        )
        return cls(
            vectorstore=vectorstore,
            lexical=lexical,
            input_keys=input_keys,
            k=k,
            example_keys=example_keys,
            fusion=fusion,
            fetch_k=fetch_k,
            vector_weight=vector_weight,
            lexical_weight=lexical_weight,
            rrf_k=rrf_k,
            on_vector_error=on_vector_error,
            vectorstore_kwargs=vectorstore_kwargs or {},
        )

    @classmethod
    async def afrom_examples(
        cls,
        examples: Iterable[Mapping[str, Any]],
        embeddings: Embeddings,
        vectorstore_cls: type[VectorStore] = InMemoryVectorStore,
        *,
        input_keys: list[str],
        vectorstore_cls_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> HybridExampleSelector:
        """Async twin of :meth:`from_examples` (embeds with ``afrom_texts``).

        Args:
            examples: The examples.
            embeddings: The embedding model.
            vectorstore_cls: A ``VectorStore`` class.
            input_keys: Fields embedded and compared.
            vectorstore_cls_kwargs: Extra arguments for ``afrom_texts``.
            **kwargs: As for :meth:`from_examples`.

        Returns:
            The selector.
        """
        selection = set(cls.model_fields) - {"vectorstore", "lexical", "input_keys"}
        settings = {name: kwargs.pop(name) for name in list(kwargs) if name in selection}
        ids = kwargs.pop("ids", None)
        lexical = await JaccardExampleSelector.afrom_examples(
            list(examples), ids=ids, input_keys=input_keys, k=settings.get("k", 4), **kwargs
        )
        texts, metadatas, new_ids = _documents(lexical, input_keys)
        vectorstore = await vectorstore_cls.afrom_texts(
            texts, embeddings, metadatas=metadatas, ids=new_ids, **(vectorstore_cls_kwargs or {})
        )
        if settings.get("vectorstore_kwargs") is None:
            settings.pop("vectorstore_kwargs", None)
        return cls(vectorstore=vectorstore, lexical=lexical, input_keys=input_keys, **settings)

    # -- content -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.lexical)

    @property
    def last_fallback(self) -> str | None:
        """Why the most recent selection fell back to lexical-only results (or ``None``)."""
        return self._last_fallback

    @property
    def filter_keys(self) -> list[str] | None:
        """The lexical index's ``filter_keys`` (fields that scope every selection)."""
        return self.lexical.filter_keys

    def _text(self, variables: Mapping[str, Any]) -> str:
        return " ".join(example_fields(variables, sorted(self.input_keys)))

    # -- adding and removing -----------------------------------------------------------------
    def add_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Add examples to both indexes (all of them, or none).

        Args:
            examples: The examples.
            ids: Optional ids.

        Returns:
            The new ids.

        Raises:
            VectorStoreError: The vector store rejected them (the lexical add is
                rolled back).
        """
        new_ids = self.lexical.add_examples(examples, ids=ids)
        texts, metadatas = self._texts_for(new_ids)
        try:
            self.vectorstore.add_texts(texts, metadatas=metadatas, ids=new_ids)
        except Exception as exc:
            raise self._rolled_back(new_ids, exc) from exc
        return new_ids

    async def aadd_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Async twin of :meth:`add_examples` (native async vector store call).

        Args:
            examples: The examples.
            ids: Optional ids.

        Returns:
            The new ids.
        """
        new_ids = await self.lexical.aadd_examples(examples, ids=ids)
        texts, metadatas = self._texts_for(new_ids)
        try:
            await self.vectorstore.aadd_texts(texts, metadatas=metadatas, ids=new_ids)
        except Exception as exc:
            raise self._rolled_back(new_ids, exc) from exc
        return new_ids

    def _rolled_back(self, new_ids: list[str], exc: Exception) -> VectorStoreError:
        """Undo the lexical add of examples the vector store rejected."""
        for example_id in new_ids:
            self.lexical.remove_example(example_id)
        msg = f"the vector store rejected {len(new_ids)} example(s); nothing was added: {exc}"
        return VectorStoreError(msg)

    def add_example(self, example: Mapping[str, Any], *, example_id: str | None = None) -> str:
        """Add one example to both indexes.

        Args:
            example: The example.
            example_id: Optional id.

        Returns:
            Its id.
        """
        return self.add_examples([example], ids=None if example_id is None else [example_id])[0]

    async def aadd_example(
        self, example: Mapping[str, Any], *, example_id: str | None = None
    ) -> str:
        """Async twin of :meth:`add_example`.

        Args:
            example: The example.
            example_id: Optional id.

        Returns:
            Its id.
        """
        ids = await self.aadd_examples([example], ids=None if example_id is None else [example_id])
        return ids[0]

    def remove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Remove an example (by id, or every equal example) from both indexes.

        Args:
            example: An id or an example dict.

        Returns:
            The ids removed.
        """
        removed = self.lexical.remove_example(example)
        try:
            self.vectorstore.delete(ids=removed)
        except Exception as exc:  # the lexical side no longer returns them: log, don't fail
            logger.warning("vector store could not delete %s: %s", removed, exc)
        return removed

    def _texts_for(self, ids: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
        examples = self._lookup(ids)
        texts = [self._text(examples[i]) for i in ids]
        return texts, [_metadata(i, examples[i], self.filter_keys) for i in ids]

    # -- selection --------------------------------------------------------------------------
    def search(
        self, input_variables: dict[str, Any], *, filter: Mapping[str, Any] | None = None
    ) -> list[ScoredExample]:
        """Select examples with ids and fused scores.

        Args:
            input_variables: The prompt's input variables.
            filter: Per-call filter (``{"lang": ["de", "fr"]}``), ANDed with
                ``filter_keys`` (see the class docstring).

        Returns:
            Up to ``k`` examples, best first.
        """
        prepared = self._prepare(input_variables, filter)
        if prepared is None:
            return []
        text, scope = prepared
        try:
            kwargs = self._store_kwargs(scope)
            hits = search_vectors(self.vectorstore, text, self.fetch_k, kwargs, self._abilities)
        except InvalidParameterError:
            raise
        except Exception as exc:
            return self._fallback(exc, input_variables, filter)
        return self._fuse(input_variables, hits, filter, scope)

    async def asearch(
        self, input_variables: dict[str, Any], *, filter: Mapping[str, Any] | None = None
    ) -> list[ScoredExample]:
        """Async twin of :meth:`search` (native async vector search).

        Args:
            input_variables: The prompt's input variables.
            filter: Per-call filter, as for :meth:`search`.

        Returns:
            Up to ``k`` examples, best first.
        """
        prepared = self._prepare(input_variables, filter)
        if prepared is None:
            return []
        text, scope = prepared
        try:
            kwargs = self._store_kwargs(scope)
            hits = await asearch_vectors(
                self.vectorstore, text, self.fetch_k, kwargs, self._abilities
            )
        except InvalidParameterError:
            raise
        except Exception as exc:
            return self._fallback(exc, input_variables, filter)
        return self._fuse(input_variables, hits, filter, scope)

    def _store_kwargs(self, scope: Scope) -> dict[str, Any]:
        """The vector search's arguments: ``vectorstore_kwargs`` plus the store's own filter."""
        keys = set(self.filter_keys or ())
        in_metadata = Scope(tuple((name, ok) for name, ok in scope.conditions if name in keys))
        if in_metadata.is_unrestricted():
            return self.vectorstore_kwargs
        native = _native_filter(self.vectorstore, in_metadata)
        if native is None:
            return self.vectorstore_kwargs
        if "filter" in self.vectorstore_kwargs:
            msg = (
                "vectorstore_kwargs sets 'filter' and the selection is scoped; pass the scope "
                "as filter_keys / filter= only"
            )
            raise InvalidParameterError(msg, name="vectorstore_kwargs", value="filter")
        return {**self.vectorstore_kwargs, "filter": native}

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Select examples (see the class docstring).

        Args:
            input_variables: The prompt's input variables.

        Returns:
            Up to ``k`` examples, best first.
        """
        return [s.example for s in self.search(input_variables)]

    async def aselect_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Async twin of :meth:`select_examples`.

        Args:
            input_variables: The prompt's input variables.

        Returns:
            Up to ``k`` examples, best first.
        """
        return [s.example for s in await self.asearch(input_variables)]

    def select_examples_with_scores(
        self, input_variables: dict[str, Any], *, filter: Mapping[str, Any] | None = None
    ) -> list[tuple[dict[str, Any], float]]:
        """Select examples with their fused scores.

        Args:
            input_variables: The prompt's input variables.
            filter: Per-call filter, as for :meth:`search`.

        Returns:
            ``(example, score)`` pairs, best first.
        """
        return [(s.example, s.score) for s in self.search(input_variables, filter=filter)]

    async def aselect_examples_with_scores(
        self, input_variables: dict[str, Any], *, filter: Mapping[str, Any] | None = None
    ) -> list[tuple[dict[str, Any], float]]:
        """Async twin of :meth:`select_examples_with_scores`.

        Args:
            input_variables: The prompt's input variables.
            filter: Per-call filter, as for :meth:`search`.

        Returns:
            ``(example, score)`` pairs, best first.
        """
        return [(s.example, s.score) for s in await self.asearch(input_variables, filter=filter)]

    # -- fusion ------------------------------------------------------------------------------
    def _prepare(
        self, input_variables: Mapping[str, Any], filter: Mapping[str, Any] | None
    ) -> tuple[str, Scope] | None:
        if not isinstance(input_variables, Mapping):
            msg = f"input_variables must be a dict, got {type(input_variables).__name__} {preview(input_variables)}"
            raise InvalidExampleError(msg)
        for key in self.input_keys:
            if key not in input_variables:
                msg = f"the input has no field {key!r} (input_keys={self.input_keys})"
                raise MissingKeyError(msg, key=key)
        scope = self.lexical.scope_of(input_variables, filter)
        self._last_fallback = None
        text = self._text(input_variables)
        return (text, scope) if text.strip() and not scope.is_empty() else None

    def _lexical_ranking(
        self, input_variables: Mapping[str, Any], filter: Mapping[str, Any] | None
    ) -> list[ScoredExample]:
        return self.lexical.search(
            dict(input_variables), k=max(self.fetch_k, self.k), filter=filter
        )

    def _fallback(
        self,
        exc: Exception,
        input_variables: Mapping[str, Any],
        filter: Mapping[str, Any] | None = None,
    ) -> list[ScoredExample]:
        if self.on_vector_error == "raise":
            msg = f"the vector store failed during selection: {type(exc).__name__}: {exc}"
            raise VectorStoreError(msg) from exc
        reason = f"vector store failed ({type(exc).__name__}: {exc}); lexical ranking used"
        self._last_fallback = reason
        logger.warning("HybridExampleSelector: %s", reason)
        warnings.warn(f"HybridExampleSelector: {reason}", FallbackWarning, stacklevel=3)
        ranked = self.lexical.search(dict(input_variables), k=self.k, filter=filter)
        return [self._project(s) for s in ranked]

    def _fuse(
        self,
        input_variables: dict[str, Any],
        hits: Sequence[tuple[Document, float]],
        filter: Mapping[str, Any] | None = None,
        scope: Scope | None = None,
    ) -> list[ScoredExample]:
        vector_ids, vector_scores = vector_candidates(
            hits, may_be_distances=self._abilities.may_return_distances
        )
        examples = self._lookup(vector_ids)
        stale = [i for i in vector_ids if i not in examples]
        if stale:
            logger.warning("vector store returned ids unknown to the lexical index: %s", stale[:5])
            known = [n for n, i in enumerate(vector_ids) if i in examples]
            vector_ids = [vector_ids[n] for n in known]
            vector_scores = [vector_scores[n] for n in known]
        if scope is not None and not scope.is_unrestricted():
            # enforced here whatever the store did with the filter (issue 14)
            inside = [n for n, i in enumerate(vector_ids) if scope.matches(examples[i])]
            if len(inside) < len(vector_ids):
                vector_ids = [vector_ids[n] for n in inside]
                vector_scores = [vector_scores[n] for n in inside]
        if self.fusion == "rrf":
            lexical_ranked = self._lexical_ranking(input_variables, filter)
            return self._rrf(vector_ids, examples, lexical_ranked)
        lexical = [
            score or 0.0
            for score in self.lexical.scores_for(input_variables, vector_ids, scope=scope)
        ]
        if self.fusion == "weighted":
            fused = [
                self.vector_weight * v + self.lexical_weight * lex
                for v, lex in zip(vector_scores, lexical, strict=True)
            ]
        else:  # rerank
            fused = lexical
        order = weighted_order(fused)  # ties: vector rank
        chosen = [ScoredExample(vector_ids[i], examples[vector_ids[i]], fused[i]) for i in order]
        if len(chosen) < self.k:  # vector store short of candidates: fill from the lexical side
            have = {s.id for s in chosen}
            chosen.extend(
                s for s in self._lexical_ranking(input_variables, filter) if s.id not in have
            )
        return [self._project(s) for s in chosen[: self.k]]

    def _rrf(
        self,
        vector_ids: list[str],
        examples: dict[str, dict[str, Any]],
        lexical_ranked: list[ScoredExample],
    ) -> list[ScoredExample]:
        for scored in lexical_ranked:
            examples.setdefault(scored.id, scored.example)
        fused = rrf_scores(
            [
                (vector_ids, self.vector_weight),
                ([s.id for s in lexical_ranked], self.lexical_weight),
            ],
            self.rrf_k,
        )
        return [self._project(ScoredExample(i, examples[i], score)) for i, score in fused[: self.k]]

    def _lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The examples of the ids the lexical index knows (others are left out)."""
        wanted = list(dict.fromkeys(ids))
        try:
            found = self.lexical.get_examples(wanted)
        except ExampleNotFoundError:  # rare: a stale vector store
            known = set(self.lexical.ids)
            return self._lookup([i for i in wanted if i in known])
        return dict(zip(wanted, found, strict=True))

    def _project(self, scored: ScoredExample) -> ScoredExample:
        example = scored.example
        if self.example_keys:
            missing = [key for key in self.example_keys if key not in example]
            if missing:
                msg = f"example {scored.id!r} has no field {missing[0]!r} listed in example_keys"
                raise MissingKeyError(msg, key=missing[0])
            projected = {key: example[key] for key in self.example_keys}
        else:
            projected = dict(example)
        return ScoredExample(scored.id, projected, scored.score)


def _metadata(
    example_id: str, example: Mapping[str, Any], filter_keys: Sequence[str] | None
) -> dict[str, Any]:
    """A document's metadata: the example id and its filter-key values (scalars, not None)."""
    metadata: dict[str, Any] = {ID_KEY: example_id}
    for key in filter_keys or ():
        value = example.get(key)
        if isinstance(value, str | int | bool):
            metadata[key] = value
    return metadata


def _native_filter(store: VectorStore, scope: Scope) -> Any:
    """The scope in the store's own filter format, or ``None`` when it has none we know."""
    if isinstance(store, InMemoryVectorStore):
        return scope.to_callable()
    if any(cls.__module__.startswith("langchain_chroma") for cls in type(store).__mro__):
        try:
            return scope.to_chroma_where()
        except InvalidParameterError:  # None values: enforced on our side only
            return None
    return None


def _documents(
    lexical: JaccardExampleSelector, input_keys: list[str]
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    ids = lexical.ids
    examples = lexical.examples
    texts = [" ".join(example_fields(e, sorted(input_keys))) for e in examples]
    keys = lexical.filter_keys
    return texts, [_metadata(i, e, keys) for i, e in zip(ids, examples, strict=True)], ids
