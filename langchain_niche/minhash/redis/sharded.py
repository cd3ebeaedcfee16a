"""One MinHash index split into shards, e.g. over the masters of a Redis Cluster.

Each shard is a complete index of the layout of
:mod:`~langchain_niche.minhash.redis.storage` under its own hash tag
(:func:`~langchain_niche.minhash.redis.keys.shard_prefix`), so every script
still touches one slot. ``config`` and the row counter ``next`` stay under the
index's own prefix: rows are global (insertion order across shards, ties
between equal scores broken as on one node). An example lives in exactly one
shard, chosen from its id (CRC-32 of its UTF-8 bytes, modulo the shard count,
fixed at creation and stored in ``config``). A shard's band entries are in
at most ``bands * 2**bucket_bits`` postings hashes, ``bucket_bits`` fixed at
creation (``redis_bucket_bits``, default
:data:`~langchain_niche.minhash.redis.postings.BUCKET_BITS`, as on one node), so a
shard stays compact up to about ``200,000 * 2**(bucket_bits - 10)`` examples
whatever the shard count: more shards or more bucket bits, more examples.

A selection runs the single-node plan of every shard side by side
(:func:`~langchain_niche.minhash.redis.plans.gather`: one pipeline split per node
with the blocking client, ``asyncio.gather`` with the async one), then merges
the candidates and re-ranks them exactly: banding finds the same candidates as
on one node, and scores are computed here from the candidates' tokens.

Writes: each shard's chunk is one atomic, idempotent script, as on one node;
a batch spanning shards is written shard by shard in parallel, so after a
crash each example is fully selectable or absent, but a batch may be partly
written (some shards' chunks, never part of a chunk).
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from langchain_niche.errors import DuplicateIdError, StoreUnavailableError
from langchain_niche.minhash.encoding import LshEncoder
from langchain_niche.minhash.redis.audit import audit_index
from langchain_niche.minhash.redis.config import Layout, write_or_check_config
from langchain_niche.minhash.redis.keys import shard_prefix
from langchain_niche.minhash.redis.plans import Plan, gather
from langchain_niche.minhash.redis.storage import IntArray, RedisLshStorage
from langchain_niche.minhash.redis.writes import _Batch, partly_written
from langchain_niche.minhash.storage import Lookup, RowTokens, SelectionRequest
from langchain_niche.selectors.example_store import check_removal_target, not_found

__all__ = ["ShardedRedisLshStorage", "shard_of"]


def shard_of(example_id: str, shards: int) -> int:
    """The shard of an example id (stable across processes and releases)."""
    return zlib.crc32(example_id.encode("utf-8")) % shards


def _joined(parts: Sequence[RowTokens]) -> RowTokens:
    """Rows of several shards as one :class:`RowTokens` (shard after shard)."""
    if not parts:
        return RowTokens.empty()
    return RowTokens(
        np.concatenate([p.rows for p in parts]).astype(np.int64, copy=False),
        np.concatenate([p.tokens for p in parts]).astype(np.uint64, copy=False),
        np.concatenate([p.lens for p in parts]).astype(np.int64, copy=False),
    )


class ShardedRedisLshStorage(RedisLshStorage):
    """A Redis MinHash index in ``shards`` shards (see the module docstring)."""

    shards: list[RedisLshStorage]

    @classmethod
    def from_storage(cls, storage: RedisLshStorage, count: int) -> ShardedRedisLshStorage:
        """The sharded view of an opened storage (shares its clients)."""
        sharded = copy.copy(storage)
        sharded.__class__ = cls
        assert isinstance(sharded, ShardedRedisLshStorage)
        sharded.shards = []
        for i in range(count):
            view = copy.copy(storage)
            view.prefix = shard_prefix(storage.index_name, i, count)
            view.reassign_rows = False  # bucket_bits: the index's, copied
            sharded.shards.append(view)
        return sharded

    def attach(
        self, encoder: LshEncoder, index: Mapping[str, Any], compared: tuple[str, ...] | None
    ) -> None:
        """Create the index's ``config`` (with its shard count) or check this selector against it."""
        layout = Layout(len(self.shards), self.bucket_bits)
        self.compared = write_or_check_config(self, index, compared, layout)
        self.encoder = encoder
        self.filter_keys = tuple(index.get("filter_keys") or ())
        for view in self.shards:
            view.compared, view.encoder = self.compared, encoder
            view.filter_keys = self.filter_keys  # every shard partitions by scope alike

    def describe(self) -> dict[str, Any]:
        """As one node's, with the shard count."""
        return {**super().describe(), "shards": len(self.shards)}

    def _shard_of(self, example_id: str) -> RedisLshStorage:
        return self.shards[shard_of(example_id, len(self.shards))]

    # -- selections -------------------------------------------------------------------
    def _banded_plan(self, request: SelectionRequest) -> Plan[Lookup]:
        """Every shard's banded candidates (and probe, documents) in one step, merged."""
        parts: list[Lookup] = yield from gather([v._banded_plan(request) for v in self.shards])
        probes = [p.probe for p in parts if p.probe is not None]
        probe = _joined(probes) if len(probes) == len(parts) else None
        docs: dict[int, Any] = {}
        for p in parts:
            docs.update(p.docs)
        return Lookup(_joined([p.banded for p in parts]), probe, docs)

    def _probed_plan(self, request: SelectionRequest, exclude: IntArray) -> Plan[RowTokens]:
        """Every shard's probe (each with ``probe_limit``, in its scope), merged."""
        parts = yield from gather([v._probed_plan(request, exclude) for v in self.shards])
        return _joined(parts)

    def _fetch_docs(self, rows: IntArray) -> Plan[dict[int, Any]]:
        """The stored documents of ``rows`` that exist, asking every shard."""
        parts = yield from gather([v._fetch_docs(rows) for v in self.shards])
        return {row: doc for part in parts for row, doc in part.items()}

    # -- reads of the whole index -------------------------------------------------------
    def _count_plan(self) -> Plan[int]:
        """Number of stored examples (``HLEN`` of every shard)."""
        counts = yield from gather([v._count_plan() for v in self.shards])
        return sum(counts)

    def _known_keys_plan(self) -> Plan[list[str]]:
        """Field names seen in the examples of any shard."""
        parts = yield from gather([v._known_keys_plan() for v in self.shards])
        return sorted({name for part in parts for name in part})

    def _scan_docs(self) -> Plan[list[tuple[int, str, dict[str, Any]]]]:
        parts = yield from gather([v._scan_docs() for v in self.shards])
        return sorted((doc for part in parts for doc in part), key=lambda item: item[0])

    def _audit_plan(self) -> Plan[dict[str, Any]]:
        """Audit every shard, and check that each example is in the shard of its id."""
        reports = yield from gather([audit_index(v) for v in self.shards])
        problems: list[str] = []
        examples = 0
        for i, (view, report) in enumerate(zip(self.shards, reports, strict=True)):
            examples += report["examples"]
            problems.extend(f"shard {i} ({view.prefix}): {p}" for p in report["problems"])
        for i, view in enumerate(self.shards):
            docs = yield from view._scan_docs()
            problems.extend(
                f"id {example_id!r} is in shard {i}, not {shard_of(example_id, len(self.shards))}"
                for _, example_id, _ in docs
                if shard_of(example_id, len(self.shards)) != i
            )
        return {"examples": examples, "problems": problems}

    # -- writes -----------------------------------------------------------------------
    def _add_plan(
        self, examples: list[dict[str, Any]], ids: Sequence[str] | None
    ) -> Plan[list[str]]:
        """Add examples: each shard's part in atomic chunks, the shards in parallel."""
        self._encoder().encode_examples(examples[:1], self.compared)  # fields checked first
        planned, custom, bodies = self._planned(examples, ids)
        if custom:
            groups: dict[int, list[str]] = {}
            for example_id in custom:
                groups.setdefault(shard_of(example_id, len(self.shards)), []).append(example_id)
            order = sorted(groups)
            taken = yield from gather([self.shards[s]._hmget_ids(groups[s]) for s in order])
            for s, rows in zip(order, taken, strict=True):
                for example_id, row in zip(groups[s], rows, strict=True):
                    if row is not None:
                        msg = (
                            f"id {example_id!r} is already used in Redis index {self.index_name!r}"
                        )
                        raise DuplicateIdError(msg, example_id=example_id)
        n = len(examples)
        custom_set = frozenset(custom)
        for _ in range(20):  # default ids must not equal a custom id of this batch
            last = int((yield ("resend", ("cmd", "INCRBY", self.counter_key, n))))
            block = np.arange(last - n, last, dtype=np.int64)
            final = [
                str(row) if p is None else p for p, row in zip(planned, block.tolist(), strict=True)
            ]
            if not {f for f, p in zip(final, planned, strict=True) if p is None} & custom_set:
                break
        by_shard: dict[int, list[int]] = {}
        for i, example_id in enumerate(final):
            by_shard.setdefault(shard_of(example_id, len(self.shards)), []).append(i)
        fields = json.dumps(sorted({k for example in examples for k in example}))
        written: list[list[str]] = []
        plans = []
        for s, positions in sorted(by_shard.items()):
            part = [examples[i] for i in positions]
            batch = _Batch(
                self._encoded(part),
                [bodies[i] for i in positions],
                [planned[i] for i in positions],
                custom_set,
                fields,
            )
            plans.append(self.shards[s]._write_chunks(batch, block[positions].copy(), written))
        try:
            failures = yield from gather(plans)
        except StoreUnavailableError as exc:
            how = " (each shard's chunks whole)"
            raise partly_written(exc, written, n, self.safe_url, how) from exc
        for failure in failures:
            if failure is not None:
                raise failure
        return final

    def _remove_plan(self, target: str | Mapping[str, Any]) -> Plan[list[str]]:
        """Remove by id (in the shard of the id), or every example equal to a dict."""
        check_removal_target(target)
        if isinstance(target, str):
            return (yield from self._shard_of(target)._remove_plan(target))
        removed: list[str] = []
        for view in self.shards:
            docs = yield from view._scan_docs()
            pairs = [(example_id, row) for row, example_id, example in docs if example == target]
            if pairs:
                removed.extend((yield from view._remove_rows(pairs)))
        if not removed:
            raise not_found(target)
        return removed
