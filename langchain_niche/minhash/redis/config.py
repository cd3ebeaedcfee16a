"""The ``config`` key of a Redis MinHash index: created once, checked by every process.

``config`` is JSON: format, version, the settings that define the index (with
``filter_keys`` when the index is scoped), ``input_keys``, and the layout fixed at
creation: ``shards`` and ``bucket_bits`` (:mod:`~.postings`). A process opening the index adopts the settings it was not given
(:func:`adopt_config`) and checks the others (:func:`write_or_check_config`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_niche.errors import IndexFormatError, InvalidParameterError, preview
from langchain_niche.minhash.banding import optimal_bands
from langchain_niche.minhash.redis.connection import RedisConnection, parse_json
from langchain_niche.minhash.redis.postings import BUCKET_BITS, MAX_BUCKET_BITS
from langchain_niche.minhash.sketches import check_seed
from langchain_niche.scope import check_filter_keys
from langchain_niche.text import TextAnalyzer

__all__ = [
    "FORMAT",
    "MAX_BUCKET_BITS",
    "MAX_SHARDS",
    "VERSION",
    "Layout",
    "adopt_config",
    "parse_config",
    "write_or_check_config",
]

FORMAT = "langchain-niche-minhash-redis"
VERSION = 2
"""Version 2: band entries are postings (:mod:`~.postings`); version 1 had sorted sets."""
MAX_SHARDS = 256
"""Most shards of an index (``redis_shards``)."""
_ADOPTED = (
    "num_perm",
    "lsh_threshold",
    "lsh_weights",
    "seed",
    "ngram_range",
    "analyzer",
    "stopwords",
    "filter_keys",
)


@dataclass(frozen=True)
class Layout:
    """How an index is laid out, fixed at creation and stored in ``config``."""

    shards: int
    bucket_bits: int

    @classmethod
    def new(cls, shards: int, bucket_bits: int | None = None) -> Layout:
        """The layout of a new index of ``shards`` shards (``None``: :data:`BUCKET_BITS`)."""
        return cls(shards, BUCKET_BITS if bucket_bits is None else bucket_bits)


def _stored_int(conn: RedisConnection, config: Mapping[str, Any], name: str, top: int) -> int:
    value = config.get(name, 1 if name == "shards" else None)
    low = 1 if name == "shards" else 0
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= top:
        msg = f"Redis index {conn.index_name!r} at {conn.safe_url}: key {conn.prefix + 'config'!r} holds {name}={value!r}; {low} to {top}"
        raise IndexFormatError(msg)
    return value


def adopt_config(conn: RedisConnection, settings: dict[str, Any]) -> Layout | None:
    """Fill ``settings`` (in place) with the settings of an existing index that were not given.

    Returns:
        The index's layout (``None`` for a new index).

    Raises:
        IndexFormatError: ``config`` holds something else or invalid settings, or the
            index was built with a custom tokenizer that was not passed.
    """
    stored = conn.execute(("cmd", "GET", conn.prefix + "config"))
    if stored is None:
        return None
    config = parse_config(conn, stored)
    shards = _stored_int(conn, config, "shards", MAX_SHARDS)
    layout = Layout(shards, _stored_int(conn, config, "bucket_bits", MAX_BUCKET_BITS))
    fixed = (
        ("redis_shards", shards, f"{shards} shards"),
        ("redis_bucket_bits", layout.bucket_bits, f"{layout.bucket_bits} bucket bits"),
    )
    for name, value, what in fixed:
        given = settings.get(name)
        if given is not None and given != value:
            msg = (
                f"Redis index {conn.index_name!r} at {conn.safe_url} has {what} "
                f"(fixed at creation); got {name}={given}"
            )
            raise IndexFormatError(msg)
    index = config["index"]
    adopted = {}
    for name in _ADOPTED:
        if name not in settings and name in index:
            value = index[name]
            listed = isinstance(value, list) and name != "filter_keys"
            adopted[name] = tuple(value) if listed else value
    if settings.get("input_keys") is None and config.get("input_keys"):
        adopted["input_keys"] = config["input_keys"]
    _check_adopted(conn, {**settings, **adopted}, adopted)
    settings.update(adopted)
    if index.get("tokenizer", "default") != "default" and settings.get("tokenizer") is None:
        msg = (
            f"Redis index {conn.index_name!r} at {conn.safe_url} was built with the custom "
            f"tokenizer {index['tokenizer']}; pass tokenizer=... again"
        )
        raise IndexFormatError(msg)
    return layout


def _check_adopted(
    conn: RedisConnection, settings: Mapping[str, Any], adopted: Mapping[str, Any]
) -> None:
    """Check the settings read from ``config`` as the selector would check them.

    Raises:
        IndexFormatError: A stored setting is invalid (names the key and the setting).
    """
    from langchain_niche.selectors.minhash import DEFAULT_LSH_WEIGHTS  # noqa: PLC0415

    try:
        keys = adopted.get("input_keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            msg = f"input_keys must be a list of field names, got {preview(keys)}"
            raise InvalidParameterError(msg, name="input_keys", value=keys)
        if {"num_perm", "lsh_threshold", "lsh_weights"} & set(adopted):
            optimal_bands(
                settings.get("lsh_threshold", 0.5),
                settings.get("num_perm", 128),
                settings.get("lsh_weights", DEFAULT_LSH_WEIGHTS),
            )
        if "filter_keys" in adopted:
            check_filter_keys(adopted["filter_keys"], settings.get("input_keys"))
        if "seed" in adopted:
            check_seed(adopted["seed"])
        if {"ngram_range", "analyzer", "stopwords"} & set(adopted):
            TextAnalyzer(
                ngram_range=settings.get("ngram_range", (1, 1)),
                analyzer=settings.get("analyzer", "word"),
                stopwords=settings.get("stopwords"),
            )
    except (InvalidParameterError, TypeError, ValueError) as exc:
        msg = f"Redis index {conn.index_name!r} at {conn.safe_url}: key {conn.prefix + 'config'!r} holds an invalid setting: {exc}"
        raise IndexFormatError(msg) from exc


def parse_config(conn: RedisConnection, raw: bytes) -> dict[str, Any]:
    """The ``config`` of an index, checked (format and version)."""
    config = parse_json(
        raw, f"{conn.prefix}config at {conn.safe_url} is not a langchain-niche index"
    )
    if (
        not isinstance(config, dict)
        or config.get("format") != FORMAT
        or not isinstance(config.get("index"), dict)
    ):
        msg = f"{conn.prefix}config at {conn.safe_url} is not a langchain-niche MinHash index"
        raise IndexFormatError(msg)
    if config.get("version") != VERSION:
        msg = (
            f"Redis index {conn.index_name!r} at {conn.safe_url} has format version "
            f"{config.get('version')!r}; this release reads version {VERSION} only (band "
            "entries in postings hashes) and never reads another layout. Rebuild the index "
            "from its examples under a new index name (python -m langchain_niche build "
            "FILE --input-keys ... --redis-url URL --index-name NEW), e.g. after exporting "
            "them with the release that wrote it"
        )
        raise IndexFormatError(msg)
    return config


def write_or_check_config(
    conn: RedisConnection,
    index: Mapping[str, Any],
    compared: tuple[str, ...] | None,
    layout: Layout,
) -> tuple[str, ...]:
    """Create the index's ``config`` or check these settings against it.

    Returns:
        The compared fields.

    Raises:
        InvalidParameterError: ``compared`` (``input_keys``) is missing for a new index.
        IndexFormatError: The index was built with other settings.
    """
    if compared is None:
        msg = (
            f"a Redis index is built on a fixed set of fields: pass input_keys=[...] to create "
            f"index {conn.index_name!r} at {conn.safe_url}"
        )
        raise InvalidParameterError(msg, name="input_keys", value=None)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "index": dict(index),
        "input_keys": list(compared),
        "shards": layout.shards,
        "bucket_bits": layout.bucket_bits,
    }
    raw = json.dumps(config, sort_keys=True)
    created = conn.execute(("cmd", "SET", conn.prefix + "config", raw, "NX"))
    if not created:
        stored = parse_config(conn, conn.execute(("cmd", "GET", conn.prefix + "config")))
        theirs_layout = (stored.get("shards", 1), stored.get("bucket_bits"))
        if theirs_layout != (layout.shards, layout.bucket_bits):
            msg = (
                f"Redis index {conn.index_name!r} at {conn.safe_url} was created concurrently "
                f"with (shards, bucket_bits) {theirs_layout!r}; this process wanted "
                f"{(layout.shards, layout.bucket_bits)!r}"
            )
            raise IndexFormatError(msg)
        mine = {**index, "input_keys": list(compared)}
        theirs = {**stored["index"], "input_keys": stored.get("input_keys")}
        diff = [
            name for name in sorted(set(mine) | set(theirs)) if mine.get(name) != theirs.get(name)
        ]
        if diff:
            built = ", ".join(f"{name}={theirs.get(name)!r}" for name in diff)
            given = ", ".join(f"{name}={mine.get(name)!r}" for name in diff)
            msg = (
                f"Redis index {conn.index_name!r} at {conn.safe_url} was built with {built}; "
                f"got {given}. Use the same settings, or another index_name"
            )
            raise IndexFormatError(msg)
    return compared
