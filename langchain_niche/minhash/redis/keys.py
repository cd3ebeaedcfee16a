"""The Redis key layout of a MinHash index, and the keys a script call touches.

``decoded``, ``key_prefix`` and ``script_keys`` are re-exported by
:mod:`~langchain_niche.minhash.redis.connection`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["decoded", "key_prefix", "script_keys", "shard_prefix"]

_SLOTS = 16384


def decoded(value: Any) -> str:
    """A reply or argument as text (bytes are UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def key_prefix(index_name: str) -> str:
    """The prefix of every key of an index: the one place the key layout starts.

    ``niche:{INDEX_NAME}:``: the braces are a Redis Cluster hash tag, so all keys
    of an index live in one slot (scripts may touch any of them).
    """
    return f"niche:{{{index_name}}}:"


def shard_prefix(index_name: str, shard: int, shards: int) -> str:
    """The prefix of the keys of one shard of an index (the second place of the layout).

    One shard: :func:`key_prefix` (the layout of an unsharded index). More: each
    shard has its own hash tag ``{INDEX_NAME#S.N}`` (``#`` never occurs in an index
    name), so a shard's keys share one Redis Cluster slot (every script touches
    one slot). ``N`` is the smallest number putting shard ``S`` of ``shards`` in
    the ``S``-th equal part of the 16,384 slots, so the shards spread evenly over
    masters holding equal slot ranges (as ``redis-cli --cluster create`` assigns
    them). ``config`` and the row counter ``next`` stay under :func:`key_prefix`.
    """
    if shards == 1:
        return key_prefix(index_name)
    from redis.crc import key_slot  # noqa: PLC0415 - only the Redis backend imports this

    low, high = shard * _SLOTS // shards, (shard + 1) * _SLOTS // shards
    n = 0
    while not low <= key_slot(f"{index_name}#{shard}.{n}".encode()) < high:
        n += 1
    return f"niche:{{{index_name}#{shard}.{n}}}:"


def _buckets(prefix: str, packed: Any, width: int, step: int) -> set[str]:
    """The bucket keys of packed entries (``step`` bytes each, the first ``width`` the bucket)."""
    raw = bytes(packed)
    return {prefix + "p:" + raw[i : i + width].decode() for i in range(0, len(raw), step)}


def script_keys(name: str, args: list[Any]) -> list[str]:
    """Every key a script call touches (declared as ``KEYS`` on a cluster).

    Redis checks only declared keys for a slot being migrated: with all of them
    declared, a script runs where they all are (``ASK`` when all moved), or
    gets ``TRYAGAIN`` while they are split, instead of reading half a shard.
    The argument layouts are those of ``scripts/*.lua``.
    """
    prefix = decoded(args[0])
    if name == "fetch":
        return [prefix + decoded(args[1])]
    if name == "lookup":  # prefix, mode, W, L, head, entries or ranges, ...
        width, size = int(decoded(args[2])), int(decoded(args[3]))
        if decoded(args[1]) == "band":
            keys = _buckets(prefix, args[5], width, width + size)
            keys |= _buckets(prefix, args[6], width, width + 2 * size)
        else:
            keys = _buckets(prefix, args[5], width, width + 2 * size)
        return sorted(keys | {prefix + "tok", prefix + "doc"})
    fixed = {prefix + "id", prefix + "doc", prefix + "tok"}
    if name == "insert":  # ..., W, L, buckets, ...
        width = int(decoded(args[7]))
        return sorted(fixed | _buckets(prefix, args[9], width, width) | {prefix + "fields"})
    # remove: prefix, bands, W, L, then (id, row, entries)*
    width, size = int(decoded(args[2])), int(decoded(args[3]))
    buckets: set[str] = set()
    for start in range(4, len(args), 3):
        buckets |= _buckets(prefix, args[start + 2], width, width + size)
    return sorted(fixed | buckets)
