"""Writing a Redis MinHash index: atomic, idempotent insert chunks and exact removals.

The guarantees are described in :mod:`~langchain_niche.minhash.redis.storage`; the
scripts these writes call in ``scripts/insert.lua`` and ``scripts/remove.lua``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from langchain_niche.errors import DuplicateIdError, IndexFormatError, StoreUnavailableError
from langchain_niche.minhash.encoding import EncodedBatch
from langchain_niche.minhash.redis.connection import decoded, key_prefix
from langchain_niche.minhash.redis.plans import Plan
from langchain_niche.minhash.redis.reads import MAX_ROW, IntArray, RedisIndexReads, U64Array
from langchain_niche.persistence import example_json
from langchain_niche.selectors.example_store import ExampleStore, check_removal_target, not_found

__all__ = ["DEFAULT_BATCH_SIZE", "RedisIndexWrites", "partly_written"]

_HMGET_CHUNK = 1000
_MAX_ROW_ATTEMPTS = 20
DEFAULT_BATCH_SIZE = 1000
"""Examples per atomic insert script (``redis_batch_size``)."""


def partly_written(
    exc: StoreUnavailableError, written: list[list[str]], total: int, url: str, how: str = ""
) -> StoreUnavailableError:
    """The error of a batch cut short: how many of its examples were written (``written``)."""
    done = sum(len(chunk) for chunk in written)
    msg = (
        f"{exc}. {done} of the {total} examples of this batch were written{how}; a chunk in "
        "flight may still be written (whole, and once): compare with the selector's ids "
        "before adding the rest"
    )
    return StoreUnavailableError(msg, url=url)


@dataclass(frozen=True)
class _Batch:
    """A validated batch being written."""

    encoded: EncodedBatch
    bodies: list[bytes]
    ids: list[str | None]
    """The custom id of each example, or ``None`` for a default id (its row)."""
    custom: frozenset[str]
    fields: str


class RedisIndexWrites(RedisIndexReads):
    """The write side of :class:`~langchain_niche.minhash.redis.storage.RedisLshStorage`."""

    def __init__(self, redis_module: Any, url: str, settings: Mapping[str, Any]) -> None:
        super().__init__(redis_module, url, settings)
        self.batch_size = int(settings.get("redis_batch_size", DEFAULT_BATCH_SIZE))
        self.counter_key = key_prefix(self.index_name) + "next"
        self.reassign_rows = True
        """Whether a chunk whose default id is taken is written again with other rows
        (off in a shard of a sharded index: another row may belong to another shard)."""

    # -- writes ---------------------------------------------------------------------------------
    def _encoded(self, examples: list[dict[str, Any]]) -> EncodedBatch:
        """Examples encoded, their band keys salted by scope (see the storage docstring)."""
        encoded = self._encoder().encode_examples(examples, self.compared)
        if self.filter_keys:
            encoded = replace(encoded, keys=encoded.keys ^ self._salts(examples)[:, None])
        return encoded

    @staticmethod
    def _planned(
        examples: list[dict[str, Any]], ids: Sequence[str] | None
    ) -> tuple[list[str | None], list[str], list[bytes]]:
        """Checked ids (``None``: default), the custom ones, and each example's JSON."""
        planned = ExampleStore().plan_ids(len(examples), ids)  # types, length, repeats
        custom = [example_id for example_id in planned if example_id is not None]
        bodies = [
            example_json(example, what=f"example {i}").encode("utf-8")
            for i, example in enumerate(examples)
        ]
        return planned, custom, bodies

    def _add_plan(
        self, examples: list[dict[str, Any]], ids: Sequence[str] | None
    ) -> Plan[list[str]]:
        """Add examples in atomic chunks of ``batch_size`` (see the module docstring)."""
        encoded = self._encoded(examples)
        planned, custom, bodies = self._planned(examples, ids)
        if custom:
            taken = yield from self._hmget_ids(custom)
            for example_id, row in zip(custom, taken, strict=True):
                if row is not None:
                    msg = f"id {example_id!r} is already used in Redis index {self.index_name!r}"
                    raise DuplicateIdError(msg, example_id=example_id)
        fields = json.dumps(sorted({k for example in examples for k in example}))
        batch = _Batch(encoded, bodies, planned, frozenset(custom), fields)
        # rows left unused by a repeated INCRBY are harmless gaps
        last = int((yield ("resend", ("cmd", "INCRBY", self.counter_key, len(examples)))))
        block = np.arange(last - len(examples), last, dtype=np.int64)
        written: list[list[str]] = []
        try:
            failure = yield from self._write_chunks(batch, block, written)
        except StoreUnavailableError as exc:
            raise partly_written(exc, written, len(examples), self.safe_url) from exc
        if failure is not None:
            raise failure
        return [example_id for chunk in written for example_id in chunk]

    def _write_chunks(
        self, batch: _Batch, block: IntArray, written: list[list[str]]
    ) -> Plan[DuplicateIdError | None]:
        """Send the insert scripts, appending each written chunk's ids to ``written``."""
        # Chunk i + 1 is packed while Redis writes chunk i (one chunk in flight).
        pending: list[tuple[Any, int, int, list[str]]] = []
        failure: DuplicateIdError | None = None
        n = len(batch.ids)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            args, chunk_ids = self._chunk_args(batch, block, start, stop)
            for _ in range(_MAX_ROW_ATTEMPTS):
                defaults = {
                    i for i, p in zip(chunk_ids, batch.ids[start:stop], strict=True) if p is None
                }
                if not defaults & batch.custom:
                    break
                # a default id would equal a custom id of this batch: other rows
                last = int((yield ("resend", ("cmd", "INCRBY", self.counter_key, stop - start))))
                block[start:stop] = np.arange(last - (stop - start), last)
                args, chunk_ids = self._chunk_args(batch, block, start, stop)
            # a chunk sent twice is written once (the script knows its rows)
            handle = yield ("submit", ("resend", ("script", "insert", args)))
            pending.append((handle, start, stop, chunk_ids))
            if len(pending) > 1:
                failure = yield from self._settle(pending.pop(0), batch, written, failure)
        while pending:
            failure = yield from self._settle(pending.pop(0), batch, written, failure)
        return failure

    def _settle(
        self,
        entry: tuple[Any, int, int, list[str]],
        batch: _Batch,
        written: list[list[str]],
        failure: DuplicateIdError | None,
    ) -> Plan[DuplicateIdError | None]:
        """Wait for a chunk's script; retry it with new rows if a default id was taken."""
        handle, start, stop, chunk_ids = entry
        reply = yield ("wait", handle)
        for _ in range(_MAX_ROW_ATTEMPTS):
            if decoded(reply[0]) in ("ok", "done"):
                written.append(chunk_ids)
                return failure
            taken = decoded(reply[1])
            if taken in batch.custom:  # a custom id was added concurrently by another writer
                done = sum(len(chunk) for chunk in written)
                msg = (
                    f"id {taken!r} is already used in Redis index {self.index_name!r} (added "
                    f"concurrently); {done} other examples of this batch were added"
                )
                return failure or DuplicateIdError(msg, example_id=taken)
            if not self.reassign_rows:
                msg = (
                    f"default id {taken!r} is already used (as a custom id) in Redis index "
                    f"{self.index_name!r}; pass ids=[...]"
                )
                return failure or DuplicateIdError(msg, example_id=taken)
            # a default id equals a custom id of an earlier example: take other rows
            last = int((yield ("resend", ("cmd", "INCRBY", self.counter_key, stop - start))))
            block = np.full(stop, -1, dtype=np.int64)
            block[start:stop] = np.arange(last - (stop - start), last)
            args, chunk_ids = self._chunk_args(batch, block, start, stop)
            reply = yield ("resend", ("script", "insert", args))
        msg = f"could not find free default ids in Redis index {self.index_name!r}"
        return failure or DuplicateIdError(msg, example_id=taken)

    def _hmget_ids(self, ids: list[str]) -> Plan[list[Any]]:
        chunks = [ids[i : i + _HMGET_CHUNK] for i in range(0, len(ids), _HMGET_CHUNK)]
        replies = yield ("pipe", [("HMGET", self.prefix + "id", *chunk) for chunk in chunks])
        return [value for reply in replies for value in reply]

    def _chunk_args(
        self, batch: _Batch, block: IntArray, start: int, stop: int
    ) -> tuple[list[Any], list[str]]:
        """Arguments of the insert script for examples ``start .. stop - 1``."""
        part = batch.encoded.slice(start, stop)
        rows = block[start:stop]
        if int(rows[0]) < 0 or int(rows[-1]) > MAX_ROW:
            msg = (
                f"Redis index {self.index_name!r}: key {self.prefix + 'next'!r} handed out rows "
                f"{int(rows[0])} to {int(rows[-1])}; rows are 0 to {MAX_ROW} (all used, or the "
                "counter was changed by something else)"
            )
            raise IndexFormatError(msg)
        chunk_ids = [
            str(row) if example_id is None else example_id
            for example_id, row in zip(batch.ids[start:stop], rows.tolist(), strict=True)
        ]
        id_bytes = [example_id.encode("utf-8") for example_id in chunk_ids]
        docs = [
            b'{"id":%s,"example":%s}' % (json.dumps(example_id).encode(), body)
            for example_id, body in zip(chunk_ids, batch.bodies[start:stop], strict=True)
        ]
        sizes = np.empty((stop - start, 3), dtype="<u4")
        sizes[:, 0] = [len(b) for b in id_bytes]
        sizes[:, 1] = [len(d) for d in docs]
        sizes[:, 2] = part.lens * 8
        args: list[Any] = [
            self.prefix,
            batch.fields,
            sizes.tobytes(),
            rows.astype(">u4").tobytes(),
            b"".join(id_bytes),
            b"".join(docs),
            part.tokens.astype("<u8").tobytes(),
            str(self.postings.width),
            str(self.postings.field_size),
            *self.postings.insert_args(part.keys, rows),
        ]
        return args, chunk_ids

    def _remove_plan(self, target: str | Mapping[str, Any]) -> Plan[list[str]]:
        """Remove by id, or every example equal to a dict (reads the whole index)."""
        check_removal_target(target)
        if isinstance(target, str):
            row = yield ("cmd", "HGET", self.prefix + "id", target)
            pairs = [] if row is None else [(target, self._row(row, "id", target))]
        else:
            docs = yield from self._scan_docs()
            pairs = [(example_id, row) for row, example_id, example in docs if example == target]
        if not pairs:
            raise not_found(target)
        removed = yield from self._remove_rows(pairs)
        if not removed:  # removed concurrently by another process
            raise not_found(target)
        return removed

    def _stored_keys(self, rows: IntArray) -> Plan[tuple[IntArray, U64Array]]:
        """The band keys (salted) of the stored rows among ``rows``, from their stored tokens."""
        rows, kept = yield from self._fetch("tok", rows)
        if not kept:
            return rows, np.zeros((0, self._encoder().banding.bands), dtype=np.uint64)
        for row, blob in zip(rows.tolist(), kept, strict=True):
            if len(blob) % 8:
                msg = f"Redis index {self.index_name!r}: key {self.prefix + 'tok'!r} holds {len(blob)} bytes at row {row}, not a multiple of 8"
                raise IndexFormatError(msg)
        lens = np.array([len(blob) // 8 for blob in kept], dtype=np.int64)
        tokens = np.frombuffer(b"".join(kept), dtype="<u8").astype(np.uint64)
        keys = self._encoder().keys_of_rows(tokens, lens)
        if self.filter_keys:  # the salts of the rows' partitions, from their documents
            found, raw = yield from self._fetch("doc", rows)
            by_row = dict(zip(found.tolist(), raw, strict=True))
            examples = [
                self._parse_doc(by_row[row])[1] if row in by_row else {} for row in rows.tolist()
            ]
            keys = keys ^ self._salts(examples)[:, None]
        return rows, keys

    def _remove_rows(self, pairs: list[tuple[str, int]]) -> Plan[list[str]]:
        by_row = {row: example_id for example_id, row in pairs}
        rows, keys = yield from self._stored_keys(np.array(list(by_row), dtype=np.int64))
        if not rows.shape[0]:
            return []
        p = self.postings
        args: list[Any] = [self.prefix, str(keys.shape[1]), str(p.width), str(p.field_size)]
        for row, row_keys in zip(rows.tolist(), keys, strict=True):
            args.extend([by_row[row], str(row), p.entries(row_keys)])
        reply = yield ("script", "remove", args)
        return [decoded(r) for r in reply]
