"""The selection algorithm over the storage contract (minhash/selection.py), backend-agnostic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import MinHashExampleSelector
from langchain_niche.errors import InvalidParameterError
from langchain_niche.minhash.encoding import LshEncoder
from langchain_niche.minhash.memory import MemoryLshStorage
from langchain_niche.minhash.selection import aselect, select
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    IntArray,
    Lookup,
    LshStorage,
    RowTokens,
    SelectionRequest,
)
from langchain_niche.scope import Scope
from langchain_niche.selectors.examples import Record

WORDS = ["reset", "password", "login", "account", "email", "refund", "order", "ship", "late"]


class Recording(LshStorage):
    """A backend that fetches from an in-memory one and says what it was asked.

    With ``eager_probe`` its lookup brings the probe's rows back too, as Redis
    does when it guesses the probe will be needed.
    """

    kind = "recording"
    supports_scope = False

    def __init__(self, inner: MemoryLshStorage, *, eager_probe: bool) -> None:
        self.inner, self.eager_probe = inner, eager_probe
        self.calls: list[str] = []
        self.known: Mapping[int, Any] | None = None
        self.fetched: dict[int, Any] = {}

    @property
    def hasher(self) -> MinHasher:
        return self.inner.hasher

    def lookup(self, request: SelectionRequest) -> Lookup:
        self.calls.append("lookup")
        found = self.inner.lookup(request)
        probe = None
        if self.eager_probe:
            probe = self.inner.probe(request, np.sort(found.banded.rows))
        self.fetched = {int(row): f"doc {row}" for row in found.banded.rows.tolist()}
        return Lookup(found.banded, probe, self.fetched)

    def probe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        self.calls.append("probe")
        return self.inner.probe(request, exclude)

    def scan(self, request: SelectionRequest) -> RowTokens:
        self.calls.append("scan")
        return self.inner.scan(request)

    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        self.calls.append("records")
        self.known = known
        return self.inner.records(rows)

    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        return self.inner.add(examples, ids)

    def remove(self, target: str | Mapping[str, Any]) -> list[str]:
        return self.inner.remove(target)

    def count(self) -> int:
        return self.inner.count()

    def all_records(self) -> list[Record]:
        return self.inner.all_records()

    def known_keys(self) -> list[str]:
        return self.inner.known_keys()

    def audit(self) -> dict[str, Any]:
        return self.inner.audit()


def _memory(texts: list[str]) -> tuple[MemoryLshStorage, LshEncoder]:
    selector = MinHashExampleSelector(examples=[{"q": t} for t in texts], input_keys=["q"])
    storage = selector.storage
    assert isinstance(storage, MemoryLshStorage)
    return storage, storage.encoder


def _request(encoder: LshEncoder, text: str, fallback: str, **extra: Any) -> SelectionRequest:
    return SelectionRequest(
        compared=("q",),
        query=encoder.query(encoder.analyzer.field_shingles([text])),
        limit=4,
        threshold=0.0,
        lsh_threshold=0.5,
        rerank="jaccard",
        fallback=fallback,
        probe_limit=50,
        rerank_limit=50,
        **extra,
    )


texts = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
    min_size=1,
    max_size=30,
)


@settings(max_examples=30, deadline=None)
@given(corpus=texts, query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_a_lookup_that_brings_the_probe_spares_the_probe_call(
    corpus: list[str], query: list[str]
) -> None:
    memory, encoder = _memory(corpus)
    request = _request(encoder, " ".join(query), "probe")
    eager = Recording(memory, eager_probe=True)
    lazy = Recording(memory, eager_probe=False)
    assert select(eager, request) == select(lazy, request) == select(memory, request)
    assert "probe" not in eager.calls  # one round trip: lookup, then records of known docs
    assert eager.calls == ["lookup", "records"]


def test_the_documents_a_lookup_fetched_reach_records() -> None:
    memory, encoder = _memory(["reset password", "reset login", "late order"])
    storage = Recording(memory, eager_probe=False)
    select(storage, _request(encoder, "reset password", "none"))
    assert 0 in storage.fetched  # the identical example shares every band
    assert storage.known == storage.fetched
    assert storage.calls == ["lookup", "records"]


def test_the_exact_fallback_scans_and_never_probes() -> None:
    memory, encoder = _memory(["reset password email", "late order refund", "ship order"])
    storage = Recording(memory, eager_probe=False)
    found = select(storage, _request(encoder, "order", "exact"))
    assert [c.id for c in found] == ["2", "1"]  # 1/2 beats 1/3
    assert storage.calls == ["lookup", "scan", "records"]


async def test_aselect_makes_the_same_calls_and_selection() -> None:
    memory, encoder = _memory(["reset password email", "late order refund", "ship order"])
    request = _request(encoder, "ship late", "probe")
    sync, not_sync = Recording(memory, eager_probe=False), Recording(memory, eager_probe=False)
    assert await aselect(not_sync, request) == select(sync, request)
    assert not_sync.calls == sync.calls


def test_a_scope_the_storage_cannot_honour_is_refused_before_any_call() -> None:
    memory, encoder = _memory(["reset password"])
    storage = Recording(memory, eager_probe=False)
    scope = Scope.for_call((), {}, {"tenant": "acme"})
    with pytest.raises(InvalidParameterError, match="recording storage does not support scoped"):
        select(storage, _request(encoder, "reset", "probe", scope=scope))
    assert storage.calls == []


def test_a_shared_storage_refuses_to_be_saved_by_a_typed_error() -> None:
    memory, _ = _memory(["reset password"])
    storage = Recording(memory, eager_probe=False)
    with pytest.raises(InvalidParameterError, match="persisted by Recording itself"):
        storage.saved_state()
