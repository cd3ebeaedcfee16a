"""What every lexical example selector of this package shares.

:class:`LexicalExampleSelector` fixes the public conventions (parameters, their
checks, which fields are compared, the order of results, ``threshold``,
``diversity``, the token budget, ``example_keys``), the constructor, and, through
:class:`~langchain_niche.selectors.stored.StoredExamples`, adding, removing,
size and saving over the subclass's storage. A subclass opens its storage
(``_open_storage``) and produces the scored candidates for a set of shingles
(``_candidates``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.messages import get_buffer_string
from langchain_core.prompts import BasePromptTemplate, StringPromptTemplate
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr
from typing_extensions import Self

from langchain_niche._copying import PortableModel
from langchain_niche._validation import (
    TypedValidationErrors,
    field_names_or_none,
    integer_at_least,
    number_at_least_zero,
    one_of,
    optional_callable,
    require_integer_at_least,
    unit_interval,
)
from langchain_niche.errors import (
    InvalidExampleError,
    KeyMismatchError,
    MissingKeyError,
    preview,
)
from langchain_niche.scope import Scope, check_filter_keys
from langchain_niche.selectors.examples import (
    Candidate,
    ScoredExample,
    check_ids_encodable,
    copy_examples,
    jaccard,
)
from langchain_niche.selectors.stored import ExampleStorage, StoredExamples
from langchain_niche.stopwords import StopwordsSpec
from langchain_niche.text import (
    AnalyzerKind,
    TextAnalyzer,
    TokenizerFn,
    example_fields,
    stopwords_spec,
)
from langchain_niche.tokens import TokenCounter, approximate_token_count

__all__ = [
    "Candidate",
    "LexicalExampleSelector",
    "ScoredExample",
    "check_ids_encodable",
    "copy_examples",
    "jaccard",
]

Similarity = Literal["jaccard", "bm25"]
"""How a lexical selector scores an example against the input."""

Examples = Iterable[Mapping[str, Any]] | None
"""Initial examples of a selector's constructor."""
Ids = Sequence[str] | None
"""Their ids (``None``: insertion numbers)."""

DEFAULT_FETCH_K = 20
"""Candidates re-ranked by maximal marginal relevance when ``diversity > 0``."""


class LexicalExampleSelector(
    StoredExamples, BaseExampleSelector, TypedValidationErrors, PortableModel, ABC
):
    """Base class of the package's lexical example selectors (not used directly).

    Subclasses implement :meth:`_candidates` (and storage); this class turns
    inputs into shingles and candidates into the final, ordered selection.

    Copies and pickles: ``copy.deepcopy(selector)``, ``pickle.dumps(selector)`` and
    ``selector.model_copy(deep=True)`` give an independent selector (adding to one
    does not change the other) that selects exactly as the original did. The
    index is copied under the selector's lock, so a copy taken while other
    threads add examples holds each example completely or not at all.
    ``model_copy()`` (shallow) gives a second view of the *same* examples and index
    with settings of its own (``model_copy(update={"k": 2})``).
    """

    k: Annotated[int, integer_at_least(1)] = 4
    """Number of examples to select (fewer come back when fewer pass ``threshold``)."""

    input_keys: Annotated[list[str] | None, field_names_or_none()] = Field(
        default=None, frozen=True
    )
    """Fields compared between input and examples. ``None``: the input's own
    fields that examples have (so an ``answer`` field is compared only when the
    input has it; extra input variables are ignored)."""

    filter_keys: Annotated[list[str] | None, field_names_or_none()] = Field(
        default=None, frozen=True
    )
    """Fields that scope every selection (issue 14): only examples whose values
    equal the input's values for these fields are candidates, and these fields
    are never compared for similarity. An input without one of them raises
    ``MissingKeyError`` (never an unscoped selection). Combined by AND with a
    per-call ``filter=`` of :meth:`search`."""

    example_keys: Annotated[list[str] | None, field_names_or_none()] = None
    """Fields of the returned examples (``None``: all fields)."""

    tokenizer: TokenizerFn | None = Field(default=None, frozen=True)
    """``None``: lower-cased Unicode words (see ``default_tokenizer``); or any
    ``Callable[[str], Iterable[str]]``, e.g. ``str.split``."""

    ngram_range: tuple[int, int] = Field(default=(1, 1), frozen=True)
    """``(min_n, max_n)`` of word (or character) n-grams; ``(1, 2)`` adds bigrams."""

    analyzer: AnalyzerKind = Field(default="word", frozen=True)
    """``"word"`` (tokens and word n-grams) or ``"char"`` (character n-grams,
    for languages without spaces between words)."""

    stopwords: StopwordsSpec = Field(default=None, frozen=True)
    """``None`` (keep every token), ``"english"`` (this package's list of English
    function words) or a collection of words to ignore (word analyzer only)."""

    similarity: Annotated[Similarity, one_of("jaccard", "bm25")] = "jaccard"
    """``"jaccard"``: exact Jaccard similarity of the token sets (default).
    ``"bm25"``: BM25 over token sets, which weights rare tokens by their inverse
    document frequency and normalises by example length; scores are divided by
    the score of an ideal example so they lie in [0, 1]."""

    bm25_k1: Annotated[float, number_at_least_zero()] = 1.2
    """BM25 ``k1`` (with token sets it only scales the length normalisation)."""

    bm25_b: Annotated[float, unit_interval()] = 0.75
    """BM25 length normalisation ``b`` in [0, 1] (0: ignore example length)."""

    threshold: Annotated[float, unit_interval()] = 0.0
    """Minimum similarity in [0, 1]; examples below it are never returned.
    Examples sharing no token with the input are never returned either."""

    diversity: Annotated[float, unit_interval()] = 0.0
    """In [0, 1]: 0 ranks by similarity only; higher values re-rank the top
    ``fetch_k`` candidates by maximal marginal relevance, penalising examples
    similar (Jaccard) to those already chosen."""

    fetch_k: Annotated[int, integer_at_least(1)] = DEFAULT_FETCH_K
    """Candidates considered by the diversity re-ranking (at least ``k``)."""

    max_tokens: Annotated[int | None, integer_at_least(1, optional=True)] = None
    """Token budget for the selected examples' formatted text: examples are
    taken in rank order while the total still fits; the first that does not fit
    ends the selection."""

    token_counter: Annotated[TokenCounter | None, optional_callable()] = None
    """Counts tokens for ``max_tokens`` (default: ``approximate_token_count``;
    e.g. ``chat_model.get_num_tokens`` for exact counts)."""

    example_prompt: BasePromptTemplate | None = None  # type: ignore[type-arg]
    """Formats an example for the token budget (the same prompt you give the
    few-shot template). Default: one ``key: value`` line per field."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    _analyzer: TextAnalyzer = PrivateAttr()
    _storage: ExampleStorage = PrivateAttr()

    def __init__(self, examples: Examples = None, *, ids: Ids = None, **kwargs: Any) -> None:
        """Create a selector, optionally with initial examples.

        Args:
            examples: Initial examples (dicts of field name to text).
            ids: Optional ids for the initial examples (default: ``"0"``, ``"1"``, ...).
            **kwargs: The selector's settings (``k``, ``input_keys`` ...).

        Raises:
            InvalidParameterError: A setting is out of range.
            StoreUnavailableError: A shared storage (Redis) cannot be reached.
            IndexFormatError: The shared index was built with other settings.
        """
        self._configure(kwargs)
        self._storage = self._open_storage(kwargs)
        if examples is not None:
            self.add_examples(examples, ids=ids)

    def _configure(self, data: dict[str, Any]) -> None:
        """Validate the settings (pydantic) and build the text analyzer."""
        analyzer = TextAnalyzer(
            tokenizer=data.get("tokenizer"),
            ngram_range=data.get("ngram_range", (1, 1)),
            analyzer=data.get("analyzer", "word"),
            stopwords=data.get("stopwords"),
        )
        if "ngram_range" in data:
            data = {**data, "ngram_range": analyzer.ngram_range}
        super().__init__(**data)
        if self.filter_keys is not None:
            check_filter_keys(self.filter_keys, self.input_keys)
        self._analyzer = analyzer

    @abstractmethod
    def _open_storage(self, settings: dict[str, Any]) -> ExampleStorage:
        """The storage of a new selector (``settings``: the constructor's keyword arguments)."""

    @abstractmethod
    def _candidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        """Return up to ``limit`` candidates sorted by score (desc), then insertion order.

        Only candidates with a score > 0 and >= ``threshold`` may be returned, and
        with a ``scope`` only examples it matches (restricted before scoring, so the
        result is the unscoped one over the matching examples alone).
        """

    # -- creating -----------------------------------------------------------------
    @classmethod
    def from_examples(cls, examples: Iterable[Mapping[str, Any]], **kwargs: Any) -> Self:
        """Create a selector from examples.

        Args:
            examples: The examples.
            **kwargs: Settings, as for the constructor (``ids`` included).

        Returns:
            The selector.
        """
        return cls(examples=examples, **kwargs)

    @classmethod
    async def afrom_examples(cls, examples: Iterable[Mapping[str, Any]], **kwargs: Any) -> Self:
        """Async twin of :meth:`from_examples`.

        The selector is created in the default executor, then the examples are
        added with :meth:`aadd_examples` (native async with Redis).

        Args:
            examples: The examples.
            **kwargs: Settings, as for the constructor (``ids`` included).

        Returns:
            The selector.
        """
        batch = list(examples)
        ids = kwargs.pop("ids", None)
        selector = await run_in_executor(None, lambda: cls(**kwargs))
        if batch:
            await selector.aadd_examples(batch, ids=ids)
        return selector

    # -- which text is compared -----------------------------------------------
    def _compared_keys(self, input_variables: Mapping[str, Any]) -> tuple[str, ...] | None:
        """Resolve the compared fields for this input (``None``: nothing stored)."""
        if not isinstance(input_variables, Mapping):
            msg = f"input_variables must be a dict, got {type(input_variables).__name__} {preview(input_variables)}"
            raise InvalidExampleError(msg)
        if self.input_keys:
            for key in self.input_keys:
                if key not in input_variables:
                    msg = f"the input has no field {key!r} (input_keys={self.input_keys}); it has {sorted(input_variables)}"
                    raise MissingKeyError(msg, key=key)
            return tuple(sorted(self.input_keys))
        known = set(self._known_keys()).difference(self.filter_keys or ())
        if not known:
            return None
        keys = tuple(sorted(key for key in input_variables if key in known))
        if not keys:
            msg = (
                f"none of the input's fields {sorted(input_variables)} appear in the examples "
                f"(their fields: {sorted(known)}); pass input_keys=[...] to choose the compared fields"
            )
            raise KeyMismatchError(
                msg, input_keys=sorted(input_variables), example_keys=sorted(known)
            )
        return keys

    def _input_shingles(self, input_variables: Mapping[str, Any], keys: Sequence[str]) -> set[str]:
        return self._analyzer.field_shingles(example_fields(input_variables, keys, index=None))

    # -- selection --------------------------------------------------------------
    def search(
        self,
        input_variables: dict[str, Any],
        *,
        k: int | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[ScoredExample]:
        """Select examples and return them with their ids and similarity scores.

        Args:
            input_variables: The prompt's input variables (with ``filter_keys``,
                they carry the scope: ``{"tenant": "acme", "question": ...}``).
            k: How many to select for this call (default: the ``k`` setting).
            filter: Only examples matching it are candidates, ANDed with
                ``filter_keys``: ``{"tenant": "acme", "lang": ["de", "fr"]}`` (a
                scalar is equality, a list membership; ``[]`` matches nothing).
                ``k``, ``threshold``, ``diversity`` and ``max_tokens`` apply after
                filtering.

        Returns:
            Up to ``k`` examples, best first (ties broken by insertion order; with
            ``diversity > 0``, in re-ranked order).

        Raises:
            MissingKeyError: The input lacks a ``filter_keys`` field.
            InvalidParameterError: ``filter`` or a filter value is invalid.
        """
        prepared = self._prepare_search(input_variables, k, filter)
        if prepared is None:
            return []
        keys, shingles, limit, k, scope = prepared
        return self._finish_search(keys, self._candidates(keys, shingles, limit, scope), k)

    def scope_of(
        self,
        input_variables: Mapping[str, Any],
        filter: Mapping[str, Any] | None = None,
    ) -> Scope:
        """The scope of a selection: ``filter_keys`` from the input AND ``filter``.

        Args:
            input_variables: The prompt's input variables.
            filter: The per-call filter.

        Returns:
            The scope (unrestricted without ``filter_keys`` and ``filter``).

        Raises:
            MissingKeyError: The input lacks a ``filter_keys`` field.
            InvalidParameterError: ``filter`` or a filter value is invalid.
        """
        if not isinstance(input_variables, Mapping):
            msg = f"input_variables must be a dict, got {type(input_variables).__name__} {preview(input_variables)}"
            raise InvalidExampleError(msg)
        return Scope.for_call(self.filter_keys or (), input_variables, filter)

    def _prepare_search(
        self,
        input_variables: Mapping[str, Any],
        k: int | None,
        filter: Mapping[str, Any] | None = None,
    ) -> tuple[tuple[str, ...], set[str], int, int, Scope | None] | None:
        """Compared fields, input shingles, candidate limit, ``k`` and scope (``None``: select nothing)."""
        if k is None:
            k = self.k
        else:
            require_integer_at_least("k", k, 1)
        scope = self.scope_of(input_variables, filter)
        keys = self._compared_keys(input_variables)
        if keys is None or scope.is_empty():
            return None
        shingles = self._input_shingles(input_variables, keys)
        if not shingles:
            return None
        limit = max(k, self.fetch_k) if self.diversity > 0 else k
        return keys, shingles, limit, k, None if scope.is_unrestricted() else scope

    def _finish_search(
        self, keys: tuple[str, ...], candidates: list[Candidate], k: int
    ) -> list[ScoredExample]:
        """Diversity re-ranking, ``k`` cut, ``example_keys`` projection and token budget."""
        if self.diversity > 0 and len(candidates) > 1:
            candidates = self._rerank_diverse(candidates, keys, k)
        candidates = candidates[:k]
        selected = [ScoredExample(c.id, self._project(c), c.score) for c in candidates]
        if self.max_tokens is not None:
            selected = self._fit_budget(selected)
        return selected

    def select_examples_with_scores(
        self,
        input_variables: dict[str, Any],
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> list[tuple[dict[str, Any], float]]:
        """Select examples with their similarity to the input.

        Args:
            input_variables: The prompt's input variables.
            filter: Per-call filter, as for :meth:`search`.

        Returns:
            ``(example, score)`` pairs, best first; ties broken by insertion order.
        """
        return [(s.example, s.score) for s in self.search(input_variables, filter=filter)]

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Select the examples most similar to the input.

        Args:
            input_variables: The prompt's input variables (extra variables, such
                as chat history passed by ``FewShotChatMessagePromptTemplate``,
                are ignored unless they are example fields).

        Returns:
            Up to ``k`` examples (copies), best first.
        """
        return [s.example for s in self.search(input_variables)]

    async def aselect_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Async twin of :meth:`select_examples`.

        Args:
            input_variables: The prompt's input variables.

        Returns:
            Up to ``k`` examples (copies), best first.
        """
        return [s.example for s in await self.asearch(input_variables)]

    async def aselect_examples_with_scores(
        self, input_variables: dict[str, Any], *, filter: Mapping[str, Any] | None = None
    ) -> list[tuple[dict[str, Any], float]]:
        """Async twin of :meth:`select_examples_with_scores` (same arguments and result)."""
        return [(s.example, s.score) for s in await self.asearch(input_variables, filter=filter)]

    async def asearch(
        self,
        input_variables: dict[str, Any],
        *,
        k: int | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[ScoredExample]:
        """Async twin of :meth:`search`.

        Selection over a built in-memory index takes well under a millisecond and
        runs in the event loop; when an index must first be built (first query of
        a new set of compared fields) the work runs in the default executor. A
        selector over a network store (Redis) awaits it natively.

        Args:
            input_variables: The prompt's input variables.
            k: How many to select for this call (default: the ``k`` setting).
            filter: Per-call filter, as for :meth:`search`.

        Returns:
            Up to ``k`` examples with ids and scores.
        """
        if self._has_native_async():
            prepared = self._prepare_search(input_variables, k, filter)
            if prepared is None:
                return []
            keys, shingles, limit, k, scope = prepared
            candidates = await self._acandidates(keys, shingles, limit, scope)
            return self._finish_search(keys, candidates, k)
        if self._search_is_cheap(input_variables):
            return self.search(input_variables, k=k, filter=filter)
        return await run_in_executor(None, lambda: self.search(input_variables, k=k, filter=filter))

    def _search_is_cheap(self, input_variables: Mapping[str, Any]) -> bool:
        try:
            keys = self._compared_keys(input_variables)
        except (KeyError, TypeError, ValueError):
            return True  # the sync path raises the error
        return self._storage.is_cheap(keys, exact_fallback=self._scans_on_fallback())

    def _scans_on_fallback(self) -> bool:
        """Whether a selection may scan every example (then it is not cheap on a large corpus)."""
        return False

    def _has_native_async(self) -> bool:
        """Whether :meth:`_acandidates` does native async I/O (e.g. a Redis index)."""
        return False

    async def _acandidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        """Async twin of :meth:`_candidates`, used when :meth:`_has_native_async` is true."""
        return self._candidates(keys, shingles, limit, scope)

    # -- post-processing --------------------------------------------------------
    def _project(self, candidate: Candidate) -> dict[str, Any]:
        example = candidate.example
        if not self.example_keys:
            return dict(example)
        out = {}
        for key in self.example_keys:
            if key not in example:
                msg = f"example {candidate.id!r} has no field {key!r} listed in example_keys"
                raise MissingKeyError(msg, key=key)
            out[key] = example[key]
        return out

    def _rerank_diverse(
        self, candidates: list[Candidate], keys: tuple[str, ...], k: int
    ) -> list[Candidate]:
        """Greedy maximal marginal relevance with Jaccard between examples."""
        weight = self.diversity
        sets = [self._analyzer.example_shingles(c.example, keys) for c in candidates]
        remaining = list(range(len(candidates)))
        chosen: list[int] = []
        max_sim = [0.0] * len(candidates)
        while remaining and len(chosen) < k:
            best = max(
                remaining,
                key=lambda i: ((1.0 - weight) * candidates[i].score - weight * max_sim[i], -i),
            )
            chosen.append(best)
            remaining.remove(best)
            for i in remaining:
                max_sim[i] = max(max_sim[i], jaccard(sets[i], sets[best]))
        return [candidates[i] for i in chosen]

    def format_example(self, example: Mapping[str, Any]) -> str:
        """Format an example the way the token budget counts it.

        Args:
            example: A (projected) example.

        Returns:
            Its text: ``example_prompt`` applied to it, or one ``key: value`` line
            per field.
        """
        prompt = self.example_prompt
        if prompt is None:
            return "\n".join(f"{key}: {value}" for key, value in example.items())
        if isinstance(prompt, StringPromptTemplate):
            return prompt.format(**example)
        return get_buffer_string(prompt.format_messages(**example))  # type: ignore[attr-defined]

    def _fit_budget(self, selected: list[ScoredExample]) -> list[ScoredExample]:
        counter = self.token_counter or approximate_token_count
        budget = self.max_tokens or 0
        used = 0
        kept = []
        for item in selected:
            cost = counter(self.format_example(item.example))
            if used + cost > budget:
                break
            used += cost
            kept.append(item)
        return kept

    # -- helpers for subclasses -------------------------------------------------
    def _saved_settings(self) -> dict[str, Any]:
        return self._settings()

    def _settings(self) -> dict[str, Any]:
        """JSON-able settings (callables and prompts excluded)."""
        return {
            "k": self.k,
            "input_keys": self.input_keys,
            "filter_keys": self.filter_keys,
            "example_keys": self.example_keys,
            "ngram_range": list(self.ngram_range),
            "analyzer": self.analyzer,
            "stopwords": stopwords_spec(self.stopwords),
            "similarity": self.similarity,
            "bm25_k1": self.bm25_k1,
            "bm25_b": self.bm25_b,
            "threshold": self.threshold,
            "diversity": self.diversity,
            "fetch_k": self.fetch_k,
            "max_tokens": self.max_tokens,
            "tokenizer": self._analyzer.tokenizer_name,
        }
