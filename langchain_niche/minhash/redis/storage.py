"""A MinHash-LSH index shared through Redis: key layout, atomic scripts, sync and async.

Every key of an index starts with ``niche:{INDEX_NAME}:`` (the braces are a Redis
Cluster hash tag: all keys of an index live in one slot). ``ROW`` is a decimal
row number handed out by the ``next`` counter, so rows follow insertion order
across every writing process and break ties between equal scores.

============  ==========  =============================================================
key           type        content
============  ==========  =============================================================
``config``    string      JSON: format, version (2), the settings that define the index
                          (``num_perm``, ``lsh_threshold``, ``lsh_weights``, ``seed``,
                          tokenizer, n-grams, bands, rows...), ``input_keys``,
                          ``shards`` and ``bucket_bits``; written once (``SET NX``),
                          checked by every process opening it
``next``      string      rows handed out so far (``INCRBY``; the first row is 0)
``doc``       hash        ``ROW`` -> JSON ``{"id": ..., "example": {...}}``
``tok``       hash        ``ROW`` -> the example's token ids, little-endian ``uint64``
``id``        hash        example id -> ``ROW``
``fields``    set         every field name seen in an example
``p:BBBBB``   hash        postings of one bucket: band key's last bytes -> the rows
                          sharing that band key (4-byte big-endian each)
============  ==========  =============================================================

A band key is the one of :class:`~langchain_niche.minhash.banding.Banding`: band number,
then the hash of the band's prefix, then the hash of the whole band. Its band
number and the top ``bucket_bits`` bits of its prefix hash name the bucket, the
rest is the field (:mod:`~langchain_niche.minhash.redis.postings`): a band
lookup is one ``HGET`` per band, and every band prefix (the lower-threshold
probe) lies in one bucket, whose fields the probe filters by the range
(budgeted: :data:`~langchain_niche.minhash.redis.reads.PROBE_FIELDS`). Buckets
hold about 200 band keys at 200,000 examples per shard with the default
``bucket_bits`` (10; ``redis_bucket_bits`` at creation), so Redis keeps them in
its compact listpack encoding with its default settings.

Format version 2 (this layout) replaced version 1 (band entries in sorted sets
``lsh:SSSS``); a process opening an index of another version gets an
:class:`~langchain_niche.errors.IndexFormatError` naming the version and how to
rebuild, and never reads it.

Atomicity: rows are reserved with ``INCRBY`` and everything else is written by
one Lua script per ``redis_batch_size`` examples (``EVALSHA``), which Redis runs
atomically. The script checks every id of its chunk before writing anything
(then reads every posting it extends), so a chunk is written completely or not
at all, and a writer that dies mid-batch leaves each example fully selectable
or absent (reserved rows of a chunk that was never written are simply unused).
A posting is extended inside the script, so concurrent writers lose nothing,
and a re-sent chunk is recognised by its ids and not appended twice. A removal
script deletes an example's document, tokens and id and rewrites each of its
postings without its row, together.

Sharded indexes (Redis Cluster, ``redis_shards`` > 1): every shard has this layout under
its own prefix (:func:`~langchain_niche.minhash.redis.keys.shard_prefix`), with
``config`` and ``next`` under the index's prefix; see
:mod:`~langchain_niche.minhash.redis.sharded`.

Scopes (issue 14): an index created with ``filter_keys`` records them in ``config``
and partitions its band entries by scope: the prefix-hash bits of every band key of
an example are XORed with a salt derived from :func:`~langchain_niche.scope.scope_key`
of the example's filter-key values
(:func:`~langchain_niche.minhash.encoding.partition_salts`, shared with the in-memory
backend, which lays out its keys alike), so a scope's entries are in buckets and fields of their own. A scoped
selection looks up the query's keys salted for each partition its scope can
reach, so it reads only those partitions' entries (apart from hash collisions,
as likely as within one scope), and checks every candidate's stored document
against the scope before scoring, so nothing outside the scope is ever ranked
or returned.

Reads: :mod:`~langchain_niche.minhash.redis.reads`; writes:
:mod:`~langchain_niche.minhash.redis.writes`; calls, retries and decoding:
:mod:`~langchain_niche.minhash.redis.connection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_niche.errors import InvalidParameterError
from langchain_niche.minhash.encoding import LshEncoder
from langchain_niche.minhash.redis.audit import audit_index
from langchain_niche.minhash.redis.config import (
    MAX_SHARDS,
    Layout,
    adopt_config,
    write_or_check_config,
)
from langchain_niche.minhash.redis.connection import import_redis
from langchain_niche.minhash.redis.plans import Plan
from langchain_niche.minhash.redis.reads import IntArray
from langchain_niche.minhash.redis.writes import RedisIndexWrites

__all__ = ["IntArray", "RedisLshStorage"]


class RedisLshStorage(RedisIndexWrites):
    """Examples and their MinHash-LSH index in Redis (see the module docstring).

    Created by :meth:`open` (connects, reads an existing index's settings) and
    :meth:`attach` (creates or checks the index's ``config``).
    """

    kind = "redis"
    shared = True
    supports_scope = True

    # -- opening ------------------------------------------------------------------
    @classmethod
    def open(cls, settings: dict[str, Any]) -> RedisLshStorage:
        """Connect, and adopt the settings of an existing index that were not given.

        Args:
            settings: The selector's keyword arguments; ``num_perm``,
                ``lsh_threshold``, ``lsh_weights``, ``seed``, ``ngram_range``,
                ``analyzer``, ``stopwords`` and ``input_keys`` missing from it are
                filled in from the shared index (in place).

        Returns:
            The storage (not attached yet).

        Raises:
            StoreUnavailableError: Redis does not answer within ``redis_timeout``.
            IndexFormatError: The key holds something else (an index of another
                format version too), or the index was built with a custom tokenizer
                that was not passed.
        """
        storage = cls(import_redis(), settings["redis_url"], settings)
        layout = adopt_config(storage, settings)
        if layout is None:  # a new index
            shards = settings.get("redis_shards") or storage.masters()
            if shards > MAX_SHARDS:
                msg = f"redis_shards must be 1 to {MAX_SHARDS}, got {shards}"
                raise InvalidParameterError(msg, name="redis_shards", value=shards)
            layout = Layout.new(shards, settings.get("redis_bucket_bits"))
        storage.bucket_bits = layout.bucket_bits
        shards = layout.shards
        if shards > 1:
            from langchain_niche.minhash.redis.sharded import ShardedRedisLshStorage  # noqa: PLC0415

            return ShardedRedisLshStorage.from_storage(storage, shards)
        return storage

    def attach(
        self, encoder: LshEncoder, index: Mapping[str, Any], compared: tuple[str, ...] | None
    ) -> None:
        """Create the index's ``config`` or check this selector against it.

        Args:
            encoder: Token ids and band keys.
            index: The settings that define the index.
            compared: The compared fields (``input_keys``).

        Raises:
            InvalidParameterError: ``input_keys`` is missing for a new index.
            IndexFormatError: The index was built with other settings.
        """
        self.compared = write_or_check_config(self, index, compared, Layout(1, self.bucket_bits))
        self.encoder = encoder
        self.filter_keys = tuple(index.get("filter_keys") or ())

    def describe(self) -> dict[str, Any]:
        """Where the index is and its creation layout, for ``describe_index``."""
        return {"index_name": self.index_name, "shards": 1, "bucket_bits": self.bucket_bits}

    # -- maintenance ----------------------------------------------------------------
    def _audit_plan(self) -> Plan[dict[str, Any]]:
        """Check that every example is complete (see :func:`~.audit.audit_index`)."""
        return audit_index(self)
