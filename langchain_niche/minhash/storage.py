"""The storage contract of a MinHash-LSH selector: what a backend stores and fetches.

The layers, top to bottom::

    MinHashExampleSelector          (selectors/minhash.py: settings, public API)
      -> select / aselect           (minhash/selection.py: the algorithm, written once)
        -> LshStorage               (this module: plain sync/async methods)
          -> MemoryLshStorage       (minhash/memory.py: numpy arrays in this process)
          -> RedisLshStorage        (minhash/redis/: shared through Redis, sharded on a cluster)

A backend answers a few plain calls, each in a sync and an async form
(langchain-core's style: ``lookup``/``alookup``): the rows sharing a whole band
with the query (:meth:`LshStorage.lookup`, which may bring back more that it
fetched in the same round trip: the probe's rows, documents), the rows sharing
band *prefixes* (:meth:`~LshStorage.probe`), every row sharing a token
(:meth:`~LshStorage.scan`), the examples of some rows (:meth:`~LshStorage.records`),
and the writes and whole-index reads. Rows are integers in insertion order
(ties between equal scores are broken by them). Backends never score, order or
decide on a fallback: :mod:`~langchain_niche.minhash.selection` does, once.

The async methods default to the sync ones (an in-memory backend never waits
for I/O); the Redis backend overrides them with native asyncio calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_counts
from langchain_niche.errors import InvalidParameterError
from langchain_niche.minhash.encoding import LshQuery
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.persistence import IndexReader
from langchain_niche.scope import Scope
from langchain_niche.selectors.examples import Record, SavedState

__all__ = [
    "PROBE_READS_PER_ROW",
    "AnyRows",
    "Lookup",
    "LshStorage",
    "Record",
    "RowTokens",
    "SavedState",
    "SelectionRequest",
    "rerank_keep",
    "top_probe_rows",
]

IntArray = npt.NDArray[np.int64]
AnyRows = npt.NDArray[np.integer[Any]]
U64Array = npt.NDArray[np.uint64]

PROBE_READS_PER_ROW = 8
"""The probe reads at most this many index entries per row it may re-rank
(``probe_limit``): band-prefix ranges are read smallest first while they fit,
then the first entries (by key, then row) of the next smallest range fill what
is left, so a range of many equal examples still yields its earliest rows. At
scale the ranges are large and banding alone finds plenty of candidates; the
probe is for small and medium corpora."""


@dataclass(frozen=True)
class RowTokens:
    """Some rows with their token ids (what a lookup fetches to score them)."""

    rows: IntArray
    """Row numbers, distinct."""
    tokens: U64Array
    """Token ids of the rows, row after row."""
    lens: IntArray
    """Number of token ids of each row."""

    @classmethod
    def empty(cls) -> RowTokens:
        """No rows."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, np.zeros(0, dtype=np.uint64), none)

    def subset(self, mask: npt.NDArray[np.bool_]) -> RowTokens:
        """The rows where ``mask`` is true.

        Args:
            mask: One boolean per row.

        Returns:
            The subset.
        """
        if bool(mask.all()):
            return self
        return RowTokens(self.rows[mask], self.tokens[np.repeat(mask, self.lens)], self.lens[mask])


@dataclass(frozen=True)
class Lookup:
    """What :meth:`LshStorage.lookup` returns: the banded candidates, and what came with them."""

    banded: RowTokens
    """Rows sharing at least one whole band with the query (pre-filtered if asked)."""
    probe: RowTokens | None = None
    """The probe's rows, when the backend ran it in the same round trip (Redis does
    when banding found fewer than ``limit`` rows); ``None``: not run."""
    docs: Mapping[int, Any] = field(default_factory=dict)
    """Documents fetched in the same round trip, by row (backend-specific), handed
    back to :meth:`LshStorage.records`."""


@dataclass(frozen=True)
class SelectionRequest:
    """What a selection asks of a storage: the query and the selector's settings for one call."""

    compared: tuple[str, ...]
    """The compared fields (sorted): which index to look up."""
    query: LshQuery
    """The input's token ids, signature, band keys and sketch."""
    limit: int
    """Rows wanted (``k``, or ``fetch_k`` with diversity)."""
    threshold: float
    """Minimum score of a returned row (rows scoring 0 are never returned)."""
    lsh_threshold: float
    """The similarity banding targets."""
    rerank: str
    """``"jaccard"`` (exact scores) or ``"minhash"`` (estimates)."""
    fallback: str
    """``"probe"``, ``"exact"`` or ``"none"``."""
    probe_limit: int
    """Most rows the probe re-ranks."""
    rerank_limit: int | None
    """Rows the pre-filter keeps besides those near ``lsh_threshold`` (``None``: all)."""
    scope: Scope | None = None
    """Only rows this scope matches are candidates (``None``: every row; issue 14)."""


def top_probe_rows(hits: AnyRows, exclude: IntArray, limit: int) -> IntArray:
    """The rows a probe found most often, at most ``limit`` of them.

    Rows are taken by hit count, highest first, one whole count level at a time,
    while the level fits in what is left of ``limit``; the first level that does
    not fit ends the choice (rows hit as often are equally promising, and a
    level is never cut arbitrarily). Only when the top level alone exceeds
    ``limit`` are its lowest rows taken. At scale this drops the long tail of
    rows sharing a single band prefix by chance.

    Args:
        hits: Rows found by the probe, one entry per matching band prefix.
        exclude: Rows to leave out (already candidates), ascending.
        limit: Maximum number of rows.

    Returns:
        The chosen rows, ascending.
    """
    if hits.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    rows, counts = unique_counts(hits)  # rows ascending
    if exclude.shape[0]:
        pos = np.minimum(np.searchsorted(rows, exclude), rows.shape[0] - 1)
        keep = np.ones(rows.shape[0], dtype=np.bool_)
        keep[pos[rows[pos] == exclude]] = False
        rows, counts = rows[keep], counts[keep]
    if rows.shape[0] > limit:
        per_level = np.bincount(counts)[::-1]  # rows per count, highest count first
        top = int(np.flatnonzero(per_level)[0])
        fits = np.flatnonzero(np.cumsum(per_level) <= limit)
        if fits.shape[0]:
            rows = rows[counts >= per_level.shape[0] - 1 - int(fits[-1])]
        else:  # the top level alone is too large: its lowest rows
            rows = rows[counts == per_level.shape[0] - 1 - top][:limit]
    return rows.astype(np.int64, copy=False)


def rerank_keep(request: SelectionRequest) -> int | None:
    """How many candidates the pre-filter keeps at least (``None``: all)."""
    return None if request.rerank_limit is None else max(request.rerank_limit, request.limit)


class LshStorage(ABC):
    """What a MinHash-LSH selector needs from its storage (memory or Redis).

    The selector and :mod:`~langchain_niche.minhash.selection` call these methods
    directly and never ask which backend they have.
    """

    #: ``"memory"`` or ``"redis"`` (``describe_index``).
    kind: ClassVar[str]
    #: Shared with other processes (Redis): native async I/O, and a copy or a
    #: pickle of the selector carries no storage but reconnects.
    shared: ClassVar[bool] = False
    #: Whether lookups honour :attr:`SelectionRequest.scope`.
    supports_scope: ClassVar[bool] = False

    @property
    def nbytes(self) -> int:
        """Bytes of index arrays held in this process (0 for a shared storage)."""
        return 0

    def describe(self) -> dict[str, Any]:
        """Where the index is, for ``describe_index``: ``index_bytes`` held in this process."""
        return {"index_bytes": self.nbytes}

    def state_lock(self) -> AbstractContextManager[Any]:
        """The lock under which this process's copy of the index is consistent.

        A selection holds it from its lookup to its records, so that rows do
        not change under its feet; copies and pickles snapshot under it.
        """
        return nullcontext()

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Whether a selection may run on the event loop (no scan, no index to build)."""
        return True

    @property
    @abstractmethod
    def hasher(self) -> MinHasher:
        """The MinHash signatures of this index (for ``rerank="minhash"``)."""

    # -- selection ---------------------------------------------------------------
    @abstractmethod
    def lookup(self, request: SelectionRequest) -> Lookup:
        """The rows sharing at least one whole band with the query, with their token ids.

        Only rows in ``request.scope`` are returned. A storage holding pre-filter
        sketches may return only the candidates
        :meth:`~langchain_niche.minhash.prefilter.Prefilter.survivors` keeps
        (:func:`rerank_keep`). It may also return the probe's rows and the
        candidates' documents when it fetched them in the same round trip.

        Raises:
            InvalidParameterError: ``request.compared`` or the scope does not fit the index.
        """

    @abstractmethod
    def probe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        """Rows sharing band prefixes with the query, chosen by :func:`top_probe_rows`.

        ``exclude`` (ascending) are left out, at most ``request.probe_limit`` rows
        are returned and at most ``PROBE_READS_PER_ROW`` index entries read per
        row (see :data:`PROBE_READS_PER_ROW`); only rows in ``request.scope``.
        A backend may instead score a small scope's rows directly and return up
        to ``max(request.limit, request.probe_limit)`` of them (the in-memory
        backend does, see :mod:`~langchain_niche.minhash.memory`).
        """

    def scan(self, request: SelectionRequest) -> RowTokens:
        """Every row in ``request.scope`` sharing at least one token with the query."""
        msg = f"{type(self).__name__} cannot scan every example"
        raise NotImplementedError(msg)

    @abstractmethod
    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        """``(id, example)`` of each row (``None`` for a row removed meanwhile).

        ``known`` holds documents already fetched (:attr:`Lookup.docs`).
        """

    async def alookup(self, request: SelectionRequest) -> Lookup:
        """Async twin of :meth:`lookup`."""
        return self.lookup(request)

    async def aprobe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        """Async twin of :meth:`probe`."""
        return self.probe(request, exclude)

    async def ascan(self, request: SelectionRequest) -> RowTokens:
        """Async twin of :meth:`scan`."""
        return self.scan(request)

    async def arecords(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        """Async twin of :meth:`records`."""
        return self.records(rows, known)

    # -- writes --------------------------------------------------------------------
    @abstractmethod
    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Add validated copies of examples; returns their ids."""

    @abstractmethod
    def remove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Remove an example by id, or every example equal to a dict; returns the ids."""

    async def aadd(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Async twin of :meth:`add`."""
        return self.add(examples, ids)

    async def aremove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Async twin of :meth:`remove`."""
        return self.remove(target)

    # -- the whole index -------------------------------------------------------------
    @abstractmethod
    def count(self) -> int:
        """Number of stored examples."""

    @abstractmethod
    def all_records(self) -> list[Record]:
        """Every ``(id, example)``, in insertion order."""

    @abstractmethod
    def known_keys(self) -> list[str]:
        """Every field name seen in an example."""

    @abstractmethod
    def audit(self) -> dict[str, Any]:
        """``{"examples": n, "problems": [...]}`` (no problems when consistent)."""

    def saved_state(self) -> SavedState:
        """A snapshot to write to a file (removed rows compacted away first).

        Raises:
            InvalidParameterError: The storage is persisted by its server (Redis).
        """
        self._persisted_elsewhere("save")

    def restore_saved(self, reader: IndexReader) -> None:
        """Fill this empty storage from an open saved file (an ``IndexReader``).

        Raises:
            InvalidParameterError: The storage is persisted by its server (Redis).
            IndexFormatError: The file is inconsistent.
        """
        self._persisted_elsewhere("load")

    def _persisted_elsewhere(self, what: str) -> NoReturn:
        msg = (
            f"{what}() applies to the in-memory index; "
            f"a {self.kind.capitalize()} index is persisted by {self.kind.capitalize()} itself"
        )
        raise InvalidParameterError(msg, name="redis_url", value=f"<{self.kind}>")
