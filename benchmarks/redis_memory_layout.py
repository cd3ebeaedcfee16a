"""Memory per example of a MinHash index in Redis: today's layout against compact ones.

    python benchmarks/redis_memory_layout.py [--sizes 50000,200000] [--lookups 300]

A study for issue 15 (target: at most 1.5 KB per example, a band lookup still one
command per band or one Lua call). For each size it builds the index with the
package (``MinHashExampleSelector(redis_url=...)``, today's layout: see
``langchain_niche/minhash/redis/``), measures the ``INFO memory``
``used_memory`` delta, reads every stored value back (documents, token ids, ids,
band entries) and writes the *same bytes* again in other layouts on the same
private ``redis-server`` (``FLUSHALL`` in between), measuring each delta. Every
layout is then asked the same band lookups (the 32 band keys of stored
examples, so each finds at least itself) by one Lua call that walks the 32
ranges and returns the distinct rows; the table gives its median round trip and
checks that each layout returns the same rows as today's.

Layouts (``B`` buckets, ``p`` prefix bits):

* ``today``: band entries in 4,096 sorted sets ``lsh:SSSS`` (members ``band key
  (8 B) + row (4 B)``, score 0); ``doc``/``tok``/``id`` one hash each.
* ``today`` with ``zset-max-listpack-entries`` raised above the shards' size.
* ``zset-buckets``: band entries in sorted sets bucketed by band number and the
  top ``p`` bits of the band's prefix hash, ``p`` chosen so a bucket holds 24-48
  entries on average (under ``zset-max-listpack-entries`` 128: listpack);
  members as today. A prefix range (the probe) stays inside one bucket. Band
  prefixes are very skewed on short texts (one prefix holds 26,452 of the
  6.4 million entries at 200,000 examples), so about a third of the entries still
  land in buckets over 128 entries, stored as skiplists.
* ``zset-buckets-short``: the same, members without the 2 leading key bytes that
  the bucket already fixes (10 bytes).
* ``postings``: one hash field per *distinct* band key (its bytes after those the
  bucket fixes), value the rows sharing it (4 bytes each), in hashes bucketed by
  band number and the top ``p`` prefix bits (about 160 distinct band keys per
  hash, under ``hash-max-listpack-entries`` 512). A band lookup is one ``HGET``
  (O(1) in either encoding); the prefix probe reads a whole bucket (``HGETALL``,
  budgeted by ``HLEN``) instead of a lexicographic range. Band keys shared by many
  rows (common with short texts: 22% of the entries at 200,000 examples share
  their band key, one key has 4,754 rows) cost 4 bytes per extra row; a posting
  longer than ``hash-max-listpack-value`` (64 bytes: 16 rows) turns its bucket
  into a hashtable, so measured with that setting raised too.
* rows bucketed: additionally documents and token ids in one value per row
  (``uint16`` token count, token ids, document), in hashes of 128 rows, and ids
  in hashes bucketed by ``crc32(id)``: compact only when ``hash-max-listpack-value``
  is raised above the value size (``CONFIG SET hash-max-listpack-value 1024``),
  so measured with and without that setting.

The server runs with its defaults unless a row says otherwise. Nothing here
changes the package.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import redis
from _common import machine, redis_server, table
from corpora import zipf_texts

from langchain_niche import MinHashExampleSelector

MEMBER = np.dtype([("key", ">u8"), ("row", ">u4")])
ROWS_PER_BUCKET = 128
IDS_PER_BUCKET = 256
# ARGV: then (key, inclusive start, exclusive end or '' for the end) per band.
LOOKUP_LUA = """
local seen, out = {}, {}
for i = 1, #ARGV, 3 do
  local hi = ARGV[i + 2]
  if hi == '' then hi = '+' else hi = '(' .. hi end
  for _, m in ipairs(redis.call('ZRANGEBYLEX', ARGV[i], '[' .. ARGV[i + 1], hi)) do
    local r = string.sub(m, -4)
    if not seen[r] then seen[r] = true; out[#out + 1] = r end
  end
end
return table.concat(out)
"""


@dataclass
class Dump:
    """Everything today's layout stores, read back as bytes."""

    rows: list[int]  # rows in insertion order
    docs: list[bytes]
    toks: list[bytes]
    ids: list[tuple[bytes, bytes]]  # (id, row)
    members: np.ndarray  # MEMBER records, all band entries
    full_bits: int
    prefix_bits: int
    band_bits: int


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def build_today(url: str, texts: list[str]) -> tuple[int, str, MinHashExampleSelector]:
    client = redis.Redis.from_url(url)
    client.flushall()
    before = used_memory(client)
    name = f"mem-{uuid.uuid4().hex[:6]}"
    selector = MinHashExampleSelector(redis_url=url, index_name=name, input_keys=["text"], k=4)
    selector.add_examples([{"text": t, "label": f"l{i}"} for i, t in enumerate(texts)])
    return used_memory(client) - before, f"niche:{{{name}}}:", selector


def dump(client: redis.Redis, prefix: str, selector: MinHashExampleSelector) -> Dump:
    docs = dict(client.hscan_iter(prefix + "doc", count=5000))
    toks = dict(client.hscan_iter(prefix + "tok", count=5000))
    ids = list(client.hscan_iter(prefix + "id", count=5000))
    rows = sorted(int(r) for r in docs)
    chunks = [
        b"".join(client.zrange(k, 0, -1)) for k in client.scan_iter(prefix + "lsh:*", count=1000)
    ]
    members = np.frombuffer(b"".join(chunks), dtype=MEMBER)
    banding = selector._storage._encoder().banding  # a study: read-only
    return Dump(
        rows=rows,
        docs=[docs[str(r).encode()] for r in rows],
        toks=[toks[str(r).encode()] for r in rows],
        ids=ids,
        members=members,
        full_bits=banding.full_bits,
        prefix_bits=banding.prefix_bits,
        band_bits=banding.band_bits,
    )


def pipelined(client: redis.Redis, commands: list[tuple[object, ...]], chunk: int = 500) -> None:
    for lo in range(0, len(commands), chunk):
        pipe = client.pipeline(transaction=False)
        for command in commands[lo : lo + chunk]:
            pipe.execute_command(*command)
        pipe.execute()


# -- band entries -------------------------------------------------------------------
@dataclass
class BandLayout:
    """Where band entries go: ``bucket_of`` maps band keys to sorted-set names."""

    name: str
    bucket_of: Callable[[np.ndarray], np.ndarray]
    key_of: Callable[[int], bytes]
    strip: int  # leading key bytes left out of the members (the bucket fixes them)

    def write(self, client: redis.Redis, records: np.ndarray) -> None:
        buckets = self.bucket_of(records["key"].astype(np.uint64))
        order = np.argsort(buckets, kind="stable")
        records, buckets = records[order], buckets[order]
        raw = records.tobytes()
        bounds = np.flatnonzero(np.diff(buckets)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), records.shape[0]]
        commands = []
        for s, e in zip(starts, ends, strict=True):
            args: list[object] = []
            for i in range(s, e):
                args.extend((0, raw[i * 12 + self.strip : i * 12 + 12]))
            commands.append(("ZADD", self.key_of(int(buckets[s])), *args))
        pipelined(client, commands)

    def lookup_args(self, keys: np.ndarray) -> list[bytes]:
        """The Lua script's arguments for whole-band lookups of these band keys."""
        buckets = self.bucket_of(keys.astype(np.uint64)).tolist()
        args: list[bytes] = []
        for key, bucket in zip(keys.tolist(), buckets, strict=True):
            lo = int(key).to_bytes(8, "big")
            nxt = int(key) + 1
            carry = nxt >= 2**64 or nxt.to_bytes(8, "big")[: self.strip] != lo[: self.strip]
            hi = b"" if carry else nxt.to_bytes(8, "big")[self.strip :]
            args.extend((self.key_of(int(bucket)), lo[self.strip :], hi))
        return args


def band_layouts(d: Dump, size: int, prefix: str) -> list[BandLayout]:
    low = np.uint64(d.full_bits)
    today = BandLayout(
        "today: 4,096 zsets lsh:SSSS, 12-byte members",
        lambda k: (k >> low) & np.uint64(0xFFF),
        lambda b: f"{prefix}lsh:{b:04x}".encode(),
        0,
    )
    # band number + the top p prefix bits: a bucket holds one band's entries, ~48 on average
    p = max(1, int(np.ceil(np.log2(size / 48))))
    shift = np.uint64(d.full_bits + d.prefix_bits - p)
    buckets = d.members.shape[0] // size * 2**p

    def key_of(b: int) -> bytes:
        return f"{prefix}b:{b:x}".encode()

    strip = (d.band_bits + p) // 8
    return [
        today,
        BandLayout(
            f"zset-buckets: {buckets:,} zsets, 12-byte members", lambda k: k >> shift, key_of, 0
        ),
        BandLayout(
            f"zset-buckets: {buckets:,} zsets, {12 - strip}-byte members",
            lambda k: k >> shift,
            key_of,
            strip,
        ),
    ]


@dataclass
class PostingLayout:
    """Band entries as postings: one hash field per distinct band key (its bytes after
    the ``strip`` the bucket fixes), value the rows sharing it (4 bytes each, ascending),
    in hashes bucketed like ``zset-buckets``. A band lookup is one ``HGET``."""

    name: str
    shift: np.uint64
    key_of: Callable[[int], bytes]
    strip: int
    lua = """
local seen, out = {}, {}
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', ARGV[i], ARGV[i + 1])
  if v then
    for a = 1, #v, 4 do
      local r = string.sub(v, a, a + 3)
      if not seen[r] then seen[r] = true; out[#out + 1] = r end
    end
  end
end
return table.concat(out)
"""

    def write(self, client: redis.Redis, records: np.ndarray) -> None:
        keys = records["key"].astype(np.uint64)
        order = np.lexsort((records["row"], keys))
        keys, rows = keys[order], records["row"][order].astype(">u4")
        distinct, starts = np.unique(keys, return_index=True)
        ends = [*starts[1:].tolist(), keys.shape[0]]
        raw_rows = rows.tobytes()
        raw_keys = distinct.astype(">u8").tobytes()
        buckets = (distinct >> self.shift).tolist()
        commands: list[tuple[object, ...]] = []
        pairs: list[object] = []
        current = None
        for j, (s, e) in enumerate(zip(starts.tolist(), ends, strict=True)):
            if buckets[j] != current or len(pairs) >= 2000:
                if pairs:
                    commands.append(("HSET", self.key_of(current), *pairs))
                pairs, current = [], buckets[j]
            pairs.extend((raw_keys[j * 8 + self.strip : j * 8 + 8], raw_rows[s * 4 : e * 4]))
        if pairs:
            commands.append(("HSET", self.key_of(current), *pairs))
        pipelined(client, commands)

    def lookup_args(self, keys: np.ndarray) -> list[bytes]:
        args: list[bytes] = []
        for key in keys.astype(np.uint64).tolist():
            args.extend(
                (self.key_of(key >> int(self.shift)), int(key).to_bytes(8, "big")[self.strip :])
            )
        return args


# -- per-row values ---------------------------------------------------------------------
def write_rows_today(client: redis.Redis, d: Dump, prefix: str) -> None:
    commands: list[tuple[object, ...]] = []
    for name, values in (("doc", d.docs), ("tok", d.toks)):
        pairs: list[object] = []
        for row, value in zip(d.rows, values, strict=True):
            pairs.extend((row, value))
        commands.extend(
            ("HSET", prefix + name, *pairs[i : i + 2000]) for i in range(0, len(pairs), 2000)
        )
    pairs = [x for pair in d.ids for x in pair]
    commands.extend(
        ("HSET", prefix + "id", *pairs[i : i + 2000]) for i in range(0, len(pairs), 2000)
    )
    pipelined(client, commands, chunk=50)


def write_rows_bucketed(client: redis.Redis, d: Dump, prefix: str) -> None:
    """One value per row (uint16 token count, token ids, document) in hashes of 128 rows;
    ids in hashes bucketed by crc32(id)."""
    by_bucket: dict[int, list[object]] = {}
    for row, doc, tok in zip(d.rows, d.docs, d.toks, strict=True):
        value = (len(tok) // 8).to_bytes(2, "little") + tok + doc
        by_bucket.setdefault(row // ROWS_PER_BUCKET, []).extend((row % ROWS_PER_BUCKET, value))
    commands: list[tuple[object, ...]] = [
        ("HSET", f"{prefix}r:{b:x}", *pairs) for b, pairs in by_bucket.items()
    ]
    id_buckets = max(1, len(d.ids) // IDS_PER_BUCKET)
    by_id: dict[int, list[object]] = {}
    for ident, row in d.ids:
        by_id.setdefault(zlib.crc32(ident) % id_buckets, []).extend((ident, row))
    commands.extend(("HSET", f"{prefix}i:{b:x}", *pairs) for b, pairs in by_id.items())
    pipelined(client, commands, chunk=100)


def encodings(client: redis.Redis, pattern: str) -> str:
    seen: dict[str, int] = {}
    for key in client.scan_iter(pattern, count=2000):
        name = client.object("encoding", key).decode()
        seen[name] = seen.get(name, 0) + 1
    return ", ".join(f"{n} {c:,}" for n, c in sorted(seen.items()))


# -- lookups ----------------------------------------------------------------------------
def lookups(
    client: redis.Redis, layout: BandLayout | PostingLayout, queries: np.ndarray
) -> tuple[float, list[bytes]]:
    lua = layout.lua if isinstance(layout, PostingLayout) else LOOKUP_LUA
    script = client.register_script(lua)
    found, times = [], []
    for q in queries:
        args = layout.lookup_args(q)
        start = time.perf_counter()
        rows = script(args=args)
        times.append(time.perf_counter() - start)
        found.append(b"".join(sorted(rows[i : i + 4] for i in range(0, len(rows), 4))))
    return statistics.median(times), found


@dataclass
class Variant:
    band: BandLayout | PostingLayout
    rows: str  # "today" or "bucketed"
    config: dict[str, int]
    lookup: bool  # time the band lookup (band layouts differ; rows do not matter)


DEFAULTS = {"zset-max-listpack-entries": 128, "hash-max-listpack-value": 64}


def set_config(client: redis.Redis, settings: dict[str, int]) -> None:
    for name, value in settings.items():
        client.config_set(name, value)


def posting_layout(d: Dump, prefix: str, p: int) -> PostingLayout:
    shift = np.uint64(d.full_bits + d.prefix_bits - p)
    return PostingLayout(
        f"postings: {d.members.shape[0] // d.rows.__len__() * 2**p:,} hashes, band key -> rows",
        shift,
        lambda b: f"{prefix}p:{b:x}".encode(),
        (d.band_bits + p) // 8,
    )


def variants(d: Dump, size: int, prefix: str) -> list[Variant]:
    today, bucketed, short = band_layouts(d, size, prefix)
    # about 160 distinct band keys per hash at 200,000 examples (hash-max-listpack-entries 512)
    postings = posting_layout(d, prefix, max(1, int(np.ceil(np.log2(size / 200)))))
    mean = d.members.shape[0] / 4096
    raised = max(128, 2 ** int(np.ceil(np.log2(mean * 1.5))))
    return [
        Variant(today, "today", {}, lookup=True),
        Variant(today, "today", {"zset-max-listpack-entries": raised}, lookup=True),
        Variant(bucketed, "today", {}, lookup=True),
        Variant(short, "today", {}, lookup=True),
        Variant(short, "bucketed", {}, lookup=False),
        Variant(short, "bucketed", {"hash-max-listpack-value": 1024}, lookup=False),
        Variant(postings, "today", {}, lookup=True),
        Variant(postings, "bucketed", {}, lookup=False),
        Variant(postings, "today", {"hash-max-listpack-value": 256}, lookup=True),
        Variant(postings, "bucketed", {"hash-max-listpack-value": 1024}, lookup=False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--redis-url", help="an empty server of your own (it is FLUSHALLed)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "Redis memory per example of a MinHash index (INFO used_memory delta / examples), single node"
    )
    print(machine())
    memory_rows: list[tuple[object, ...]] = []
    lookup_rows: list[tuple[object, ...]] = []
    notes: list[str] = []
    with redis_server(args.redis_url) as url:
        client = redis.Redis.from_url(url)
        version = client.info("server")["redis_version"]
        for size in sizes:
            texts = zipf_texts(size, seed=301)
            chars = sum(map(len, texts)) / size
            start = time.perf_counter()
            today_bytes, prefix, selector = build_today(url, texts)
            build = time.perf_counter() - start
            d = dump(client, prefix, selector)
            per_example = d.members.shape[0] // size
            memory_rows.append(
                (
                    "today, written by the package",
                    encodings(client, prefix + "lsh:*"),
                    "one hash each",
                    "",
                    f"{size:,}",
                    round(today_bytes / size),
                    "",
                    "1.00",
                )
            )
            rng = np.random.default_rng(7)
            sample = rng.choice(size, size=min(args.lookups, size), replace=False)
            by_row = np.sort(d.members, order=["row", "key"])
            queries = by_row["key"].reshape(size, per_example)[sample]
            reference: list[bytes] = []
            for v in variants(d, size, prefix):
                client.flushall()
                set_config(client, {**DEFAULTS, **v.config})
                base = used_memory(client)
                if v.rows == "today":
                    write_rows_today(client, d, prefix)
                    rows_label = "doc/tok/id: one hash each"
                else:
                    write_rows_bucketed(client, d, prefix)
                    rows_label = (
                        f"rows in hashes of {ROWS_PER_BUCKET} ({encodings(client, prefix + 'r:*')})"
                    )
                rows_bytes = used_memory(client) - base
                v.band.write(client, d.members)
                total = used_memory(client) - base
                pattern = prefix + (
                    "lsh:*"
                    if v.band.name.startswith("today")
                    else "p:*"
                    if isinstance(v.band, PostingLayout)
                    else "b:*"
                )
                memory_rows.append(
                    (
                        v.band.name,
                        encodings(client, pattern),
                        rows_label,
                        ", ".join(f"{k} {val}" for k, val in v.config.items()),
                        f"{size:,}",
                        round(total / size),
                        round((total - rows_bytes) / size),
                        f"{total / today_bytes:.2f}",
                    )
                )
                if v.lookup:
                    took, found = lookups(client, v.band, queries)
                    reference = reference or found
                    lookup_rows.append(
                        (
                            v.band.name,
                            ", ".join(f"{k} {val}" for k, val in v.config.items()),
                            f"{size:,}",
                            f"{took * 1e6:.0f} µs",
                            "yes" if found == reference else "NO",
                        )
                    )
            set_config(client, DEFAULTS)
            client.flushall()
            notes.append(
                f"{size:,} examples: built by the package in {build:.1f} s; {chars:.0f} characters "
                f"per text; {per_example} band entries per example"
            )
    print(
        f"redis-server {version}, defaults unless the config column says otherwise "
        "(zset-max-listpack-entries 128, hash-max-listpack-entries 512, *-max-listpack-value 64)"
    )
    print()
    header = ["band entries", "band keys (encoding: keys)", "rows", "config", "examples",
              "bytes/example", "of which band entries", "vs today"]  # fmt: skip
    print(table(header, memory_rows))
    print()
    print(
        "A selection's band lookup: one Lua call, 32 ZRANGEBYLEX (zsets) or 32 HGET (postings), distinct rows only:"
    )
    header = ["band entries", "config", "examples", "p50 round trip", "same rows as today"]
    print(table(header, lookup_rows))
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
