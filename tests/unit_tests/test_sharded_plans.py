"""Plans run side by side (``gather``) and the keys a script declares on a cluster (issue 15)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_niche.minhash.redis.connection import script_keys, shard_prefix
from langchain_niche.minhash.redis.plans import Plan, gather, run_sync
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
    assert run_sync(gather(plans), _execute) == expected


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
        run_sync(gather([failing(), fine()]), _execute)
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
    packed = np.zeros(2, dtype=[("shard", "u1", (4,)), ("lo", ">u8"), ("hi", ">u8")])
    packed["shard"] = [list(b"00a1"), list(b"0003")]
    band = [p, "band", packed.tobytes(), packed[:1].tobytes(), "4", "8", "64", "64"]
    assert script_keys("lookup", band) == sorted(
        [p + "lsh:00a1", p + "lsh:0003", p + "tok", p + "doc"]
    )
    assert script_keys("lookup", [p, "probe", packed[1:].tobytes(), b"", "4", "32"]) == sorted(
        [p + "lsh:0003", p + "tok", p + "doc"]
    )
    assert script_keys("fetch", [p, "doc", b""]) == [p + "doc"]
    insert = [p, "[]", b"", b"", b"", b"", b"", b"00a10003", b"", b""]
    assert script_keys("insert", insert) == sorted(
        [p + k for k in ("id", "doc", "tok", "fields", "lsh:00a1", "lsh:0003")]
    )
    remove = [
        p,
        "2",
        "x",
        "5",
        "00a1",
        b"m1",
        "0003",
        b"m2",
        "y",
        "6",
        "0fff",
        b"m3",
        "00a1",
        b"m4",
    ]
    assert script_keys("remove", remove) == sorted(
        [p + k for k in ("id", "doc", "tok", "lsh:00a1", "lsh:0003", "lsh:0fff")]
    )
