"""The MinHash-LSH selection algorithm, written once for every storage.

One selection (see ``MinHashExampleSelector``'s docstring for the user's view):

1. ``lookup``: the storage returns the rows sharing a whole band with the query
   (pre-filtered by sketches where it keeps them), with their token ids, and
   whatever it fetched in the same round trip (Redis: the probe's rows and the
   candidates' documents).
2. Scores: exact Jaccard similarity from the token ids (``rerank="jaccard"``) or
   the MinHash estimate (``"minhash"``).
3. Fallback when banding cannot fill the result: ``"probe"`` when fewer than
   ``limit`` candidates pass ``threshold`` (the lookup's probe rows if it brought
   them, else a ``probe`` call); ``"exact"`` when fewer than ``limit`` reach
   ``lsh_threshold`` too (a ``scan``: the result is then exactly an exact
   scan's); ``"none"``: nothing more.
4. Order: highest score first, ties by row (insertion order); rows scoring 0 or
   below ``threshold`` are dropped; then ``records`` fetches the examples.

The steps are pure (:class:`Selection`); :func:`select` and :func:`aselect`
are the two thin drivers that make the storage calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import InvalidParameterError
from langchain_niche.minhash.encoding import LshQuery
from langchain_niche.minhash.rows import jaccard_of_rows
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    IntArray,
    Lookup,
    LshStorage,
    RowTokens,
    SelectionRequest,
)
from langchain_niche.selectors.examples import Candidate, Record

__all__ = ["Selection", "aselect", "score_rows", "select"]

FloatArray = npt.NDArray[np.float64]


def score_rows(found: RowTokens, query: LshQuery, rerank: str, hasher: MinHasher) -> FloatArray:
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


def _passing(scores: FloatArray, threshold: float) -> npt.NDArray[np.bool_]:
    """Scores a selection may return: above 0 and at least ``threshold``."""
    passing: npt.NDArray[np.bool_] = scores > 0
    if threshold > 0:
        passing &= scores >= threshold
    return passing


class Selection:
    """The pure steps of one selection, between the storage calls.

    Args:
        request: The query and the selection's settings.
        hasher: The index's MinHash signatures (for ``rerank="minhash"``).
        found: What the storage's lookup returned.
    """

    def __init__(self, request: SelectionRequest, hasher: MinHasher, found: Lookup) -> None:
        self.request, self.hasher = request, hasher
        self.docs: Mapping[int, Any] = found.docs
        self.rows: IntArray = found.banded.rows.astype(np.int64, copy=False)
        self.scores = self._score(found.banded)
        self._probe = found.probe
        passing = _passing(self.scores, request.threshold)
        if request.fallback == "probe":
            short = int(np.count_nonzero(passing)) < request.limit
        else:
            trusted = int(np.count_nonzero(passing & (self.scores >= request.lsh_threshold)))
            short = request.fallback == "exact" and trusted < request.limit
        self.wants: Literal["probe", "scan"] | None = None
        """The storage call the fallback still needs (``None``: none)."""
        if short and request.fallback == "exact":
            self.wants = "scan"
        elif short and found.probe is not None:
            self.extend(found.probe)
        elif short:
            self.wants = "probe"

    def _score(self, found: RowTokens) -> FloatArray:
        return score_rows(found, self.request.query, self.request.rerank, self.hasher)

    @property
    def exclude(self) -> IntArray:
        """The candidates so far, ascending (left out of the probe)."""
        return np.sort(self.rows)

    def extend(self, extra: RowTokens) -> None:
        """Add the fallback's rows (any already a candidate are left out)."""
        if self.wants == "scan":
            extra = extra.subset(~np.isin(extra.rows, self.rows))
        self.wants = None
        self.rows = np.concatenate([self.rows, extra.rows.astype(np.int64, copy=False)])
        self.scores = np.concatenate([self.scores, self._score(extra)])

    def best(self) -> tuple[IntArray, FloatArray]:
        """The ``limit`` best rows passing ``threshold``: highest score first, ties by row."""
        passing = _passing(self.scores, self.request.threshold)
        rows, scores = self.rows[passing], self.scores[passing]
        order = np.lexsort((rows, -scores))[: self.request.limit]
        return rows[order], scores[order]

    @staticmethod
    def candidates(records: list[Record | None], scores: FloatArray) -> list[Candidate]:
        """The selected examples (rows removed meanwhile left out)."""
        return [
            Candidate(record[0], record[1], score)
            for record, score in zip(records, scores.tolist(), strict=True)
            if record is not None
        ]


def _check(storage: LshStorage, request: SelectionRequest) -> None:
    if request.scope is not None and not storage.supports_scope:
        msg = (
            f"the {storage.kind} storage does not support scoped selection yet "
            f"(filter {request.scope.to_json()})"
        )
        raise InvalidParameterError(msg, name="filter", value=request.scope.to_json())


def select(storage: LshStorage, request: SelectionRequest) -> list[Candidate]:
    """Select with the storage's blocking calls (under its lock from lookup to records).

    Args:
        storage: The storage.
        request: The query and the selection's settings.

    Returns:
        The candidates, best first (score, then insertion order).

    Raises:
        InvalidParameterError: The request has a scope this storage cannot honour.
    """
    _check(storage, request)
    with storage.state_lock():
        step = Selection(request, storage.hasher, storage.lookup(request))
        if step.wants == "probe":
            step.extend(storage.probe(request, step.exclude))
        elif step.wants == "scan":
            step.extend(storage.scan(request))
        rows, scores = step.best()
        return step.candidates(storage.records(rows, step.docs), scores)


async def aselect(storage: LshStorage, request: SelectionRequest) -> list[Candidate]:
    """Async twin of :func:`select` (for a storage with native async I/O)."""
    _check(storage, request)
    found = await storage.alookup(request)
    step = Selection(request, storage.hasher, found)
    if step.wants == "probe":
        step.extend(await storage.aprobe(request, step.exclude))
    elif step.wants == "scan":
        step.extend(await storage.ascan(request))
    rows, scores = step.best()
    return step.candidates(await storage.arecords(rows, step.docs), scores)
