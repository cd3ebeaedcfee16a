"""The postings layout of Redis band entries, seen from a real redis-server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langchain_niche import IndexFormatError, MinHashExampleSelector
from langchain_niche.datasets import python_api_examples
from tests.integration_tests.test_redis_errors import client, key

__all__ = ["client"]  # the fixture


def selector(url: str, name: str, **kwargs: Any) -> MinHashExampleSelector:
    kwargs.setdefault("input_keys", ["q"])
    return MinHashExampleSelector(redis_url=url, index_name=name, **kwargs)


def postings(client: Any, name: str) -> dict[tuple[bytes, bytes], list[int]]:
    """Every posting of an index: (bucket key, field) -> rows."""
    out = {}
    for bucket in client.scan_iter(key(name, "p:*")):
        for field, value in client.hgetall(bucket).items():
            out[bucket, field] = [
                int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4)
            ]
    return out


def test_removal_rewrites_shared_postings_exactly(
    redis_url: str, index_name: str, client: Any
) -> None:
    s = selector(redis_url, index_name, k=10, fallback="none")
    same = "reset my password please"
    ids = s.add_examples([{"q": same}] * 4 + [{"q": "where is my invoice"}])
    bands = s.bands
    before = postings(client, index_name)
    shared = [rows for rows in before.values() if len(rows) == 4]
    assert len(shared) == bands  # the four equal examples share every band key
    assert all(rows == [0, 1, 2, 3] for rows in shared)
    s.remove_example(ids[1])
    after = postings(client, index_name)
    assert sorted(after.values()) == sorted(
        [0, 2, 3] if rows == [0, 1, 2, 3] else rows for rows in before.values()
    )
    assert [h.id for h in s.search({"q": same})] == [ids[0], ids[2], ids[3]]
    assert s.audit()["problems"] == []
    for example_id in (ids[0], ids[2], ids[3], ids[4]):
        s.remove_example(example_id)
    assert list(client.scan_iter(key(index_name, "p:*"))) == []  # empty postings deleted


def test_audit_finds_a_row_missing_from_a_posting_or_a_stranger_in_one(
    redis_url: str, index_name: str, client: Any
) -> None:
    s = selector(redis_url, index_name)
    s.add_examples([{"q": "alpha beta gamma"}, {"q": "delta epsilon"}])
    assert s.audit()["problems"] == []
    (bucket, field), rows = next(iter(postings(client, index_name).items()))
    client.hset(bucket, field, b"".join(r.to_bytes(4, "big") for r in rows[1:]))
    assert f"row {rows[0]} is missing band entries" in s.audit()["problems"]
    client.hset(bucket, field, b"".join(r.to_bytes(4, "big") for r in [*rows, 999]))
    problems = s.audit()["problems"]
    assert any("[999] that are not stored examples" in p for p in problems), problems


def test_buckets_are_compact_and_their_number_is_fixed_in_config(
    redis_url: str, index_name: str, client: Any
) -> None:
    corpus = [{"q": e["description"]} for e in python_api_examples()]
    s = selector(redis_url, index_name)
    s.add_examples(corpus)
    config = json.loads(client.get(key(index_name, "config")))
    assert (config["version"], config["shards"], config["bucket_bits"]) == (2, 1, 10)
    max_value = int(client.config_get("hash-max-listpack-value")["hash-max-listpack-value"])
    buckets = list(client.scan_iter(key(index_name, "p:*"), count=1000))
    assert len(buckets) <= s.bands * 2**10
    for bucket in buckets:
        if client.object("encoding", bucket) != b"listpack":
            # only a posting longer than Redis's listpack value limit makes a hashtable
            assert max(map(len, client.hgetall(bucket).values())) > max_value, bucket


@pytest.mark.parametrize("bits", [3, 0, 13])
def test_bucket_bits_are_chosen_at_creation_stored_and_adopted(
    redis_url: str, index_name: str, client: Any, bits: int
) -> None:
    corpus = [{"q": e["description"]} for e in python_api_examples()]
    created = selector(redis_url, index_name, k=3, redis_bucket_bits=bits)
    config = json.loads(client.get(key(index_name, "config")))
    assert config["bucket_bits"] == bits
    # a process opening the index without the setting adopts it, and writes with it
    opened = selector(redis_url, index_name, k=3, input_keys=None)
    opened.add_examples(corpus[:200])
    width = -(-(opened.bands.bit_length() + bits) // 4)
    names = {k.decode().rsplit(":", 1)[1] for k in client.scan_iter(key(index_name, "p:*"))}
    assert names
    assert all(len(n) == width for n in names)
    assert len(names) <= opened.bands * 2**bits
    memory = MinHashExampleSelector(examples=corpus[:200], input_keys=["q"], k=3)
    for query in ({"q": corpus[7]["q"]}, {"q": "open a file"}, {"q": "sort a list"}):
        assert opened.search(query) == memory.search(query)
        assert created.search(query) == memory.search(query)
    assert opened.audit() == {"examples": 200, "problems": []}
    # giving the stored value again is fine; another value is an error naming both
    assert len(selector(redis_url, index_name, redis_bucket_bits=bits)) == 200
    other = bits + 1
    with pytest.raises(
        IndexFormatError, match=rf"has {bits} bucket bits .*got redis_bucket_bits={other}"
    ):
        selector(redis_url, index_name, redis_bucket_bits=other)
    assert json.loads(client.get(key(index_name, "config")))["bucket_bits"] == bits


def test_the_default_bucket_bits_stay_ten(redis_url: str, index_name: str, client: Any) -> None:
    selector(redis_url, index_name).add_examples([{"q": "alpha beta"}])
    assert json.loads(client.get(key(index_name, "config")))["bucket_bits"] == 10
    with pytest.raises(IndexFormatError, match="has 10 bucket bits"):
        selector(redis_url, index_name, redis_bucket_bits=12)


@pytest.mark.parametrize("glob", [b"*", b"?", b"[", b"]", b"\\", b"a"])
def test_the_probe_reads_the_fields_of_its_range_whatever_their_bytes(
    client: Any, index_name: str, glob: bytes
) -> None:
    """Fields in and out of a probe range, their fixed bytes glob or escape characters."""
    import numpy as np  # noqa: PLC0415

    from langchain_niche.minhash.banding import Banding  # noqa: PLC0415
    from langchain_niche.minhash.redis.lua import scripts  # noqa: PLC0415
    from langchain_niche.minhash.redis.postings import Postings  # noqa: PLC0415

    postings = Postings(Banding(num_perm=128, bands=32, rows=4), 10)
    assert (postings.strip, postings.head) == (2, 2)  # key bytes 2-3 fixed, byte 4: 3 bits
    lead = b"\x10\x44"

    def key_of(fixed: bytes, partial: int, rest: bytes) -> int:
        return int.from_bytes(lead + fixed + bytes([partial]) + rest, "big")

    keys = {
        0: key_of(glob + b"*", 0x20, b"abc"),  # the query's
        1: key_of(glob + b"*", 0x3F, b"xyz"),  # same prefix (top 3 bits of byte 4)
        2: key_of(glob + b"*", 0x20, b"abc"),  # same key
        3: key_of(b"x*", 0x20, b"abc"),  # first fixed byte differs
        4: key_of(glob + b"x", 0x20, b"abc"),  # second fixed byte differs
        5: key_of(glob + b"*", 0x40, b"abc"),  # the partial byte's prefix bits differ
        6: key_of(b"\\" + glob, 0x20, b"abc"),
    }
    prefix = f"niche:{{{index_name}}}:"
    for row, value in keys.items():
        entry = postings.entries(np.array([value], dtype=np.uint64))
        bucket, field = entry[: postings.width].decode(), entry[postings.width :]
        old = client.hget(prefix + "p:" + bucket, field) or b""
        client.hset(prefix + "p:" + bucket, field, old + row.to_bytes(4, "big"))
        client.hset(prefix + "tok", str(row), b"\x00" * 8)
    query = np.array([keys[0]], dtype=np.uint64)
    args = [prefix, "probe", postings.width, postings.field_size, postings.head]
    args += [postings.probe_args(query), b"", 10, 1000, 1000]
    reply = client.eval(scripts()["lookup"], 0, *args)
    rows = sorted(np.frombuffer(reply[0], dtype=">u4").tolist())
    assert rows == [0, 1, 2]
