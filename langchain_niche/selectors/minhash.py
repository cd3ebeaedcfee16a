"""MinHash-LSH example selection for corpora of millions of examples, in memory or Redis.

This module holds the selector only: its settings, their checks, and the choice
of storage. A selection goes selector -> :func:`~langchain_niche.minhash.selection.select`
(the algorithm, written once) -> :class:`~langchain_niche.minhash.storage.LshStorage`
(the contract) -> :class:`~langchain_niche.minhash.memory.MemoryLshStorage` or
:class:`~langchain_niche.minhash.redis.storage.RedisLshStorage`. Adding, removing,
size and saving are :class:`~langchain_niche.selectors.base.LexicalExampleSelector`'s,
shared with the Jaccard selector.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from langchain_niche._validation import (
    checked,
    integer_at_least,
    number_above_zero,
    one_of,
)
from langchain_niche.errors import (
    IndexFormatError,
    InvalidParameterError,
)
from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.encoding import LshEncoder
from langchain_niche.minhash.memory import MemoryLshStorage
from langchain_niche.minhash.prefilter import Prefilter
from langchain_niche.minhash.redis.postings import check_bucket_bits
from langchain_niche.minhash.redis.url import check_index_name, check_redis_url
from langchain_niche.minhash.selection import aselect, select
from langchain_niche.minhash.sketches import MinHasher, check_num_perm, check_seed
from langchain_niche.minhash.storage import LshStorage, SelectionRequest
from langchain_niche.persistence import (
    IndexReader,
    build_from_config,
)
from langchain_niche.scope import Scope
from langchain_niche.selectors.base import Candidate, Examples, Ids, LexicalExampleSelector

__all__ = ["MinHashExampleSelector"]

RerankKind = Literal["jaccard", "minhash"]
FallbackKind = Literal["probe", "exact", "none"]

_ASYNC_INLINE_BATCH = 256
_REDIS_SETTINGS = (
    "redis_url",
    "index_name",
    "redis_timeout",
    "redis_max_connections",
    "redis_batch_size",
    "redis_cluster",
    "redis_shards",
    "redis_bucket_bits",
    "redis_wait_replicas",
)
_INDEX_SETTINGS = ("num_perm", "lsh_threshold", "lsh_weights", "seed")
_UNSAVED = ("index_name",)  # nor callables, prompts and redis_* settings
DEFAULT_LSH_WEIGHTS = (0.1, 0.9)
"""Default ``(false_positive_weight, false_negative_weight)``: recall first."""


def _check_similarity(value: Any) -> None:
    if value != "jaccard":
        msg = (
            f"MinHashExampleSelector scores by Jaccard similarity (what MinHash estimates); "
            f"similarity={value!r} is not supported (use JaccardExampleSelector for BM25)"
        )
        raise InvalidParameterError(msg, name="similarity", value=value)


def _only(check: Any) -> Any:
    """A field validator for a check that knows its field's name."""
    return checked(lambda _name, value: check(value))


class MinHashExampleSelector(LexicalExampleSelector):
    r"""Select few-shot examples from millions with MinHash-LSH, in memory or in Redis.

    Selection (the README's "MinHash" section has the measured details):

    1. **Candidates by LSH banding**: examples sharing a whole band of the
       input's MinHash signature (``b`` bands of ``r`` values, chosen as
       ``datasketch.MinHashLSH`` chooses them for ``lsh_threshold`` and
       ``lsh_weights``; the default weights favour recall: ``b=32, r=4``).
    2. **Pre-filter (in memory)**: beyond ``rerank_limit`` candidates, 64-byte
       sketches keep the best by estimated similarity plus every candidate
       that may reach ``lsh_threshold`` (dropped with probability at most 1e-4;
       see :mod:`langchain_niche.minhash.prefilter`). Redis re-ranks all.
    3. **Re-ranking**: ``rerank="jaccard"`` scores by *exact* Jaccard similarity
       on the stored token ids (equal to ``JaccardExampleSelector``'s);
       ``"minhash"`` by the MinHash estimate.
    4. **Fallback** when banding cannot fill the result: ``"probe"`` ranks
       examples sharing band prefixes (at most ``8 * probe_limit`` index
       entries read), ``"exact"`` scans every example (in memory only; the
       result is then exactly ``JaccardExampleSelector``'s), ``"none"`` returns
       what banding found.

    Results are ordered like ``JaccardExampleSelector``'s: highest score first,
    ties broken by insertion order; examples sharing no token with the input or
    scoring below ``threshold`` are never returned.

    Storage: in this process by default (numpy arrays, about
    ``8 * tokens + 12 * b + 64`` bytes per example besides the example dicts;
    ``save``/``load`` write one file, no pickle), or with ``redis_url`` in Redis
    under ``index_name``, shared by every process using the same URL and name
    (key layout: :mod:`langchain_niche.minhash.redis.storage`).

    Copies and pickles give an independent in-memory selector; a Redis-backed
    one carries its settings, URL and index name but no connection: the copy
    reconnects (``StoreUnavailableError`` if it cannot) to the same index.

    Example:
        ```python
        from langchain_niche import MinHashExampleSelector

        selector = MinHashExampleSelector(
            examples=[{"question": "How do I reset my password?", "answer": "..."}],
            input_keys=["question"],
            k=4,
        )
        selector.select_examples({"question": "I forgot my password"})

        # shared by every process that uses the same Redis URL and index name
        shared = MinHashExampleSelector(
            redis_url="redis://localhost:6379/0", index_name="tickets", input_keys=["question"]
        )
        ```
    """

    num_perm: Annotated[int, _only(check_num_perm)] = Field(default=128, frozen=True)
    """Permutations per MinHash signature (2 to 1024). More: better recall
    curves, slower signatures."""

    lsh_threshold: float = Field(default=0.5, frozen=True)
    """The Jaccard similarity the banding targets (datasketch's ``threshold``)."""

    lsh_weights: tuple[float, float] = Field(default=DEFAULT_LSH_WEIGHTS, frozen=True)
    """``(false_positive_weight, false_negative_weight)`` used to choose ``(b, r)``
    (datasketch's ``weights``). The default ``(0.1, 0.9)`` favours recall: at the
    default ``lsh_threshold`` 0.5 it gives ``b=32, r=4``, which finds 87% of the
    neighbours at similarity 0.5 and 99% at 0.6 (datasketch's own default
    ``(0.5, 0.5)`` gives ``b=25, r=5``: 55% and 87%)."""

    seed: Annotated[int, _only(check_seed)] = Field(default=1, frozen=True)
    """Seed of the MinHash permutations (datasketch's ``seed``)."""

    similarity: Annotated[Literal["jaccard"], _only(_check_similarity)] = "jaccard"
    """Always ``"jaccard"`` (what MinHash estimates); BM25 needs ``JaccardExampleSelector``."""

    rerank: Annotated[RerankKind, one_of("jaccard", "minhash")] = "jaccard"
    """How candidates are scored: ``"jaccard"`` (exact) or ``"minhash"`` (estimate)."""

    fallback: Annotated[FallbackKind, one_of("probe", "exact", "none")] = "probe"
    """What to do when banding cannot fill the result: ``"probe"`` (fewer than ``k``
    candidates pass ``threshold``), ``"exact"`` (fewer than ``k`` reach
    ``lsh_threshold``) or ``"none"`` (see the class docstring)."""

    probe_limit: Annotated[int, integer_at_least(1)] = 50
    """Most candidates the ``"probe"`` fallback re-ranks (it reads at most 8 index
    entries per candidate it may re-rank)."""

    rerank_limit: Annotated[int | None, integer_at_least(1, optional=True)] = 50
    """In memory: when banding finds more candidates than this (and ``k``), only
    those the sketch pre-filter keeps are re-ranked: the ``rerank_limit`` best by
    estimated similarity (ties included) plus every one whose sketch makes a
    similarity of ``lsh_threshold`` or more plausible (see the class docstring).
    ``None``: re-rank every candidate. Redis re-ranks every candidate exactly."""

    redis_url: Annotated[str | None, _only(check_redis_url)] = Field(
        default=None, frozen=True, repr=False
    )
    """``None`` for in-memory storage, or a Redis URL (``redis://host:6379/0``)."""

    index_name: Annotated[str, _only(check_index_name)] = Field(default="default", frozen=True)
    """Namespace of the index in Redis (keys start with ``niche:{index_name}:``)."""

    redis_timeout: Annotated[float, number_above_zero()] = Field(default=5.0, frozen=True)
    """Seconds to wait for Redis (connect, each command, a free pooled connection).
    Every call is sent once, except that ``add_examples`` re-sends a chunk once after
    a timeout (a chunk is never written twice), so it gives up after about twice this."""

    redis_max_connections: Annotated[int, integer_at_least(1)] = Field(default=64, frozen=True)
    """Connections per pool; further concurrent selections wait for a free one."""

    redis_batch_size: Annotated[int, integer_at_least(1)] = 1000
    """Examples written to Redis per atomic step of ``add_examples`` (Redis serves
    nobody else during a step: about 0.1 s for 1,000 examples)."""

    redis_cluster: bool | None = Field(default=None, frozen=True)
    """``None``: a Redis Cluster is detected from the node of ``redis_url``
    (``INFO cluster``); ``True``/``False`` forces cluster mode or a single node."""

    redis_shards: Annotated[int | None, integer_at_least(1, optional=True)] = Field(
        default=None, frozen=True
    )
    """Shards of a new index (``None``: 1 on one node, one per master on a cluster); fixed at
    creation, stored in the index's ``config`` and adopted by every process
    opening it. Each shard has its own hash tag, so the shards spread over a
    cluster's masters; a selection looks up every shard."""

    redis_bucket_bits: Annotated[int | None, _only(check_bucket_bits)] = Field(
        default=None, frozen=True
    )
    """Postings buckets per band and shard of a new index, as a power of two (0 to 16;
    ``None``: 10, or the existing index's); fixed at creation, stored in ``config`` and
    adopted by every process opening it (another value raises
    :class:`IndexFormatError`). 10 keeps about 1.2 KB per example up to about 200,000
    examples per shard; each added bit doubles that (13: 1.6 million), and costs small
    indexes more memory (see the README's "Scaling out")."""

    redis_wait_replicas: Annotated[int, integer_at_least(0)] = Field(default=0, frozen=True)
    """After each write script, wait (``WAIT``, up to half of ``redis_timeout``) until this many replicas
    acknowledged it; fewer raise :class:`StoreUnavailableError` (the write is on the
    master: repeating it is safe). 0: no waiting."""

    _storage: LshStorage = PrivateAttr()
    _encoder: LshEncoder = PrivateAttr()

    def __init__(self, examples: Examples = None, *, ids: Ids = None, **kwargs: Any) -> None:
        """Create a selector, optionally with initial examples (see the base class)."""
        super().__init__(examples, ids=ids, **kwargs)

    def _open_storage(self, settings: dict[str, Any]) -> LshStorage:
        """The in-memory storage, or the shared Redis index (whose settings it adopts)."""
        redis_storage = None
        if self.redis_url is not None:
            from langchain_niche.minhash.redis.storage import RedisLshStorage  # noqa: PLC0415

            given = {name: getattr(self, name) for name in self.model_fields_set}
            shared = {**{name: getattr(self, name) for name in _REDIS_SETTINGS}, **given}
            redis_storage = RedisLshStorage.open(shared)  # adopts the shared index's settings
            if shared.keys() - given.keys() - set(_REDIS_SETTINGS):
                self._configure({**settings, **shared})
        self._encoder = LshEncoder(
            self._analyzer,
            MinHasher(self.num_perm, self.seed),
            Banding.for_threshold(self.lsh_threshold, self.num_perm, self.lsh_weights),
            Prefilter(self.num_perm, self.lsh_threshold),
        )
        fixed = tuple(sorted(self.input_keys)) if self.input_keys else None
        if redis_storage is None:
            return MemoryLshStorage(self._encoder, fixed, tuple(self.filter_keys or ()))
        # no sketches in Redis: every candidate is scored exactly
        redis_storage.attach(
            replace(self._encoder, prefilter=None), self._shared_index_settings(), fixed
        )
        return redis_storage

    @model_validator(mode="after")
    def _exact_fallback_needs_memory(self) -> Self:
        if self.fallback == "exact" and self.redis_url is not None:
            msg = (
                "fallback='exact' scans every example and needs the in-memory storage; "
                "use 'probe' or 'none' with redis_url"
            )
            raise InvalidParameterError(msg, name="fallback", value=self.fallback)
        return self

    # -- copying and pickling (see LexicalExampleSelector) -------------------------
    def _portable_private(self) -> dict[str, Any]:
        private = super()._portable_private()
        storage = private.get("_storage")
        if storage is None or storage.shared:
            private.pop("_storage", None)  # connections are never copied or pickled
        return private

    def _reconnect(self) -> None:
        """A copied or unpickled Redis-backed selector reconnects from its URL and index name."""
        if self.__pydantic_private__ and "_storage" in self.__pydantic_private__:
            return
        from langchain_niche.minhash.redis.storage import RedisLshStorage  # noqa: PLC0415

        settings = {name: getattr(self, name) for name in type(self).model_fields}
        storage = RedisLshStorage.open(settings)
        fixed = tuple(sorted(self.input_keys)) if self.input_keys else None
        storage.attach(replace(self._encoder, prefilter=None), self._shared_index_settings(), fixed)
        self._storage = storage

    # -- what the index is --------------------------------------------------------
    @property
    def bands(self) -> int:
        """Number of LSH bands ``b``."""
        return self._encoder.banding.bands

    @property
    def rows_per_band(self) -> int:
        """Signature values per band ``r``."""
        return self._encoder.banding.rows

    @property
    def banding(self) -> Banding:
        """The banding (``b``, ``r``, key layout)."""
        return self._encoder.banding

    @property
    def storage(self) -> LshStorage:
        """The storage (:class:`MemoryLshStorage` or ``RedisLshStorage``)."""
        return self._storage

    def _index_settings(self) -> dict[str, Any]:
        """The settings a saved or shared index must be used with."""
        settings = {name: getattr(self, name) for name in _INDEX_SETTINGS}
        return {**settings, "lsh_weights": list(self.lsh_weights), **self._encoder.describe()}

    def _shared_index_settings(self) -> dict[str, Any]:
        """The settings a shared (Redis) index records and checks.

        The index settings, and ``filter_keys`` when set (an unscoped index's
        config stays as before).
        """
        settings = self._index_settings()
        if self.filter_keys:
            settings["filter_keys"] = list(self.filter_keys)
        return settings

    def describe_index(self) -> dict[str, Any]:
        """A JSON-able summary: size, settings, banding, storage.

        Returns:
            ``{"examples": n, "storage": "memory" | "redis", ...}``.
        """
        info: dict[str, Any] = {
            "examples": len(self),
            "storage": self._storage.kind,
            **self._index_settings(),
            "input_keys": sorted(self.input_keys) if self.input_keys else None,
            "rerank": self.rerank,
            "fallback": self.fallback,
            **self._storage.describe(),
        }
        return info

    def audit(self) -> dict[str, Any]:
        """Check the index: every example complete (id, document, tokens, band entries).

        With Redis this reads the whole index (for tests and operations); the
        in-memory index is consistent by construction and reports its size.

        Returns:
            ``{"examples": n, "problems": [...]}``; no problems when consistent. In
            memory also ``"token_cache"``: token ids cached by the encoder (bounded).
        """
        return self._storage.audit()

    def _has_native_async(self) -> bool:
        return self._storage.shared

    def _scans_on_fallback(self) -> bool:
        return self.fallback == "exact"

    # -- selecting ---------------------------------------------------------------------------
    def _request(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None
    ) -> SelectionRequest:
        return SelectionRequest(
            compared=keys,
            query=self._encoder.query(shingles),
            limit=limit,
            threshold=self.threshold,
            lsh_threshold=self.lsh_threshold,
            rerank=self.rerank,
            fallback=self.fallback,
            probe_limit=self.probe_limit,
            rerank_limit=self.rerank_limit,
            scope=scope,
        )

    def _candidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        return select(self._storage, self._request(keys, shingles, limit, scope))

    async def _acandidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        return await aselect(self._storage, self._request(keys, shingles, limit, scope))

    # -- persistence -------------------------------------------------------------------------
    def _saved_settings(self) -> dict[str, Any]:
        return {**self._settings(), **self._own_settings()}

    def _saved_extra(self) -> dict[str, Any]:
        return {"index": self._index_settings()}

    @classmethod
    def _unsaved_settings(cls) -> tuple[str, ...]:
        return _UNSAVED

    @classmethod
    def _check_overrides(
        cls, path: str | os.PathLike[str], config: dict[str, Any], overrides: Mapping[str, Any]
    ) -> None:
        for name in _INDEX_SETTINGS:
            if name in overrides:
                given = list(overrides[name]) if name == "lsh_weights" else overrides[name]
                if given != config.get(name):
                    msg = (
                        f"{path} was built with {name}={config.get(name)!r}, got {name}={overrides[name]!r}; "
                        "rebuild the index with from_examples(...) to change it"
                    )
                    raise IndexFormatError(msg)
        if "redis_url" in overrides and overrides["redis_url"] is not None:
            msg = "load() restores an in-memory index; add its examples to a Redis selector instead"
            raise IndexFormatError(msg)

    def _own_settings(self) -> dict[str, Any]:
        names = (*_INDEX_SETTINGS, "rerank", "fallback", "probe_limit", "rerank_limit")
        settings = {name: getattr(self, name) for name in names}
        return {**settings, "lsh_weights": list(self.lsh_weights)}

    @classmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> MinHashExampleSelector:
        """Load a selector written by :meth:`save`.

        Args:
            path: The file.
            **overrides: Settings to use instead of the saved ones (``k``,
                ``threshold``, ``fallback`` ...). ``num_perm``, ``lsh_threshold``,
                ``lsh_weights`` and ``seed`` define the index and must match the
                saved values. Callables are never saved: pass ``tokenizer=`` again
                when the index was built with a custom tokenizer.

        Returns:
            A selector with the same examples, ids, settings and index.

        Raises:
            IndexFormatError: The file is not a saved selector of this class, is
                corrupt or inconsistent (the message names the member and the
                problem), was built with a custom tokenizer that was not passed
                again, or an override contradicts the saved index. Reading is
                bounded, and 64 evenly spaced examples are re-encoded to check the
                saved arrays: see :mod:`langchain_niche.persistence`.
        """
        with IndexReader(path, kind=cls.__name__) as reader:
            config = cls._saved_config(reader, path, overrides)
            selector = build_from_config(reader, cls, config, overrides)
            saved_index = reader.manifest.get("index")
            if saved_index != selector._index_settings():
                msg = f"{path}: the saved index settings {saved_index} do not match this selector's {selector._index_settings()}"
                raise IndexFormatError(msg)
            selector._storage.restore_saved(reader)
        return selector
