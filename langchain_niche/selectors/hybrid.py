"""Hybrid selection: embedding candidates fused with exact lexical scores."""

from __future__ import annotations

import copy
import logging
import math
import pickle
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langchain_niche._validation import TypedValidationErrors
from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    VectorStoreError,
    preview,
)
from langchain_niche.selectors.base import ScoredExample
from langchain_niche.selectors.jaccard import JaccardExampleSelector
from langchain_niche.text import example_fields

__all__ = ["FallbackWarning", "HybridExampleSelector"]

logger = logging.getLogger(__name__)

Fusion = Literal["weighted", "rerank", "rrf"]
"""How vector and lexical evidence are combined (see :class:`HybridExampleSelector`)."""

ID_KEY = "niche_id"
"""Metadata key holding the example id in vector-store documents."""


class _PickledStore:
    """The vector store of a pickled selector, pickled on its own (see ``__getstate__``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def _copy_error(store: VectorStore, exc: Exception, *, pickling: bool) -> VectorStoreError:
    what, done = ("pickle", "pickled") if pickling else ("copy", "copied")
    msg = (
        f"cannot {what} HybridExampleSelector: its vector store {type(store).__name__} cannot be "
        f"{done} ({type(exc).__name__}: {exc}); use a store "
        "that can (e.g. InMemoryVectorStore with a picklable embedding model) or rebuild the "
        "selector with from_examples()"
    )
    return VectorStoreError(msg)


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
    input_keys: list[str]
    """Fields embedded and compared (required: vectors are computed when an example is added)."""
    k: int = 4
    """Number of examples to select."""
    example_keys: list[str] | None = None
    """Fields of the returned examples (``None``: all)."""
    fusion: Fusion = "weighted"
    """How the two signals are combined (see the class docstring)."""
    fetch_k: int = 50
    """Candidates taken from each source before fusion."""
    vector_weight: float = 0.5
    """Weight of the vector score (``weighted``) or ranking (``rrf``)."""
    lexical_weight: float = 0.5
    """Weight of the lexical score (``weighted``) or ranking (``rrf``)."""
    rrf_k: int = 60
    """Rank offset of reciprocal-rank fusion (larger: flatter)."""
    on_vector_error: Literal["fallback", "raise"] = "fallback"
    """What to do when the vector store fails during a selection."""
    vectorstore_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments for the vector store's similarity search (e.g. a filter)."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    _last_fallback: str | None = PrivateAttr(default=None)
    _relevance: bool | None = PrivateAttr(default=None)
    _scores: bool | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        _check_settings(data)
        super().__init__(**data)

    def __setattr__(self, name: str, value: Any) -> None:
        _check_settings({name: value})
        super().__setattr__(name, value)

    # -- copying and pickling ------------------------------------------------------------
    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        fields = dict(state["__dict__"])
        try:  # pickled here so that a store that cannot be pickled gets a clear error
            fields["vectorstore"] = _PickledStore(
                pickle.dumps(fields["vectorstore"], protocol=pickle.HIGHEST_PROTOCOL)
            )
        except Exception as exc:
            raise _copy_error(self.vectorstore, exc, pickling=True) from exc
        state["__dict__"] = fields
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        fields = dict(state["__dict__"])
        stored = fields.get("vectorstore")
        if isinstance(stored, _PickledStore):
            # bytes written by __getstate__ inside the very pickle being loaded
            fields["vectorstore"] = pickle.loads(stored.data)  # noqa: S301
        super().__setstate__({**state, "__dict__": fields})

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> HybridExampleSelector:
        memo = {} if memo is None else memo
        try:
            copy.deepcopy(self.vectorstore, memo)  # kept in memo for the field copy below
        except Exception as exc:
            raise _copy_error(self.vectorstore, exc, pickling=False) from exc
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
        settings = {
            name: kwargs.pop(name)
            for name in (
                "k",
                "example_keys",
                "fusion",
                "fetch_k",
                "vector_weight",
                "lexical_weight",
                "rrf_k",
                "on_vector_error",
                "vectorstore_kwargs",
            )
            if name in kwargs
        }
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
            for example_id in new_ids:
                self.lexical.remove_example(example_id)
            msg = f"the vector store rejected {len(new_ids)} example(s); nothing was added: {exc}"
            raise VectorStoreError(msg) from exc
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
            for example_id in new_ids:
                self.lexical.remove_example(example_id)
            msg = f"the vector store rejected {len(new_ids)} example(s); nothing was added: {exc}"
            raise VectorStoreError(msg) from exc
        return new_ids

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
        return [self._text(examples[i]) for i in ids], [{ID_KEY: i} for i in ids]

    # -- selection --------------------------------------------------------------------------
    def search(self, input_variables: dict[str, Any]) -> list[ScoredExample]:
        """Select examples with ids and fused scores.

        Args:
            input_variables: The prompt's input variables.

        Returns:
            Up to ``k`` examples, best first.
        """
        text = self._prepare(input_variables)
        if text is None:
            return []
        try:
            hits = self._vector_search(text)
        except Exception as exc:
            return self._fallback(exc, input_variables)
        return self._fuse(input_variables, hits)

    async def asearch(self, input_variables: dict[str, Any]) -> list[ScoredExample]:
        """Async twin of :meth:`search` (native async vector search).

        Args:
            input_variables: The prompt's input variables.

        Returns:
            Up to ``k`` examples, best first.
        """
        text = self._prepare(input_variables)
        if text is None:
            return []
        try:
            hits = await self._avector_search(text)
        except Exception as exc:
            return self._fallback(exc, input_variables)
        return self._fuse(input_variables, hits)

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
        self, input_variables: dict[str, Any]
    ) -> list[tuple[dict[str, Any], float]]:
        """Select examples with their fused scores.

        Args:
            input_variables: The prompt's input variables.

        Returns:
            ``(example, score)`` pairs, best first.
        """
        return [(s.example, s.score) for s in self.search(input_variables)]

    async def aselect_examples_with_scores(
        self, input_variables: dict[str, Any]
    ) -> list[tuple[dict[str, Any], float]]:
        """Async twin of :meth:`select_examples_with_scores`.

        Args:
            input_variables: The prompt's input variables.

        Returns:
            ``(example, score)`` pairs, best first.
        """
        return [(s.example, s.score) for s in await self.asearch(input_variables)]

    # -- vector search -----------------------------------------------------------------------
    def _scores_available(self) -> bool:
        """Whether the store returns scores (a minimal store implements only ``similarity_search``)."""
        if self._scores is None:
            store = type(self.vectorstore)
            self._scores = (
                store.similarity_search_with_score is not VectorStore.similarity_search_with_score
                or store.asimilarity_search_with_score
                is not VectorStore.asimilarity_search_with_score
            )
        return self._scores

    def _no_scores(self) -> None:
        """Remember that the store has no scores (it raised ``NotImplementedError``)."""
        self._scores = False
        logger.info(
            "HybridExampleSelector: %s returns no scores; its ranking is used",
            type(self.vectorstore).__name__,
        )

    def _vector_search(self, text: str) -> list[tuple[Document, float]]:
        store, kwargs = self.vectorstore, self.vectorstore_kwargs
        if self._scores_available():
            try:
                if self._relevance_available():
                    return store.similarity_search_with_relevance_scores(
                        text, k=self.fetch_k, **kwargs
                    )
                return store.similarity_search_with_score(text, k=self.fetch_k, **kwargs)
            except NotImplementedError:
                self._no_scores()
        return _ranked(store.similarity_search(text, k=self.fetch_k, **kwargs))

    async def _avector_search(self, text: str) -> list[tuple[Document, float]]:
        store, kwargs = self.vectorstore, self.vectorstore_kwargs
        if self._scores_available():
            try:
                if self._relevance_available():
                    return await store.asimilarity_search_with_relevance_scores(
                        text, k=self.fetch_k, **kwargs
                    )
                return await store.asimilarity_search_with_score(text, k=self.fetch_k, **kwargs)
            except NotImplementedError:
                self._no_scores()
        return _ranked(await store.asimilarity_search(text, k=self.fetch_k, **kwargs))

    # -- fusion ------------------------------------------------------------------------------
    def _relevance_available(self) -> bool:
        """Whether the store maps its scores to [0, 1] relevance (checked once)."""
        if self._relevance is None:
            try:
                self.vectorstore._select_relevance_score_fn()  # langchain-core hook
            except NotImplementedError:
                self._relevance = False
            else:
                self._relevance = True
        return self._relevance

    def _prepare(self, input_variables: Mapping[str, Any]) -> str | None:
        if not isinstance(input_variables, Mapping):
            msg = f"input_variables must be a dict, got {type(input_variables).__name__} {preview(input_variables)}"
            raise InvalidExampleError(msg)
        for key in self.input_keys:
            if key not in input_variables:
                msg = f"the input has no field {key!r} (input_keys={self.input_keys})"
                raise MissingKeyError(msg, key=key)
        self._last_fallback = None
        text = self._text(input_variables)
        return text if text.strip() else None

    def _lexical_ranking(self, input_variables: Mapping[str, Any]) -> list[ScoredExample]:
        return self.lexical.search(dict(input_variables), k=max(self.fetch_k, self.k))

    def _fallback(self, exc: Exception, input_variables: Mapping[str, Any]) -> list[ScoredExample]:
        if self.on_vector_error == "raise":
            msg = f"the vector store failed during selection: {type(exc).__name__}: {exc}"
            raise VectorStoreError(msg) from exc
        reason = f"vector store failed ({type(exc).__name__}: {exc}); lexical ranking used"
        self._last_fallback = reason
        logger.warning("HybridExampleSelector: %s", reason)
        warnings.warn(f"HybridExampleSelector: {reason}", FallbackWarning, stacklevel=3)
        ranked = self.lexical.search(dict(input_variables), k=self.k)
        return [self._project(s) for s in ranked]

    def _vector_candidates(
        self, hits: Sequence[tuple[Document, float]]
    ) -> tuple[list[str], list[float]]:
        """Example ids in vector order, with scores oriented so that higher is better."""
        ids: list[str] = []
        scores: list[float] = []
        seen: set[str] = set()
        for document, score in hits:
            example_id = document.metadata.get(ID_KEY, document.id)
            if isinstance(example_id, str) and example_id not in seen:
                seen.add(example_id)
                ids.append(example_id)
                scores.append(float(score))
        if self._scores and not self._relevance and len(scores) > 1 and scores[-1] > scores[0]:
            # Distances (growing down the ranking): rescale to [0, 1], best = 1.
            lo, hi = scores[0], scores[-1]
            scores = [(hi - s) / (hi - lo) for s in scores]
        return ids, scores

    def _fuse(
        self, input_variables: dict[str, Any], hits: Sequence[tuple[Document, float]]
    ) -> list[ScoredExample]:
        vector_ids, vector_scores = self._vector_candidates(hits)
        examples = self._lookup(vector_ids)
        stale = [i for i in vector_ids if i not in examples]
        if stale:
            logger.warning("vector store returned ids unknown to the lexical index: %s", stale[:5])
            known = [n for n, i in enumerate(vector_ids) if i in examples]
            vector_ids = [vector_ids[n] for n in known]
            vector_scores = [vector_scores[n] for n in known]
        if self.fusion == "rrf":
            return self._rrf(vector_ids, examples, self._lexical_ranking(input_variables))
        lexical = [score or 0.0 for score in self.lexical.scores_for(input_variables, vector_ids)]
        if self.fusion == "weighted":
            fused = [
                self.vector_weight * v + self.lexical_weight * lex
                for v, lex in zip(vector_scores, lexical, strict=True)
            ]
        else:  # rerank
            fused = lexical
        order = sorted(range(len(vector_ids)), key=lambda i: (-fused[i], i))  # ties: vector rank
        chosen = [ScoredExample(vector_ids[i], examples[vector_ids[i]], fused[i]) for i in order]
        if len(chosen) < self.k:  # vector store short of candidates: fill from the lexical side
            have = {s.id for s in chosen}
            chosen.extend(s for s in self._lexical_ranking(input_variables) if s.id not in have)
        return [self._project(s) for s in chosen[: self.k]]

    def _rrf(
        self,
        vector_ids: list[str],
        examples: dict[str, dict[str, Any]],
        lexical_ranked: list[ScoredExample],
    ) -> list[ScoredExample]:
        fused: dict[str, float] = {}
        for rank, example_id in enumerate(vector_ids, start=1):
            fused[example_id] = fused.get(example_id, 0.0) + self.vector_weight / (
                self.rrf_k + rank
            )
        for rank, scored in enumerate(lexical_ranked, start=1):
            examples.setdefault(scored.id, scored.example)
            fused[scored.id] = fused.get(scored.id, 0.0) + self.lexical_weight / (self.rrf_k + rank)
        first_seen = {example_id: n for n, example_id in enumerate(fused)}
        order = sorted(fused, key=lambda i: (-fused[i], first_seen[i]))[: self.k]
        return [self._project(ScoredExample(i, examples[i], fused[i])) for i in order]

    def _lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        lexical = self.lexical
        with lexical._lock:
            store = lexical._store
            out = {}
            for example_id in ids:
                row = store.row_of(example_id)
                if row is not None:
                    out[example_id] = store.get(row)
            return out

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


def _ranked(documents: Sequence[Document]) -> list[tuple[Document, float]]:
    """Scores for a store without scores: the rank rescaled to [0, 1] (best 1, last 0)."""
    last = len(documents) - 1
    return [(doc, 1.0 - i / last if last else 1.0) for i, doc in enumerate(documents)]


def _documents(
    lexical: JaccardExampleSelector, input_keys: list[str]
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    ids = lexical.ids
    texts = [" ".join(example_fields(e, sorted(input_keys))) for e in lexical.examples]
    return texts, [{ID_KEY: i} for i in ids], ids


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_weight(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf


_SETTINGS: dict[str, tuple[Any, str]] = {
    "k": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "fetch_k": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "rrf_k": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "vector_weight": (_is_weight, "a number >= 0 and finite"),
    "lexical_weight": (_is_weight, "a number >= 0 and finite"),
    "fusion": (lambda v: v in ("weighted", "rerank", "rrf"), "'weighted', 'rerank' or 'rrf'"),
    "on_vector_error": (lambda v: v in ("fallback", "raise"), "'fallback' or 'raise'"),
    "input_keys": (
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v),
        "a non-empty list of field names (the fields embedded when an example is added)",
    ),
}


def _check_settings(data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        rule = _SETTINGS.get(name)
        if rule is not None and not rule[0](value):
            msg = f"{name} must be {rule[1]}, got {preview(value)}"
            raise InvalidParameterError(msg, name=name, value=value)
