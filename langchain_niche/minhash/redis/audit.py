"""Audit of a Redis MinHash index: is every example complete?

Reads the whole index (every document, id, token entry and posting of a stored
example); meant for
tests and operations, not for the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_niche.minhash.redis.connection import decoded
from langchain_niche.minhash.redis.plans import Plan

if TYPE_CHECKING:
    from langchain_niche.minhash.redis.reads import IntArray, U64Array
    from langchain_niche.minhash.redis.storage import RedisLshStorage

__all__ = ["audit_index"]


def _check_postings(
    storage: RedisLshStorage, rows: IntArray, keys: U64Array, stored: set[int]
) -> Plan[list[str]]:
    """Problems of the postings of ``rows`` (their band keys ``keys``).

    Each row must be in the posting of each of its band keys, a posting must be
    whole rows, and every row in a posting read must be a stored example.
    """
    postings = storage.postings
    width = postings.width + postings.field_size
    entries = postings.entries(keys.reshape(-1))
    names = [entries[i : i + width] for i in range(0, len(entries), width)]
    distinct = sorted(set(names))
    replies: list[Any] = []
    if distinct:
        replies = yield (
            "pipe",
            [
                ("HGET", storage.prefix + "p:" + e[: postings.width].decode(), e[postings.width :])
                for e in distinct
            ],
        )
    members: dict[bytes, set[int]] = {}
    problems: list[str] = []
    for entry, value in zip(distinct, replies, strict=True):
        raw = b"" if value is None else bytes(value)
        key = storage.prefix + "p:" + entry[: postings.width].decode()
        if len(raw) % 4:
            problems.append(f"key {key!r} holds a posting of {len(raw)} bytes")
            raw = raw[: len(raw) // 4 * 4]
        members[entry] = set(np.frombuffer(raw, dtype=">u4").tolist())
        strays = sorted(members[entry] - stored)
        if strays:
            problems.append(f"key {key!r} lists rows {strays[:10]} that are not stored examples")
    bands = keys.shape[1] if keys.ndim == 2 else 0
    for i, row in enumerate(rows.tolist()):
        if any(row not in members[names[i * bands + j]] for j in range(bands)):
            problems.append(f"row {row} is missing band entries")
    return problems


def audit_index(storage: RedisLshStorage) -> Plan[dict[str, Any]]:
    """Check that every example is complete: id, document, tokens and band entries.

    Reads the whole index; meant for tests and operations, not for the hot path.

    Returns:
        ``{"examples": n, "problems": [...]}`` (an empty list when consistent).
    """
    docs = yield from storage._scan_docs()
    problems: list[str] = []
    if docs:
        id_rows = yield from storage._hmget_ids([example_id for _, example_id, _ in docs])
        for (row, example_id, _), id_row in zip(docs, id_rows, strict=True):
            if id_row is None or decoded(id_row) != str(row):
                problems.append(f"id {example_id!r} does not point to row {row}")
        rows = np.array([row for row, _, _ in docs], dtype=np.int64)
        complete, keys = yield from storage._stored_keys(rows)
        missing = sorted(set(rows.tolist()) - set(complete.tolist()))
        problems.extend(f"row {row} has no tokens" for row in missing)
        problems.extend((yield from _check_postings(storage, complete, keys, set(rows.tolist()))))
    counts = yield ("pipe", [("HLEN", storage.prefix + name) for name in ("id", "tok", "doc")])
    if len(set(map(int, counts))) != 1:
        problems.append(f"{counts[2]} documents, {counts[0]} ids and {counts[1]} token entries")
    return {"examples": len(docs), "problems": problems}
