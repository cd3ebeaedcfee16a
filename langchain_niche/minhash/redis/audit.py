"""Audit of a Redis MinHash index: is every example complete?

Reads the whole index (every document, id, token entry and band entry); meant for
tests and operations, not for the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_niche.minhash.redis.connection import decoded
from langchain_niche.minhash.redis.plans import Plan

if TYPE_CHECKING:
    from langchain_niche.minhash.redis.storage import RedisLshStorage

__all__ = ["audit_index"]


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
        complete, entries = yield from storage._stored_members(rows)
        missing = sorted(set(rows.tolist()) - set(complete.tolist()))
        problems.extend(f"row {row} has no tokens" for row in missing)
        checks = [
            ("ZSCORE", storage.prefix + "lsh:" + shard, member)
            for row_entries in entries
            for shard, member in row_entries
        ]
        scores: list[Any] = []
        if checks:
            scores = yield ("pipe", checks)
        width = storage._encoder().banding.bands
        for i, row in enumerate(complete.tolist()):
            if any(score is None for score in scores[i * width : (i + 1) * width]):
                problems.append(f"row {row} is missing band entries")
    counts = yield ("pipe", [("HLEN", storage.prefix + name) for name in ("id", "tok", "doc")])
    if len(set(map(int, counts))) != 1:
        problems.append(f"{counts[2]} documents, {counts[0]} ids and {counts[1]} token entries")
    return {"examples": len(docs), "problems": problems}
