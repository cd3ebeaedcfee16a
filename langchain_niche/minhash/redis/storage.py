"""A MinHash-LSH index shared through Redis: key layout, atomic scripts, sync and async.

Every key of an index starts with ``niche:{INDEX_NAME}:`` (the braces are a Redis
Cluster hash tag: all keys of an index live in one slot). ``ROW`` is a decimal
row number handed out by the ``next`` counter, so rows follow insertion order
across every writing process and break ties between equal scores.

==========  ==========  ===============================================================
key         type        content
==========  ==========  ===============================================================
``config``  string      JSON: format, version, the settings that define the index
                        (``num_perm``, ``lsh_threshold``, ``lsh_weights``, ``seed``,
                        tokenizer, n-grams, bands, rows...) and ``input_keys``;
                        written once (``SET NX``), checked by every process opening it
``next``    string      rows handed out so far (``INCRBY``; the first row is 0)
``doc``     hash        ``ROW`` -> JSON ``{"id": ..., "example": {...}}``
``tok``     hash        ``ROW`` -> the example's token ids, little-endian ``uint64``
``id``      hash        example id -> ``ROW``
``fields``  set         every field name seen in an example
``lsh:SSSS``  sorted set  members ``band key (8 bytes, big-endian) + row (4 bytes,
                        big-endian)``, all with score 0
==========  ==========  ===============================================================

A band key is the one of :class:`~langchain_niche.minhash.banding.Banding`: band number,
then the hash of the band's prefix, then the hash of the whole band. Members of
a sorted set with equal scores are ordered by their bytes, so ``ZRANGEBYLEX``
over ``[key, key + 1)`` returns the rows sharing a whole band, and over the
range of a prefix the rows sharing the band's prefix (the lower-threshold
probe): one structure answers both, as the in-memory sorted array does.
``SSSS`` (at most 4,096 shards, in hex) is the lowest 12 bits of the
band-and-prefix part of the key, so a prefix range never spans two shards, and
shards stay small enough for Redis's compact listpack encoding up to a few
hundred thousand examples (raise ``zset-max-listpack-entries`` for millions).

Atomicity: rows are reserved with ``INCRBY`` and everything else is written by
one Lua script per ``redis_batch_size`` examples (``EVALSHA``), which Redis runs
atomically. The script checks every id of its chunk before writing anything, so
a chunk is written completely or not at all, and a writer that dies mid-batch
leaves each example fully selectable or absent (reserved rows of a chunk that
was never written are simply unused). A removal script deletes an example's
document, tokens, id and band entries together.

Sharded indexes (Redis Cluster, ``redis_shards`` > 1): every shard has this layout under
its own prefix (:func:`~langchain_niche.minhash.redis.connection.shard_prefix`), with
``config`` and ``next`` under the index's prefix; see
:mod:`~langchain_niche.minhash.redis.sharded`.

Scopes (issue 14): an index created with ``filter_keys`` records them in ``config``
and partitions its band entries by scope: the prefix-hash bits of every band key of
an example are XORed with a salt derived from :func:`~langchain_niche.scope.scope_key`
of the example's filter-key values (:meth:`RedisLshStorage._salts`, the one place
the layout computes it). A scoped selection looks up the query's keys salted for
each partition its scope can reach, so it reads only those partitions' entries
(apart from hash collisions, as likely as within one scope), and checks every
candidate's stored document against the scope before scoring, so nothing outside
the scope is ever ranked or returned.

Calls, retries and decoding: :mod:`~langchain_niche.minhash.redis.connection`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_counts
from langchain_niche.errors import (
    DuplicateIdError,
    IndexFormatError,
    InvalidParameterError,
    StoreUnavailableError,
    preview,
)
from langchain_niche.minhash.encoding import EncodedBatch, LshEncoder, LshQuery
from langchain_niche.minhash.redis.audit import audit_index
from langchain_niche.minhash.redis.config import MAX_SHARDS, adopt_config, write_or_check_config
from langchain_niche.minhash.redis.connection import (
    RedisConnection,
    decoded,
    import_redis,
    key_prefix,
    parse_json,
)
from langchain_niche.minhash.redis.plans import Plan, PlannedStorage
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    PROBE_READS_PER_ROW,
    AnyRows,
    Lookup,
    Record,
    RowTokens,
    SelectionRequest,
)
from langchain_niche.persistence import example_json
from langchain_niche.scope import example_filter_code, scope_key
from langchain_niche.selectors.example_store import ExampleStore, check_removal_target, not_found

__all__ = ["RedisLshStorage"]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
T = TypeVar("T")

_MAX_ROW = 2**32 - 1
_HMGET_CHUNK = 1000
_SCAN_COUNT = 1000
_MAX_ROW_ATTEMPTS = 20
_MEMBER = np.dtype([("key", ">u8"), ("row", ">u4")])
DEFAULT_BATCH_SIZE = 1000
"""Examples per atomic insert script (``redis_batch_size``)."""
_DOCS_WITH_CANDIDATES = 64
"""A selection's candidates come with their documents when there are at most this many."""
_RANGE = np.dtype([("shard", "u1", (4,)), ("lo", ">u8"), ("hi", ">u8")])
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHARD_MASK = 0xFFF


@dataclass(frozen=True)
class _Batch:
    """A validated batch being written."""

    encoded: EncodedBatch
    bodies: list[bytes]
    ids: list[str | None]
    """The custom id of each example, or ``None`` for a default id (its row)."""
    custom: frozenset[str]
    fields: str


class RedisLshStorage(RedisConnection, PlannedStorage):
    """Examples and their MinHash-LSH index in Redis (see the module docstring).

    Created by :meth:`open` (connects, reads an existing index's settings) and
    :meth:`attach` (creates or checks the index's ``config``).
    """

    kind = "redis"
    shared = True
    supports_scope = True

    def __init__(self, redis_module: Any, url: str, settings: Mapping[str, Any]) -> None:
        super().__init__(redis_module, url, settings)
        self.batch_size = int(settings.get("redis_batch_size", DEFAULT_BATCH_SIZE))
        self.encoder: LshEncoder | None = None
        self.compared: tuple[str, ...] = ()
        self.counter_key = key_prefix(self.index_name) + "next"
        self.reassign_rows = True
        """Whether a chunk whose default id is taken is written again with other rows
        (off in a shard of a sharded index: another row may belong to another shard)."""
        self.bucket_mask = _SHARD_MASK
        """``lsh:SSSS`` keys of this index: ``SSSS`` is the band-and-prefix part of a band
        key masked with this (4,096 sorted sets; fewer per shard in a sharded index)."""
        self.filter_keys: tuple[str, ...] = ()

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
            IndexFormatError: The key holds something else, or the index was built
                with a custom tokenizer that was not passed.
        """
        storage = cls(import_redis(), settings["redis_url"], settings)
        shards = adopt_config(storage, settings)
        if shards is None:  # a new index
            shards = settings.get("redis_shards") or storage.masters()
            if shards > MAX_SHARDS:
                msg = f"redis_shards must be 1 to {MAX_SHARDS}, got {shards}"
                raise InvalidParameterError(msg, name="redis_shards", value=shards)
        if shards > 1:
            from langchain_niche.minhash.redis.sharded import ShardedRedisLshStorage  # noqa: PLC0415

            return ShardedRedisLshStorage.from_storage(storage, shards)
        return storage

    def describe(self) -> dict[str, Any]:
        """Where the index is, for ``describe_index``: its name in Redis."""
        return {"index_name": self.index_name}

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
        self.compared = write_or_check_config(self, index, compared)
        self.encoder = encoder
        self.filter_keys = tuple(index.get("filter_keys") or ())

    # -- scopes (issue 14) ---------------------------------------------------------
    def _salt_mask(self) -> np.uint64:
        banding = self._encoder().banding
        mask: np.uint64 = np.uint64(((1 << banding.prefix_bits) - 1) << banding.full_bits)
        return mask

    def _partition_salt(self, key: str) -> np.uint64:
        """The salt of one partition (a :func:`scope_key`), on the prefix-hash bits."""
        salt: np.uint64 = np.uint64(int(key, 16)) & self._salt_mask()
        return salt

    def _salts(self, examples: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.uint64]:
        """The band-key salt of each example: its partition's (0 for an unscoped index)."""
        salts = np.zeros(len(examples), dtype=np.uint64)
        if not self.filter_keys:
            return salts
        for i, example in enumerate(examples):
            codes = [
                example_filter_code(example[name]) if name in example else None
                for name in self.filter_keys
            ]
            if any(code is None for code in codes):  # never matches a scope: a partition of its own
                digest = hashlib.blake2b(b"\x00unscoped", digest_size=8).hexdigest()
            else:
                digest = scope_key({name: example[name] for name in self.filter_keys})
            salts[i] = self._partition_salt(digest)
        return salts

    def _scoped(self, request: SelectionRequest) -> SelectionRequest | None:
        """The request, its band keys salted for the partitions its scope reaches (``None``: none)."""
        scope, query = request.scope, request.query
        if scope is None:
            return request
        salts: list[np.uint64] = [np.uint64(0)]
        if self.filter_keys:
            parts = scope.partition_keys(self.filter_keys)
            if parts is None:
                msg = (
                    f"a selection from Redis index {self.index_name!r} must restrict every "
                    f"filter key {list(self.filter_keys)}, got filter {scope.to_json()}"
                )
                raise InvalidParameterError(msg, name="filter", value=scope.to_json())
            if not parts:
                return None
            salts = [self._partition_salt(part) for part in parts]
        keys = np.concatenate([query.keys ^ salt for salt in salts])
        return replace(request, query=replace(query, keys=keys))

    def _lookup_plan(self, request: SelectionRequest) -> Plan[Lookup]:
        """:meth:`lookup`: a scope looks up only its partitions' band keys."""
        scoped = self._scoped(request)
        if scoped is None:
            return Lookup(RowTokens.empty())
        return (yield from self._banded_plan(scoped))

    def _probe_plan(self, request: SelectionRequest, exclude: IntArray) -> Plan[RowTokens]:
        """:meth:`probe`: a scope probes only its partitions' band keys."""
        scoped = self._scoped(request)
        if scoped is None:
            return RowTokens.empty()
        return (yield from self._probed_plan(scoped, exclude))

    def _in_scope(
        self, rows: AnyRows, request: SelectionRequest, known: Mapping[int, Any] | None
    ) -> Plan[tuple[npt.NDArray[np.bool_], dict[int, Any]]]:
        """Which ``rows`` the request's scope matches, by their stored documents."""
        docs = dict(known or {})
        keep = np.ones(rows.shape[0], dtype=np.bool_)
        scope = request.scope
        if scope is None or rows.shape[0] == 0:
            return keep, docs
        missing = np.array([row for row in rows.tolist() if row not in docs], dtype=np.int64)
        if missing.shape[0]:
            found, raw = yield from self._fetch("doc", missing)
            docs.update(zip(found.tolist(), raw, strict=True))
        for i, row in enumerate(rows.tolist()):
            raw_doc = docs.get(row)
            keep[i] = raw_doc is not None and scope.matches(self._parse_doc(raw_doc)[1])
        return keep, docs

    # -- lookups ----------------------------------------------------------------------------
    def _encoder(self) -> LshEncoder:
        if self.encoder is None:  # pragma: no cover - attach() runs in the constructor
            msg = "storage not attached"
            raise RuntimeError(msg)
        return self.encoder

    def _check_compared(self, compared: tuple[str, ...]) -> None:
        if compared != self.compared:
            msg = f"this Redis index compares fields {list(self.compared)}, not {list(compared)}"
            raise InvalidParameterError(msg, name="input_keys", value=list(compared))

    def _shard(self, key: int) -> str:
        return f"{(key >> self._encoder().banding.full_bits) & self.bucket_mask:04x}"

    def _ranges(self, lo: U64Array, hi: U64Array) -> bytes:
        """Packed lex ranges ``[lo, hi)`` over band keys (see the lookup script)."""
        shard = (lo >> np.uint64(self._encoder().banding.full_bits)) & np.uint64(self.bucket_mask)
        packed = np.empty(lo.shape[0], dtype=_RANGE)
        packed["shard"] = np.frombuffer(self._hex(shard), dtype=np.uint8).reshape(-1, 4)
        packed["lo"] = lo
        packed["hi"] = hi
        return packed.tobytes()

    @staticmethod
    def _decode_rows(
        rows: bytes, lens: bytes, tokens: bytes, *, keep_order: bool = False
    ) -> RowTokens:
        """Rows (big-endian uint32), token counts and tokens, sorted by row unless ``keep_order``."""
        found = np.frombuffer(rows, dtype=">u4").astype(np.int64)
        sizes = np.frombuffer(lens, dtype="<u4").astype(np.int64)
        ids = np.frombuffer(tokens, dtype="<u8").astype(np.uint64)
        if keep_order or found.shape[0] < 2:
            return RowTokens(found, ids, sizes)
        order = np.argsort(found, kind="stable")
        if bool(np.any(order[1:] < order[:-1])):
            offsets = np.concatenate([[0], np.cumsum(sizes)])
            ids = np.concatenate([ids[offsets[i] : offsets[i + 1]] for i in order.tolist()])
            found, sizes = found[order], sizes[order]
        return RowTokens(found, ids, sizes)

    @property
    def hasher(self) -> MinHasher:
        """The MinHash signatures of this index."""
        return self._encoder().hasher

    def _band_args(self, query: LshQuery, request: SelectionRequest | None) -> list[Any]:
        band = self._ranges(query.keys, query.keys + np.uint64(1))
        if request is None:
            return [self.prefix, "band", band, b"", "0", "0", "0", "0"]
        docs = str(_DOCS_WITH_CANDIDATES)
        if request.fallback != "probe":
            return [self.prefix, "band", band, b"", "0", "0", "0", docs]
        probe = self._ranges(*self._encoder().banding.prefix_range(query.keys))
        limit = request.probe_limit
        budget = PROBE_READS_PER_ROW * limit
        return [self.prefix, "band", band, probe, str(request.limit), str(limit), str(budget), docs]

    def _banded_plan(self, request: SelectionRequest) -> Plan[Lookup]:
        """Banded candidates and their token ids, with more in the same round trip.

        The server runs the probe when banding finds fewer than ``limit``
        candidates (its guess that the probe will be needed;
        the selection asks for it separately when scores say so
        otherwise), and returns the documents of up to
        :data:`_DOCS_WITH_CANDIDATES` candidates, so that a selection over few
        candidates is one round trip (the selection scores them, with numpy).
        """
        self._check_compared(request.compared)
        reply = yield ("script", "lookup", self._band_args(request.query, request))
        found = self._decode_rows(reply[0], reply[1], reply[2], keep_order=True)
        probe = None
        if reply[3]:
            probe = self._decode_rows(reply[3], reply[4], reply[5], keep_order=True)
        docs: dict[int, Any] = {}
        if len(reply) > 6:
            rows = found.rows.tolist() + (probe.rows.tolist() if probe is not None else [])
            sizes = np.frombuffer(reply[6], dtype="<u4")
            docs = {row: doc for row, doc in zip(rows, _split(reply[7], sizes), strict=True) if doc}
        if request.scope is None:
            return Lookup(found, probe, docs)
        keep, fetched = yield from self._in_scope(found.rows, request, docs)
        if probe is not None:
            inside, fetched = yield from self._in_scope(probe.rows, request, fetched)
            probe = probe.subset(inside)
        return Lookup(found.subset(keep), probe, fetched)

    def _probed_plan(self, request: SelectionRequest, exclude: IntArray) -> Plan[RowTokens]:
        """The probe's rows, only those in the request's scope."""
        extra = yield from self.probed(
            request.compared, request.query, exclude, request.probe_limit
        )
        keep, _ = yield from self._in_scope(extra.rows, request, None)
        return extra.subset(keep)

    def probed(
        self, compared: tuple[str, ...], query: LshQuery, exclude: IntArray, limit: int
    ) -> Plan[RowTokens]:
        """Rows sharing the most band prefixes, with their token ids (one round trip)."""
        self._check_compared(compared)
        lo, hi = self._encoder().banding.prefix_range(query.keys)
        args = [
            self.prefix,
            "probe",
            self._ranges(lo, hi),
            exclude.astype(">u4").tobytes(),
            str(limit),
            str(PROBE_READS_PER_ROW * limit),
        ]
        reply = yield ("script", "lookup", args)
        return self._decode_rows(reply[0], reply[1], reply[2])

    def _fetch(self, name: str, rows: IntArray) -> Plan[tuple[IntArray, list[bytes]]]:
        """Values of ``rows`` in the ``tok`` or ``doc`` hash (rows gone are left out)."""
        reply = yield ("script", "fetch", [self.prefix, name, rows.astype(">u4").tobytes()])
        found = np.frombuffer(reply[0], dtype=">u4").astype(np.int64)
        return found, _split(reply[2], np.frombuffer(reply[1], dtype="<u4"))

    def _row(self, value: Any, key: str, field: Any = None) -> int:
        """A row number read from hash ``key`` (a field of ``doc``, a value of ``id``)."""
        text = decoded(value)
        if not text.isdigit() or int(text) > _MAX_ROW:
            where = "" if field is None else f" at field {decoded(field)!r}"
            msg = f"Redis index {self.index_name!r}: key {self.prefix + key!r} holds {preview(text)}{where} where a row number (0 to {_MAX_ROW}) belongs"
            raise IndexFormatError(msg)
        return int(text)

    def _parse_doc(self, raw: bytes | str) -> tuple[str, dict[str, Any]]:
        doc = parse_json(raw, f"Redis index {self.index_name!r}: a document is not JSON")
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("id"), str)
            or not isinstance(doc.get("example"), dict)
        ):
            msg = f"Redis index {self.index_name!r}: a document is not an {{id, example}} record: {preview(doc)}"
            raise IndexFormatError(msg)
        return doc["id"], doc["example"]

    def _records_plan(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> Plan[list[Record | None]]:
        """Ids and examples of rows (``None`` for rows removed meanwhile)."""
        wanted = rows.tolist()
        raw: dict[int, Any] = {row: known[row] for row in wanted if known and row in known}
        missing = np.array([row for row in wanted if row not in raw], dtype=np.int64)
        if missing.shape[0]:
            raw.update((yield from self._fetch_docs(missing)))
        return [self._parse_doc(raw[row]) if row in raw else None for row in wanted]

    def _fetch_docs(self, rows: IntArray) -> Plan[dict[int, Any]]:
        """The stored documents of ``rows`` that exist, by row."""
        found, docs = yield from self._fetch("doc", rows)
        return dict(zip(found.tolist(), docs, strict=True))

    def _count_plan(self) -> Plan[int]:
        """Number of stored examples (``HLEN``)."""
        reply = yield ("cmd", "HLEN", self.prefix + "doc")
        return int(reply)

    def _known_keys_plan(self) -> Plan[list[str]]:
        """Field names seen in the examples."""
        reply = yield ("cmd", "SMEMBERS", self.prefix + "fields")
        try:
            return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in reply)
        except UnicodeDecodeError as exc:
            msg = f"Redis index {self.index_name!r}: key {self.prefix + 'fields'!r} holds a field name that is not UTF-8: {exc}"
            raise IndexFormatError(msg) from exc

    def _scan_docs(self) -> Plan[list[tuple[int, str, dict[str, Any]]]]:
        cursor: int | bytes = 0
        out: list[tuple[int, str, dict[str, Any]]] = []
        while True:
            cursor, page = yield ("cmd", "HSCAN", self.prefix + "doc", cursor, "COUNT", _SCAN_COUNT)
            out.extend((self._row(row, "doc"), *self._parse_doc(raw)) for row, raw in page.items())
            if int(cursor) == 0:
                break
        out.sort(key=lambda item: item[0])
        return out

    def _all_records_plan(self) -> Plan[list[Record]]:
        """Every ``(id, example)`` in insertion order (reads the whole index)."""
        docs = yield from self._scan_docs()
        return [(example_id, example) for _, example_id, example in docs]

    # -- writes ---------------------------------------------------------------------------------
    def _members(self, keys: U64Array, rows: IntArray) -> tuple[bytes, bytes, bytes]:
        """Band entries of rows grouped by shard, as the insert script takes them.

        Returns:
            ``(shards, counts, members)``: the shards (4 hex characters each), the
            number of members of each (``uint32`` LE), and the 12-byte members,
            shard after shard.
        """
        n, bands = keys.shape
        members = np.empty(n * bands, dtype=_MEMBER)
        members["key"] = keys.reshape(-1)
        members["row"] = np.repeat(rows, bands)
        shift = np.uint64(self._encoder().banding.full_bits)
        shard = (keys.reshape(-1) >> shift) & np.uint64(self.bucket_mask)
        order = np.argsort(shard, kind="stable")
        used, counts = unique_counts(shard[order])
        return self._hex(used), counts.astype("<u4").tobytes(), members[order].tobytes()

    @staticmethod
    def _hex(shards: U64Array) -> bytes:
        """Shard numbers as four lowercase hex digits each."""
        digits = np.empty((shards.shape[0], 4), dtype=np.uint8)
        for i in range(4):
            digits[:, i] = _HEX[(shards >> np.uint64(12 - 4 * i)) & np.uint64(15)]
        return digits.tobytes()

    def _add_plan(
        self, examples: list[dict[str, Any]], ids: Sequence[str] | None
    ) -> Plan[list[str]]:
        """Add examples in atomic chunks of ``batch_size`` (see the module docstring)."""
        encoder = self._encoder()
        encoded = encoder.encode_examples(examples, self.compared)
        if self.filter_keys:  # scope partitions (see the module docstring)
            encoded = replace(encoded, keys=encoded.keys ^ self._salts(examples)[:, None])
        planned = ExampleStore().plan_ids(len(examples), ids)  # types, length, repeats
        custom = [example_id for example_id in planned if example_id is not None]
        bodies = [
            example_json(example, what=f"example {i}").encode("utf-8")
            for i, example in enumerate(examples)
        ]
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
            done = sum(len(chunk) for chunk in written)
            msg = (
                f"{exc}. {done} of the {len(examples)} examples of this batch were written; "
                "a chunk in flight may still be written (whole, and once): compare with the "
                "selector's ids before adding the rest"
            )
            raise StoreUnavailableError(msg, url=self.safe_url) from exc
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
        if int(rows[0]) < 0 or int(rows[-1]) > _MAX_ROW:
            msg = (
                f"Redis index {self.index_name!r}: key {self.prefix + 'next'!r} handed out rows "
                f"{int(rows[0])} to {int(rows[-1])}; rows are 0 to {_MAX_ROW} (all used, or the "
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
            *self._members(part.keys, rows),
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

    def _stored_members(
        self, rows: IntArray
    ) -> Plan[tuple[IntArray, list[list[tuple[str, bytes]]]]]:
        """The band entries of stored rows, recomputed from their stored tokens."""
        rows, kept = yield from self._fetch("tok", rows)
        if not kept:
            return rows, []
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
        entries = []
        for row, row_keys in zip(rows.tolist(), keys, strict=True):
            members = np.empty(row_keys.shape[0], dtype=_MEMBER)
            members["key"] = row_keys
            members["row"] = row
            entries.append(
                [
                    (self._shard(int(key)), member.tobytes())
                    for key, member in zip(row_keys.tolist(), members, strict=True)
                ]
            )
        return rows, entries

    def _remove_rows(self, pairs: list[tuple[str, int]]) -> Plan[list[str]]:
        by_row = {row: example_id for example_id, row in pairs}
        rows, entries = yield from self._stored_members(np.array(list(by_row), dtype=np.int64))
        if not entries:
            return []
        args: list[Any] = [self.prefix, str(self._encoder().banding.bands)]
        for row, row_entries in zip(rows.tolist(), entries, strict=True):
            args.extend([by_row[row], str(row)])
            for shard, member in row_entries:
                args.extend([shard, member])
        reply = yield ("script", "remove", args)
        return [decoded(r) for r in reply]

    def _audit_plan(self) -> Plan[dict[str, Any]]:
        """Check that every example is complete (see :func:`~.audit.audit_index`)."""
        return audit_index(self)


def _split(blob: bytes, sizes: npt.NDArray[np.uint32]) -> list[bytes]:
    """Cut a concatenation into pieces of the given sizes."""
    ends = np.cumsum(sizes, dtype=np.int64).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [blob[a:b] for a, b in zip(starts, ends, strict=True)]
