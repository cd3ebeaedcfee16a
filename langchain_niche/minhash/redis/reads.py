"""Reading a Redis MinHash index: lookups, the probe, documents, scopes.

The key layout and the guarantees are described in
:mod:`~langchain_niche.minhash.redis.storage`; the band entries in
:mod:`~langchain_niche.minhash.redis.postings`; the scripts these reads call in
``scripts/lookup.lua`` and ``scripts/fetch.lua``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import IndexFormatError, InvalidParameterError, preview
from langchain_niche.minhash.encoding import (
    LshEncoder,
    LshQuery,
    partition_salts,
    salted,
    scope_salts,
)
from langchain_niche.minhash.redis.connection import RedisConnection, decoded, parse_json
from langchain_niche.minhash.redis.plans import Plan, PlannedStorage
from langchain_niche.minhash.redis.postings import BUCKET_BITS, Postings
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.minhash.storage import (
    PROBE_READS_PER_ROW,
    AnyRows,
    Lookup,
    Record,
    RowTokens,
    SelectionRequest,
)

__all__ = ["PROBE_FIELDS", "RedisIndexReads"]

IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]
T = TypeVar("T")

MAX_ROW = 2**32 - 1
_SCAN_COUNT = 1000
_DOCS_WITH_CANDIDATES = 64
"""A selection's candidates come with their documents when there are at most this many."""
PROBE_FIELDS = 8192
"""The probe reads the buckets of at most this many band keys per shard (the query's
buckets smallest first by ``HLEN``: all 32 of them up to about 1.5 times the planned
200,000 examples per shard), keeps the fields in the query's prefix ranges, and
reads at most ``PROBE_READS_PER_ROW * probe_limit`` of their rows (plus the rest of
the posting it stops in), as in memory. (``HSCAN MATCH`` on the fixed bytes was
slower: 1.65 ms vs 1.35 ms query p50 at 200,000 examples, since Redis 7.0 copies
every field and value of a listpack before matching.)"""


class RedisIndexReads(RedisConnection, PlannedStorage):
    """The read side of :class:`~langchain_niche.minhash.redis.storage.RedisLshStorage`."""

    def __init__(self, redis_module: Any, url: str, settings: Mapping[str, Any]) -> None:
        super().__init__(redis_module, url, settings)
        self.encoder: LshEncoder | None = None
        self.compared: tuple[str, ...] = ()
        self.bucket_bits = BUCKET_BITS
        """Prefix-hash bits of a bucket number (fixed at creation, stored in ``config``)."""
        self.filter_keys: tuple[str, ...] = ()

    # -- scopes (issue 14) ---------------------------------------------------------
    def _salts(self, examples: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.uint64]:
        """The band-key salt of each example: its partition's (0 for an unscoped index)."""
        return partition_salts(self._encoder().banding, self.filter_keys, examples)

    def _scoped(self, request: SelectionRequest) -> SelectionRequest | None:
        """The request, its band keys salted for the partitions its scope reaches (``None``: none)."""
        scope, query = request.scope, request.query
        if scope is None:
            return request
        salts = scope_salts(self._encoder().banding, self.filter_keys, scope)
        if salts is None:
            msg = (
                f"a selection from Redis index {self.index_name!r} must restrict every "
                f"filter key {list(self.filter_keys)}, got filter {scope.to_json()}"
            )
            raise InvalidParameterError(msg, name="filter", value=scope.to_json())
        if not salts.shape[0]:
            return None
        keys = salted(query.keys, salts)
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

    @property
    def postings(self) -> Postings:
        """Bucket names and fields of this index's band keys."""
        return Postings(self._encoder().banding, self.bucket_bits)

    def _lookup_head(self, mode: str) -> list[Any]:
        """The lookup script's first arguments (prefix, mode and the postings' sizes)."""
        p = self.postings
        return [self.prefix, mode, str(p.width), str(p.field_size), str(p.head)]

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

    def _band_args(self, query: LshQuery, request: SelectionRequest) -> list[Any]:
        head = [*self._lookup_head("band"), self.postings.entries(query.keys)]
        docs = str(_DOCS_WITH_CANDIDATES)
        if request.fallback != "probe":
            return [*head, b"", "0", "0", "0", "0", docs]
        probe = self.postings.probe_args(query.keys)
        limit = request.probe_limit
        budget = str(PROBE_READS_PER_ROW * limit)
        return [*head, probe, str(request.limit), str(limit), budget, str(PROBE_FIELDS), docs]

    def _banded_plan(self, request: SelectionRequest) -> Plan[Lookup]:
        """Banded candidates and their token ids, with more in the same round trip.

        The server runs the probe when banding finds fewer than ``limit``
        candidates (its guess that the probe will be needed; the selection asks
        for it separately when scores say so otherwise), and returns the
        documents of up to :data:`_DOCS_WITH_CANDIDATES` candidates, so that a
        selection over few candidates is one round trip (the selection scores
        them, with numpy).
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
        args = [
            *self._lookup_head("probe"),
            self.postings.probe_args(query.keys),
            exclude.astype(">u4").tobytes(),
            str(limit),
            str(PROBE_READS_PER_ROW * limit),
            str(PROBE_FIELDS),
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
        if not text.isdigit() or int(text) > MAX_ROW:
            where = "" if field is None else f" at field {decoded(field)!r}"
            msg = f"Redis index {self.index_name!r}: key {self.prefix + key!r} holds {preview(text)}{where} where a row number (0 to {MAX_ROW}) belongs"
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


def _split(blob: bytes, sizes: npt.NDArray[np.uint32]) -> list[bytes]:
    """Cut a concatenation into pieces of the given sizes."""
    ends = np.cumsum(sizes, dtype=np.int64).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [blob[a:b] for a, b in zip(starts, ends, strict=True)]
