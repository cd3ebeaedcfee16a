"""Where a MinHash-LSH selector keeps its examples and index: the storage contract.

A storage answers four lookups for a query (:class:`LshStorage`): the rows
sharing a whole band (``banded``), the rows sharing a band *prefix* ranked by
how many prefixes they share (``probed``), every row sharing a token
(``scanned``) and the examples of some rows (``records``). Rows are integers
in insertion order (ties between equal scores are broken by them).
:meth:`LshStorage.ranked` puts them together into one selection (candidates,
pre-filter, scores, fallback, order) through three hooks a storage may
override: the in-memory storage scores exact similarities straight from its
arrays, and Redis returns the probe's rows and the candidates' documents with
the banded rows, so that most selections are one round trip.

Every operation is written once as a generator that yields low-level *calls*
(for Redis: a script or a command) and receives their replies; :func:`run_sync`
and :func:`run_async` drive it with a blocking or an asyncio client. The
in-memory storage never yields, so its operations run to completion at once;
the Redis storage gets native async without a second copy of its logic.

The backends: :mod:`~langchain_niche.minhash.memory` (the embedded default) and
:mod:`~langchain_niche.minhash.redis.storage`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_counts
from langchain_niche.errors import InvalidParameterError
from langchain_niche.minhash.encoding import LshQuery
from langchain_niche.minhash.index import (
    jaccard_of_rows,
)
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.scope import Scope

__all__ = [
    "AnyRows",
    "Banded",
    "Call",
    "LshStorage",
    "Plan",
    "Ranked",
    "RowTokens",
    "SelectionRequest",
    "gather",
    "rerank_keep",
    "run_async",
    "run_sync",
    "top_probe_rows",
]

IntArray = npt.NDArray[np.int64]
AnyRows = npt.NDArray[np.integer[Any]]
U64Array = npt.NDArray[np.uint64]
T = TypeVar("T")

Call = tuple[Any, ...]
"""A low-level operation of a storage (its own format), yielded by a plan."""

Plan = Generator[Call, Any, T]
"""An operation written as a generator of calls that returns a ``T``."""

Scored = tuple[AnyRows, npt.NDArray[np.float64]]
"""Rows and their scores."""

PROBE_READS_PER_ROW = 8
"""The probe reads at most this many index entries per row it may re-rank
(``probe_limit``): band-prefix ranges are read smallest first while they fit,
then the first entries (by key, then row) of the next smallest range fill what
is left, so a range of many equal examples still yields its earliest rows. At
scale the ranges are large and banding alone finds plenty of candidates; the
probe is for small and medium corpora."""


def run_sync(plan: Plan[T], execute: Callable[[Call], Any]) -> T:
    """Run a plan, executing each call with a blocking function.

    A call's exception is raised inside the plan (at its ``yield``), which may
    add context; otherwise it propagates unchanged.

    Args:
        plan: The operation.
        execute: Executes one call and returns its reply.

    Returns:
        The plan's result.
    """
    try:
        call = next(plan)
        while True:
            try:
                reply = execute(call)
            except Exception as exc:  # noqa: PERF203 - the plan may add context, or re-raises
                call = plan.throw(exc)
            else:
                call = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def run_async(plan: Plan[T], execute: Callable[[Call], Awaitable[Any]]) -> T:
    """Run a plan, awaiting each call (exceptions are raised inside the plan, as in :func:`run_sync`).

    Args:
        plan: The operation.
        execute: Executes one call and returns an awaitable of its reply.

    Returns:
        The plan's result.
    """
    try:
        call = next(plan)
        while True:
            try:
                reply = await execute(call)
            except Exception as exc:  # noqa: PERF203 - the plan may add context, or re-raises
                call = plan.throw(exc)
            else:
                call = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def gather(plans: Sequence[Plan[Any]]) -> Plan[list[Any]]:
    """Run several plans side by side: each step's calls go out together as ``("all", [...])``.

    The storage answers an ``("all", calls)`` call with one reply per call, an
    exception standing for a failed call (raised inside the plan that made
    it). Every plan runs to its end; the first exception a plan raised is then
    raised.

    Args:
        plans: The plans (e.g. one per shard).

    Returns:
        Their results, in order.
    """
    results: list[Any] = [None] * len(plans)
    errors: list[BaseException] = []
    calls: dict[int, Call] = {}

    def step(i: int, send: Any, *, first: bool = False) -> None:
        try:
            if first:
                calls[i] = next(plans[i])
            elif isinstance(send, BaseException):
                calls[i] = plans[i].throw(send)
            else:
                calls[i] = plans[i].send(send)
        except StopIteration as stop:
            calls.pop(i, None)
            results[i] = stop.value
        except Exception as exc:
            calls.pop(i, None)
            errors.append(exc)

    for i in range(len(plans)):
        step(i, None, first=True)
    while calls:
        order = sorted(calls)
        replies = yield ("all", [calls[i] for i in order])
        for i, reply in zip(order, replies, strict=True):
            step(i, reply)
    if errors:
        raise errors[0]
    return results


@dataclass(frozen=True)
class RowTokens:
    """Some rows (ascending) with their token ids."""

    rows: IntArray
    """Row numbers, distinct (ascending unless the producer says otherwise)."""
    tokens: U64Array
    """Token ids of the rows, row after row."""
    lens: IntArray
    """Number of token ids of each row."""

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
class SelectionRequest:
    """What a selection asks of a storage (the selector's settings for one call)."""

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


@dataclass(frozen=True)
class Ranked:
    """The result of a selection: rows, best first, with their scores."""

    rows: IntArray
    """Row numbers, best first (ties by row)."""
    scores: npt.NDArray[np.float64]
    """Their scores."""
    docs: Mapping[int, Any] | None = None
    """Documents already fetched, by row (storage-specific), for :meth:`LshStorage.records`."""


@dataclass(frozen=True)
class Banded:
    """A selection's first step: the banded candidates and their scores."""

    rows: AnyRows
    """Candidate rows."""
    scores: npt.NDArray[np.float64]
    """Their scores."""
    probe: Scored | None = None
    """The probe's rows and scores, when the storage ran the probe in the same step."""
    docs: Mapping[int, Any] | None = None
    """Documents fetched in the same step, by row (storage-specific)."""


def score_rows(
    found: RowTokens, query: LshQuery, rerank: str, hasher: MinHasher
) -> npt.NDArray[np.float64]:
    """Exact Jaccard similarity (``"jaccard"``) or MinHash estimate (``"minhash"``) of rows.

    Args:
        found: The rows and their token ids.
        query: The query.
        rerank: ``"jaccard"`` or ``"minhash"``.
        hasher: Computes the rows' signatures for ``"minhash"``.

    Returns:
        One score per row.
    """
    if rerank == "minhash":
        signatures = hasher.signatures_of_rows(found.tokens, found.lens)
        return MinHasher.estimate(query.signature, signatures)
    return jaccard_of_rows(found.tokens, found.lens, query.token_set())


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


def _passing(scores: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.bool_]:
    """Scores a selection may return: above 0 and at least ``threshold``."""
    passing: npt.NDArray[np.bool_] = scores > 0
    if threshold > 0:
        passing &= scores >= threshold
    return passing


def _best(
    rows: AnyRows,
    scores: npt.NDArray[np.float64],
    limit: int,
    docs: Mapping[int, Any] | None = None,
) -> Ranked:
    """The ``limit`` best rows: highest score first, ties by row."""
    order = np.lexsort((rows, -scores))[:limit]
    return Ranked(rows[order].astype(np.int64), scores[order], docs)


class LshStorage(ABC):
    """What a MinHash-LSH selector needs from its storage (memory or Redis).

    Operations are plans (see the module docstring) that the storage runs itself
    with :meth:`run` / :meth:`arun`; the selector never asks which backend it has.
    """

    #: Whether :meth:`scanned` is available (a full scan of every example).
    supports_scan: ClassVar[bool] = False
    #: ``"memory"`` or ``"redis"`` (``describe_index``).
    kind: ClassVar[str]
    #: Shared with other processes (Redis): native async I/O, and a copy or a
    #: pickle of the selector carries no storage but reconnects.
    shared: ClassVar[bool] = False
    #: Whether :meth:`ranked` honours :attr:`SelectionRequest.scope`.
    supports_scope: ClassVar[bool] = False

    @property
    def nbytes(self) -> int:
        """Bytes of index arrays held in this process (0 for a shared storage)."""
        return 0

    def state_lock(self) -> AbstractContextManager[Any]:
        """The lock under which this process's copy of the index is consistent."""
        return nullcontext()

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Whether a selection may run on the event loop (no scan, no index to build)."""
        return True

    @abstractmethod
    def run(self, plan: Plan[T], *, whole: bool = True) -> T:
        """Run a plan (``whole``: under the storage's lock from start to end)."""

    @abstractmethod
    async def arun(self, plan: Plan[T]) -> T:
        """Run a plan from async code."""

    @abstractmethod
    def audit(self) -> Plan[dict[str, Any]]:
        """``{"examples": n, "problems": [...]}`` (no problems when consistent)."""

    @property
    @abstractmethod
    def hasher(self) -> MinHasher:
        """The MinHash signatures of this index (for ``rerank="minhash"``)."""

    @abstractmethod
    def banded(
        self, compared: tuple[str, ...], query: LshQuery, *, keep: int | None = None
    ) -> Plan[RowTokens]:
        """Rows sharing at least one whole band with the query, with their token ids.

        With ``keep`` a storage holding pre-filter sketches may return only the
        candidates :meth:`~langchain_niche.minhash.prefilter.Prefilter.survivors`
        keeps; ``None``: every candidate.
        """

    @abstractmethod
    def probed(
        self, compared: tuple[str, ...], query: LshQuery, exclude: IntArray, limit: int
    ) -> Plan[RowTokens]:
        """Rows sharing band prefixes with the query, chosen by :func:`top_probe_rows`.

        ``exclude`` (ascending) are left out; at most ``PROBE_READS_PER_ROW * limit``
        index entries are read (see :data:`PROBE_READS_PER_ROW`).
        """

    def scanned(self, compared: tuple[str, ...], query: LshQuery) -> Plan[RowTokens]:
        """Every row sharing at least one token with the query."""
        msg = f"{type(self).__name__} cannot scan every example"
        raise NotImplementedError(msg)

    def ranked(
        self, compared: tuple[str, ...], query: LshQuery, request: SelectionRequest
    ) -> Plan[Ranked]:
        """The best ``request.limit`` rows: banding, pre-filter, scores, fallback, order.

        The fallback runs when banding cannot fill the result: ``"probe"`` when
        fewer than ``limit`` candidates pass ``threshold``; ``"exact"`` when fewer
        than ``limit`` reach ``lsh_threshold`` too (its result is then exactly an
        exact scan's).

        Args:
            compared: The compared fields.
            query: The query.
            request: The selection's settings.

        Returns:
            The rows, best first (score, then row), with their scores.

        Raises:
            InvalidParameterError: The request has a scope this storage cannot honour.
        """
        if request.scope is not None and not self.supports_scope:
            msg = (
                f"the {self.kind} storage does not support scoped selection yet "
                f"(filter {request.scope.to_json()})"
            )
            raise InvalidParameterError(msg, name="filter", value=request.scope.to_json())
        banded = yield from self._scored_banded(compared, query, request)
        rows, scores = banded.rows, banded.scores
        passing = _passing(scores, request.threshold)
        if request.fallback == "probe":
            short = int(np.count_nonzero(passing)) < request.limit
        else:
            trusted = int(np.count_nonzero(passing & (scores >= request.lsh_threshold)))
            short = request.fallback == "exact" and trusted < request.limit
        if short:
            if request.fallback == "exact":
                extra = yield from self._scored_scanned(compared, query, rows, request)
            elif banded.probe is not None:
                extra = banded.probe
            else:
                extra = yield from self._scored_probed(compared, query, rows, request)
            rows = np.concatenate([rows, extra[0]])
            scores = np.concatenate([scores, extra[1]])
            passing = _passing(scores, request.threshold)
        return _best(rows[passing], scores[passing], request.limit, banded.docs)

    def _scored_banded(
        self, compared: tuple[str, ...], query: LshQuery, request: SelectionRequest
    ) -> Plan[Banded]:
        """The banded candidates with their scores (and whatever else came with them)."""
        found = yield from self.banded(compared, query, keep=rerank_keep(request))
        return Banded(found.rows, score_rows(found, query, request.rerank, self.hasher))

    def _scored_probed(
        self,
        compared: tuple[str, ...],
        query: LshQuery,
        exclude: AnyRows,
        request: SelectionRequest,
    ) -> Plan[Scored]:
        """The probe's rows (``exclude`` left out) with their scores."""
        extra = yield from self.probed(
            compared, query, exclude.astype(np.int64), request.probe_limit
        )
        return extra.rows, score_rows(extra, query, request.rerank, self.hasher)

    def _scored_scanned(
        self,
        compared: tuple[str, ...],
        query: LshQuery,
        exclude: AnyRows,
        request: SelectionRequest,
    ) -> Plan[Scored]:
        """Every row sharing a token, except ``exclude`` (ascending), with its score."""
        extra = yield from self.scanned(compared, query)
        extra = extra.subset(~np.isin(extra.rows, exclude, assume_unique=True))
        return extra.rows, score_rows(extra, query, request.rerank, self.hasher)

    @abstractmethod
    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> Plan[list[tuple[str, dict[str, Any]] | None]]:
        """``(id, example)`` of each row (``None`` for a row removed meanwhile).

        ``known`` holds documents already fetched (:attr:`Ranked.docs`).
        """

    @abstractmethod
    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> Plan[list[str]]:
        """Add validated copies of examples; returns their ids."""

    @abstractmethod
    def remove(self, target: str | Mapping[str, Any]) -> Plan[list[str]]:
        """Remove an example by id, or every example equal to a dict; returns the ids."""

    @abstractmethod
    def count(self) -> Plan[int]:
        """Number of stored examples."""

    @abstractmethod
    def all_records(self) -> Plan[list[tuple[str, dict[str, Any]]]]:
        """Every ``(id, example)``, in insertion order."""

    @abstractmethod
    def known_keys(self) -> Plan[list[str]]:
        """Every field name seen in an example."""
