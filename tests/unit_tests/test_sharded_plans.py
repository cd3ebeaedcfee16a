"""Plans run side by side (``gather``) and the keys a script declares on a cluster (issue 15)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_niche._sansio import drive
from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.redis.keys import script_keys, shard_prefix
from langchain_niche.minhash.redis.plans import Plan, gather
from langchain_niche.minhash.redis.postings import Postings
from langchain_niche.minhash.redis.sharded import shard_of


def _adder(name: str, steps: int) -> Plan[str]:
    total = 0
    for i in range(steps):
        total += yield ("cmd", name, i)
    return f"{name}={total}"


def _execute(call: Any) -> Any:
    assert call[0] == "all"
    return [ValueError(one[1]) if one[1] == "bad" else one[2] * 10 for one in call[1]]


@given(st.lists(st.integers(min_value=0, max_value=5), max_size=6))
def test_gather_runs_every_plan_to_its_end_in_order(steps: list[int]) -> None:
    plans = [_adder(f"p{i}", n) for i, n in enumerate(steps)]
    expected = [f"p{i}={10 * sum(range(n))}" for i, n in enumerate(steps)]
    assert drive(gather(plans), _execute) == expected


def test_gather_raises_a_failed_call_inside_its_plan_after_the_others_ended() -> None:
    ended: list[str] = []

    def failing() -> Plan[None]:
        try:
            yield ("cmd", "bad", 1)
        finally:
            ended.append("failing")

    def fine() -> Plan[int]:
        reply = yield ("cmd", "ok", 1)
        reply += yield ("cmd", "ok", 2)
        ended.append("fine")
        return int(reply)

    with pytest.raises(ValueError, match="bad"):
        drive(gather([failing(), fine()]), _execute)
    assert ended == ["failing", "fine"]


@given(st.text(min_size=1, max_size=40))
def test_shard_of_is_stable_and_in_range(example_id: str) -> None:
    assert 0 <= shard_of(example_id, 7) < 7
    assert shard_of(example_id, 7) == shard_of(example_id, 7)
    assert shard_of(example_id, 1) == 0


def test_shard_prefixes_spread_over_equal_slot_ranges() -> None:
    from redis.crc import key_slot  # noqa: PLC0415

    assert shard_prefix("idx", 0, 1) == "niche:{idx}:"
    for shards in (2, 3, 12):
        prefixes = [shard_prefix("idx", s, shards) for s in range(shards)]
        assert len(set(prefixes)) == shards
        for s, prefix in enumerate(prefixes):
            assert s * 16384 // shards <= key_slot(prefix.encode()) < (s + 1) * 16384 // shards
            assert prefix.startswith("niche:{idx#")


def test_script_keys_name_every_key_a_script_touches() -> None:
    p = "niche:{i#0.1}:"
    postings = Postings(Banding(num_perm=64, bands=16, rows=4), 6)
    shift = 64 - postings.banding.band_bits - 6
    keys = np.array([3 << 59 | 5 << 55 | 77, 3 << 59 | 5 << 55 | 99, 12 << 59 | 1], np.uint64)
    buckets = [p + f"p:{int(k) >> shift:0{postings.width}x}" for k in keys.tolist()]
    assert len(set(buckets)) == 2
    head = [p, "band", str(postings.width), str(postings.field_size), str(postings.head)]
    band = [*head, postings.entries(keys), postings.probe_args(keys[2:]), "4", "8", "64"]
    assert script_keys("lookup", band) == sorted({*buckets, p + "tok", p + "doc"})
    probe = [*head[:1], "probe", *head[2:], postings.probe_args(keys[:1]), b"", "4", "32", "9"]
    assert script_keys("lookup", probe) == sorted([buckets[0], p + "tok", p + "doc"])
    assert script_keys("fetch", [p, "doc", b""]) == [p + "doc"]
    sizes = [str(postings.width), str(postings.field_size)]
    rows = np.array([4, 9, 11], dtype=np.int64)
    packed = postings.insert_args(keys[:, None], rows)
    insert = [p, "[]", b"", b"", b"", b"", b"", *sizes, *packed]
    assert script_keys("insert", insert) == sorted(
        {*buckets, *(p + k for k in ("id", "doc", "tok", "fields"))}
    )
    entries = [postings.entries(keys[i : i + 1]) for i in range(3)]
    remove = [p, "1", *sizes, "x", "4", entries[0], "y", "11", entries[2]]
    assert script_keys("remove", remove) == sorted(
        {*buckets, *(p + k for k in ("id", "doc", "tok"))}
    )
