"""MinHash-LSH example selection for corpora of millions of examples, in memory or Redis."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from langchain_core.runnables.config import run_in_executor
from pydantic import Field, PrivateAttr

from langchain_niche.banding import Banding, optimal_bands
from langchain_niche.errors import IndexFormatError, InvalidParameterError, preview
from langchain_niche.persistence import read_index_file, write_index_file
from langchain_niche.selectors.base import Candidate, LexicalExampleSelector, copy_examples
from langchain_niche.selectors.lsh_encoding import LshEncoder, LshQuery
from langchain_niche.selectors.lsh_prefilter import Prefilter
from langchain_niche.selectors.lsh_storage import (
    Call,
    LshStorage,
    MemoryLshStorage,
    Plan,
    SelectionRequest,
    run_async,
    run_sync,
)
from langchain_niche.selectors.redis_url import parse_redis_url, redact_url
from langchain_niche.sketches import MinHasher, check_num_perm, check_seed

__all__ = ["MinHashExampleSelector"]

RerankKind = Literal["jaccard", "minhash"]
FallbackKind = Literal["probe", "exact", "none"]

_ASYNC_INLINE_BATCH = 256
_INDEX_SETTINGS = ("num_perm", "lsh_threshold", "lsh_weights", "seed")
DEFAULT_LSH_WEIGHTS = (0.1, 0.9)
"""Default ``(false_positive_weight, false_negative_weight)``: recall first."""


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}, got {preview(value)}"
        raise InvalidParameterError(msg, name=name, value=value)


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"{name} must be an integer >= 1, got {preview(value)}"
        raise InvalidParameterError(msg, name=name, value=value)


def _check_optional_positive_int(name: str, value: Any) -> None:
    if value is not None:
        _check_positive_int(name, value)


def _check_positive_number(name: str, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        msg = f"{name} must be a number > 0, got {preview(value)}"
        raise InvalidParameterError(msg, name=name, value=value)


def _check_index_name(value: Any) -> None:
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= 200
        and all(c.isalnum() or c in "-_.:" for c in value)
        and value.isascii()
    )
    if not ok:
        msg = (
            "index_name must be 1-200 ASCII letters, digits or '-_.:' characters, "
            f"got {preview(value)}"
        )
        raise InvalidParameterError(msg, name="index_name", value=value)


def _check_redis_url(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):  # its repr could hold a password: only the type is shown
        msg = f"redis_url must be None or a redis://, rediss:// or unix:// URL, got a {type(value).__name__}"
        raise InvalidParameterError(msg, name="redis_url", value=type(value).__name__)
    try:
        parse_redis_url(value)
    except ValueError as exc:
        msg = f"redis_url: {exc}"
        raise InvalidParameterError(msg, name="redis_url", value=redact_url(value)) from None


def _check_similarity(value: Any) -> None:
    if value != "jaccard":
        msg = (
            f"MinHashExampleSelector scores by Jaccard similarity (what MinHash estimates); "
            f"similarity={value!r} is not supported (use JaccardExampleSelector for BM25)"
        )
        raise InvalidParameterError(msg, name="similarity", value=value)


_MORE_CHECKS: dict[str, Any] = {
    "similarity": _check_similarity,
    "num_perm": check_num_perm,
    "seed": check_seed,
    "rerank": lambda v: _check_choice("rerank", v, ("jaccard", "minhash")),
    "fallback": lambda v: _check_choice("fallback", v, ("probe", "exact", "none")),
    "probe_limit": lambda v: _check_positive_int("probe_limit", v),
    "rerank_limit": lambda v: _check_optional_positive_int("rerank_limit", v),
    "redis_batch_size": lambda v: _check_positive_int("redis_batch_size", v),
    "redis_max_connections": lambda v: _check_positive_int("redis_max_connections", v),
    "redis_timeout": lambda v: _check_positive_number("redis_timeout", v),
    "index_name": _check_index_name,
    "redis_url": _check_redis_url,
}


def _no_calls(call: Call) -> Any:  # pragma: no cover - the memory storage never yields
    msg = f"unexpected storage call {call[:1]!r}"
    raise RuntimeError(msg)


async def _ano_calls(call: Call) -> Any:  # pragma: no cover
    return _no_calls(call)


class MinHashExampleSelector(LexicalExampleSelector):
    r"""Select few-shot examples from millions with MinHash-LSH, in memory or in Redis.

    Selection has four steps:

    1. **Candidates by LSH banding.** The input's MinHash signature (``num_perm``
       values, identical to ``datasketch.MinHash``'s) is cut into ``b`` bands of
       ``r`` values, ``(b, r)`` chosen as ``datasketch.MinHashLSH`` chooses them for
       ``lsh_threshold`` and ``lsh_weights``. Examples sharing a whole band with
       the input are candidates: an example of Jaccard similarity ``s`` is found
       with probability ``1 - (1 - s**r)**b``. The default weights favour recall
       (``b=32, r=4`` for 0.5): 0.87 at ``s = lsh_threshold``, 0.99 at
       ``lsh_threshold + 0.1``.
    2. **Pre-filter (in memory).** Short texts share common words, so at a
       million examples banding finds hundreds to thousands of candidates. Each
       example stores a 64-byte sketch (4 bits of 128 MinHash values); when
       there are more than ``rerank_limit`` candidates (and ``k``), only these
       are re-ranked: every candidate whose sketch agrees with the input's at
       least as much as the ``rerank_limit``-th best does, and every candidate
       whose sketch makes a similarity of ``lsh_threshold`` or more plausible (a
       candidate at or above ``lsh_threshold`` is dropped with probability at
       most 1e-4; see :mod:`langchain_niche.selectors.lsh_prefilter`).
       ``rerank_limit=None`` re-ranks every candidate; Redis always does.
    3. **Re-ranking.** ``rerank="jaccard"`` (default) scores candidates by their
       *exact* Jaccard similarity, computed on the token ids stored with every
       example (8 bytes per token): scores equal ``JaccardExampleSelector``'s.
       ``rerank="minhash"`` scores them by the MinHash estimate (the fraction of
       equal signature values, ``datasketch.MinHash.jaccard``) instead.
    4. **Fallback**, when banding cannot fill the result (``k``, or ``fetch_k``
       with ``diversity``):

       * ``"probe"`` (default), when fewer than ``k`` candidates score above 0
         and at least ``threshold``: lower-threshold probing. Examples that agree
         with the input on the first ``ceil(r / 2)`` values of some band (the same
         sorted index answers this) are ranked by how many band prefixes they
         share, and the best ``probe_limit`` are re-ranked and merged in. Its
         cost is bounded: it reads at most ``8 * probe_limit`` index entries,
         the smallest prefix ranges first (of a range too large to read whole,
         its first entries: many equal examples never hide all of them).
       * ``"exact"``, when fewer than ``k`` candidates score at least
         ``lsh_threshold`` (and ``threshold``): scan every example; the result
         is then exactly ``JaccardExampleSelector``'s (slower than it on large
         corpora; in-memory storage only).
       * ``"none"``: return the banded candidates only (possibly fewer than
         ``k``, and lower-similarity ones only when banding happened to find them).

    Results are ordered like ``JaccardExampleSelector``'s: highest score first,
    ties broken by insertion order; examples sharing no token with the input or
    scoring below ``threshold`` are never returned.

    Storage: by default everything lives in this process (numpy arrays: about
    ``8 * tokens + 12 * b + 64`` bytes per example besides the example dicts); with
    ``redis_url`` the examples (as JSON), their token ids and the band buckets
    live in Redis under ``index_name``, so every process using the same URL and
    name shares one index and a new process serves selections from Redis alone
    (see :mod:`langchain_niche.selectors.redis_storage` for the key layout).
    ``save``/``load`` write the in-memory index to one file (JSON + ``.npy``, no
    pickle).

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

    num_perm: int = Field(default=128, frozen=True)
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

    seed: int = Field(default=1, frozen=True)
    """Seed of the MinHash permutations (datasketch's ``seed``)."""

    rerank: RerankKind = "jaccard"
    """How candidates are scored: ``"jaccard"`` (exact) or ``"minhash"`` (estimate)."""

    fallback: FallbackKind = "probe"
    """What to do when banding cannot fill the result: ``"probe"`` (fewer than ``k``
    candidates pass ``threshold``), ``"exact"`` (fewer than ``k`` reach
    ``lsh_threshold``) or ``"none"`` (see the class docstring)."""

    probe_limit: int = 50
    """Most candidates the ``"probe"`` fallback re-ranks (it reads at most 8 index
    entries per candidate it may re-rank)."""

    rerank_limit: int | None = 50
    """In memory: when banding finds more candidates than this (and ``k``), only
    those the sketch pre-filter keeps are re-ranked: the ``rerank_limit`` best by
    estimated similarity (ties included) plus every one whose sketch makes a
    similarity of ``lsh_threshold`` or more plausible (see the class docstring).
    ``None``: re-rank every candidate. Redis re-ranks every candidate exactly."""

    redis_url: str | None = Field(default=None, frozen=True, repr=False)
    """``None`` for in-memory storage, or a Redis URL (``redis://host:6379/0``)."""

    index_name: str = Field(default="default", frozen=True)
    """Namespace of the index in Redis (keys start with ``niche:{index_name}:``)."""

    redis_timeout: float = Field(default=5.0, frozen=True)
    """Seconds to wait for Redis (connect, each command, a free pooled connection).
    Every call is sent once, except that ``add_examples`` re-sends a chunk once after
    a timeout (a chunk is never written twice), so it gives up after about twice this."""

    redis_max_connections: int = Field(default=64, frozen=True)
    """Connections per pool; further concurrent selections wait for a free one."""

    redis_batch_size: int = 1000
    """Examples written to Redis per atomic step of ``add_examples`` (Redis serves
    nobody else during a step: about 0.1 s for 1,000 examples)."""

    _storage: LshStorage = PrivateAttr()
    _encoder: LshEncoder = PrivateAttr()

    def __init__(
        self,
        examples: Iterable[Mapping[str, Any]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Create a selector, optionally with initial examples.

        Args:
            examples: Initial examples (dicts of field name to text).
            ids: Optional ids for the initial examples (default: ``"0"``, ``"1"``, ...).
            **kwargs: The selector's settings (``k``, ``input_keys``, ``num_perm`` ...).

        Raises:
            InvalidParameterError: A setting is out of range.
            StoreUnavailableError: Redis cannot be reached.
            IndexFormatError: The shared Redis index was built with other settings.
        """
        for name, value in kwargs.items():
            check = _MORE_CHECKS.get(name)
            if check is not None:
                check(value)
        banding_args = (
            kwargs.get("lsh_threshold", 0.5),
            kwargs.get("num_perm", 128),
            kwargs.get("lsh_weights", DEFAULT_LSH_WEIGHTS),
        )
        optimal_bands(*banding_args)  # validates threshold and weights first
        redis_storage = None
        if kwargs.get("redis_url") is not None:
            from langchain_niche.selectors.redis_storage import RedisLshStorage  # noqa: PLC0415

            redis_storage = RedisLshStorage.open(kwargs)  # adopts the shared index's settings
        super().__init__(**kwargs)
        if self.fallback == "exact" and redis_storage is not None:
            msg = "fallback='exact' scans every example and needs the in-memory storage; use 'probe' or 'none' with redis_url"
            raise InvalidParameterError(msg, name="fallback", value=self.fallback)
        self._encoder = LshEncoder(
            self._analyzer,
            MinHasher(self.num_perm, self.seed),
            Banding.for_threshold(self.lsh_threshold, self.num_perm, self.lsh_weights),
            Prefilter(self.num_perm, self.lsh_threshold),
        )
        fixed = tuple(sorted(self.input_keys)) if self.input_keys else None
        if redis_storage is not None:
            # no sketches in Redis: every candidate is scored exactly
            redis_storage.attach(
                replace(self._encoder, prefilter=None), self._index_settings(), fixed
            )
            self._storage = redis_storage
        else:
            self._storage = MemoryLshStorage(self._encoder, fixed)
        if examples is not None:
            self.add_examples(examples, ids=ids)

    def __setattr__(self, name: str, value: Any) -> None:
        check = _MORE_CHECKS.get(name)
        if check is not None:
            check(value)
        if name == "fallback" and value == "exact" and self.redis_url is not None:
            msg = "fallback='exact' needs the in-memory storage"
            raise InvalidParameterError(msg, name="fallback", value=value)
        super().__setattr__(name, value)

    @classmethod
    async def afrom_examples(
        cls, examples: Iterable[Mapping[str, Any]], **kwargs: Any
    ) -> MinHashExampleSelector:
        """Async twin of :meth:`from_examples`.

        With Redis, the examples are written with the async client; in memory
        the index is built in the default executor.

        Args:
            examples: The examples.
            **kwargs: Settings, as for the constructor.

        Returns:
            The selector.
        """
        batch = list(examples)
        ids = kwargs.pop("ids", None)
        selector = await run_in_executor(None, lambda: cls(**kwargs))
        if batch:
            await selector.aadd_examples(batch, ids=ids)
        return selector

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

    @property
    def index_nbytes(self) -> int:
        """Bytes of the in-memory index arrays (0 for Redis; example dicts excluded)."""
        storage = self._storage
        return storage.nbytes if isinstance(storage, MemoryLshStorage) else 0

    def _index_settings(self) -> dict[str, Any]:
        """The settings a saved or shared index must be used with."""
        return {
            "num_perm": self.num_perm,
            "lsh_threshold": self.lsh_threshold,
            "lsh_weights": list(self.lsh_weights),
            "seed": self.seed,
            **self._encoder.describe(),
        }

    def describe_index(self) -> dict[str, Any]:
        """A JSON-able summary: size, settings, banding, storage.

        Returns:
            ``{"examples": n, "storage": "memory" | "redis", ...}``.
        """
        info: dict[str, Any] = {
            "examples": len(self),
            "storage": "memory" if isinstance(self._storage, MemoryLshStorage) else "redis",
            **self._index_settings(),
            "input_keys": sorted(self.input_keys) if self.input_keys else None,
            "rerank": self.rerank,
            "fallback": self.fallback,
        }
        if isinstance(self._storage, MemoryLshStorage):
            info["index_bytes"] = self.index_nbytes
        else:
            info["index_name"] = self.index_name
        return info

    def audit(self) -> dict[str, Any]:
        """Check the index: every example complete (id, document, tokens, band entries).

        With Redis this reads the whole index (for tests and operations); the
        in-memory index is consistent by construction and reports its size.

        Returns:
            ``{"examples": n, "problems": [...]}``; no problems when consistent.
        """
        storage = self._storage
        if isinstance(storage, MemoryLshStorage):
            return {"examples": len(self), "problems": []}
        report: dict[str, Any] = self._run(storage.audit())  # type: ignore[attr-defined]
        return report

    # -- plumbing -------------------------------------------------------------------
    def _run(self, plan: Plan[Any], *, whole: bool = True) -> Any:
        """Run a storage plan; ``whole``: hold the in-memory lock from start to end."""
        storage = self._storage
        if isinstance(storage, MemoryLshStorage):
            if not whole:
                return run_sync(plan, _no_calls)
            with storage.lock:
                return run_sync(plan, _no_calls)
        return run_sync(plan, storage.execute)  # type: ignore[attr-defined]

    async def _arun(self, plan: Plan[Any]) -> Any:
        storage = self._storage
        if isinstance(storage, MemoryLshStorage):
            with storage.lock:
                return await run_async(plan, _ano_calls)
        return await run_async(plan, storage.aexecute)  # type: ignore[attr-defined]

    def _has_native_async(self) -> bool:
        return not isinstance(self._storage, MemoryLshStorage)

    def _search_is_cheap(self, input_variables: Mapping[str, Any]) -> bool:
        storage = self._storage
        if not isinstance(storage, MemoryLshStorage):
            return True
        if self.fallback == "exact" and len(storage.store) > 50_000:
            return False
        try:
            keys = self._compared_keys(input_variables)
        except (KeyError, TypeError, ValueError):
            return True  # the sync path raises the error
        return keys is None or keys in storage.indexes

    # -- size and content -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._run(self._storage.count()))

    @property
    def examples(self) -> list[dict[str, Any]]:
        """Copies of the stored examples, in insertion order (a full read with Redis)."""
        return [dict(example) for _, example in self._run(self._storage.all_records())]

    @property
    def ids(self) -> list[str]:
        """Ids of the stored examples, in insertion order (a full read with Redis)."""
        return [example_id for example_id, _ in self._run(self._storage.all_records())]

    def _known_keys(self) -> Iterable[str]:
        keys: list[str] = self._run(self._storage.known_keys())
        return keys

    # -- adding -------------------------------------------------------------------------
    def add_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Add examples.

        In memory a batch is atomic: all examples are added, or none. In Redis
        every example is written atomically (fully selectable or absent, even if
        the process dies), in atomic steps of ``redis_batch_size`` examples;
        the whole batch is validated before the first step.

        Args:
            examples: Dicts of field name to text (copies are stored).
            ids: Optional ids, one per example (default: insertion numbers).

        Returns:
            The ids of the added examples.

        Raises:
            InvalidExampleError: An example is not a dict, or a compared field is
                not text (the error names the example's position and the field).
            MissingKeyError: An example lacks a compared field.
            TokenizerError: The custom tokenizer failed.
            DuplicateIdError: An id is already used.
        """
        batch = copy_examples(examples)
        if not batch:
            return []
        new_ids: list[str] = self._run(self._storage.add(batch, ids), whole=False)
        return new_ids

    async def aadd_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Async twin of :meth:`add_examples` (native async with Redis).

        Args:
            examples: The examples.
            ids: Optional ids.

        Returns:
            The ids of the added examples.
        """
        batch = copy_examples(examples)
        if not batch:
            return []
        if isinstance(self._storage, MemoryLshStorage):
            if len(batch) <= _ASYNC_INLINE_BATCH:
                return self.add_examples(batch, ids=ids)
            return await run_in_executor(None, lambda: self.add_examples(batch, ids=ids))
        new_ids: list[str] = await self._arun(self._storage.add(batch, ids))
        return new_ids

    # -- removing -------------------------------------------------------------------------
    def remove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Remove an example by id, or every stored example equal to a dict.

        Removing by dict compares with every stored example (a full read with Redis).

        Args:
            example: An id returned by ``add_example(s)``, or an example dict.

        Returns:
            The ids removed.

        Raises:
            ExampleNotFoundError: Nothing matches.
            InvalidParameterError: ``example`` is neither a string nor a dict.
        """
        removed: list[str] = self._run(self._storage.remove(example))
        return removed

    async def aremove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Async twin of :meth:`remove_example`.

        Args:
            example: An id or an example dict.

        Returns:
            The ids removed.
        """
        removed: list[str] = await self._arun(self._storage.remove(example))
        return removed

    # -- selecting ---------------------------------------------------------------------------
    def _select_plan(
        self, keys: tuple[str, ...], query: LshQuery, limit: int
    ) -> Plan[list[Candidate]]:
        storage = self._storage
        request = SelectionRequest(
            limit=limit,
            threshold=self.threshold,
            lsh_threshold=self.lsh_threshold,
            rerank=self.rerank,
            fallback=self.fallback,
            probe_limit=self.probe_limit,
            rerank_limit=self.rerank_limit,
        )
        ranked = yield from storage.ranked(keys, query, request)
        records = yield from storage.records(ranked.rows, ranked.docs)
        return [
            Candidate(record[0], record[1], float(score))
            for record, score in zip(records, ranked.scores.tolist(), strict=True)
            if record is not None
        ]

    def _candidates(self, keys: tuple[str, ...], shingles: set[str], limit: int) -> list[Candidate]:
        query = self._encoder.query(shingles)
        candidates: list[Candidate] = self._run(self._select_plan(keys, query, limit))
        return candidates

    async def _acandidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int
    ) -> list[Candidate]:
        query = self._encoder.query(shingles)
        candidates: list[Candidate] = await self._arun(self._select_plan(keys, query, limit))
        return candidates

    # -- persistence -------------------------------------------------------------------------
    def _check_memory(self, what: str) -> MemoryLshStorage:
        storage = self._storage
        if not isinstance(storage, MemoryLshStorage):
            msg = f"{what}() applies to the in-memory index; a Redis index is persisted by Redis itself"
            raise InvalidParameterError(msg, name="redis_url", value="<redis>")
        return storage

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the examples, ids, settings and index arrays to one file.

        The file is a zip of JSON (settings, examples) and ``.npy`` arrays (token
        ids, band keys); nothing in it is pickled, and the write is atomic.

        Args:
            path: Destination file (conventionally ``*.niche.zip``).

        Returns:
            The path written.

        Raises:
            InvalidExampleError: An example would not survive JSON unchanged.
            InvalidParameterError: The selector stores its index in Redis.
        """
        storage = self._check_memory("save")
        with storage.lock:
            arrays = storage.arrays()  # compacts removed rows first
            store = storage.store
            records = [(store.id_of(row), example) for row, example in store.iter_live()]
            arrays["seq"] = store.live_seqs()
            return write_index_file(
                path,
                kind=type(self).__name__,
                config={**self._settings(), **self._own_settings()},
                records=records,
                arrays=arrays,
                extra={
                    "next_seq": store.next_seq,
                    "compared_keys": [list(keys) for keys in storage.indexes],
                    "index": self._index_settings(),
                },
            )

    def _own_settings(self) -> dict[str, Any]:
        return {
            "num_perm": self.num_perm,
            "lsh_threshold": self.lsh_threshold,
            "lsh_weights": list(self.lsh_weights),
            "seed": self.seed,
            "rerank": self.rerank,
            "fallback": self.fallback,
            "probe_limit": self.probe_limit,
            "rerank_limit": self.rerank_limit,
        }

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
                inconsistent, was built with a custom tokenizer that was not passed
                again, or an override contradicts the saved index.
        """
        saved = read_index_file(path, kind=cls.__name__)
        config = dict(saved.manifest["config"])
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
        tokenizer_name = config.pop("tokenizer", "default")
        if tokenizer_name != "default" and "tokenizer" not in overrides:
            msg = (
                f"{path} was built with the custom tokenizer {tokenizer_name}; "
                "pass it again: load(path, tokenizer=...)"
            )
            raise IndexFormatError(msg)
        config["ngram_range"] = tuple(config["ngram_range"])
        config["lsh_weights"] = tuple(config["lsh_weights"])
        config.update(overrides)
        selector = cls(**config)
        storage = selector._check_memory("load")
        saved_index = saved.manifest.get("index")
        if saved_index != selector._index_settings():
            msg = f"{path}: the saved index settings {saved_index} do not match this selector's {selector._index_settings()}"
            raise IndexFormatError(msg)
        try:
            _restore(storage, saved.records, saved.arrays, saved.manifest)
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"{path}: inconsistent index: {exc}"
            raise IndexFormatError(msg) from exc
        return selector


def _restore(
    storage: MemoryLshStorage,
    records: list[tuple[str, dict[str, Any]]],
    arrays: dict[str, npt.NDArray[Any]],
    manifest: dict[str, Any],
) -> None:
    seqs = arrays.get("seq")
    if seqs is None or seqs.dtype.kind not in "iu":
        msg = "missing or non-integer 'seq' array"
        raise ValueError(msg)
    storage.store.restore(
        [example for _, example in records],
        [example_id for example_id, _ in records],
        seqs.astype(np.int64),
        int(manifest.get("next_seq", 0)),
    )
    storage.indexes.clear()
    for n, keys in enumerate(manifest.get("compared_keys", [])):
        names = [f"tokens_{n}", f"lens_{n}", f"band_keys_{n}", f"band_rows_{n}"]
        tokens, lens, band_keys, band_rows = (arrays[name] for name in names)
        for name, array, kinds in zip(
            names, (tokens, lens, band_keys, band_rows), ("u", "iu", "u", "iu"), strict=True
        ):
            if array.dtype.kind not in kinds or array.ndim != 1:
                msg = f"array {name!r} has dtype {array.dtype} and {array.ndim} dimensions"
                raise ValueError(msg)
        sketches = arrays.get(f"sketches_{n}")  # absent from files saved before sketches
        if sketches is not None and (sketches.dtype != np.uint8 or sketches.ndim != 2):
            msg = f"array 'sketches_{n}' has dtype {sketches.dtype} and {sketches.ndim} dimensions"
            raise ValueError(msg)
        storage.restore_index(tuple(keys), tokens, lens, band_keys, band_rows, sketches=sketches)
