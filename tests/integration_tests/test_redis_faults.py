"""Fault injection against a real redis-server: slow, paused, killed, silent, killed writers.

Every test starts its own servers on free loopback ports (the fault would
otherwise disturb the other tests) and stays within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_niche import MinHashExampleSelector, StoreUnavailableError
from tests.support.minhash_writer import synthetic_examples
from tests.support.redis_server import (
    RedisServer,
    SilentServer,
    busy_server,
    pause_clients,
    start_writer,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A private redis-server (faults must not disturb the session's server)."""
    with RedisServer() as private:
        yield private


@contextlib.contextmanager
def busy_on_first_chunk(
    selector: MinHashExampleSelector, port: int, seconds: float
) -> Iterator[None]:
    """Make Redis busy for ``seconds`` just as the first chunk of an insert is sent."""
    storage: Any = selector.storage
    with contextlib.ExitStack() as stack:

        def start(call: Any) -> None:
            if call[0] == "submit" and not started:
                started.append(True)
                stack.enter_context(busy_server(port, seconds))

        def execute(call: Any) -> Any:
            start(call)
            return type(storage).execute(storage, call)

        async def aexecute(call: Any) -> Any:
            start(call)
            return await type(storage).aexecute(storage, call)

        started: list[bool] = []
        storage.execute, storage.aexecute = execute, aexecute
        try:
            yield
        finally:
            del storage.execute, storage.aexecute
    assert started, "no chunk was sent"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("custom_ids", [False, True])
def test_an_insert_resent_after_a_slow_reply_is_stored_once(
    server: RedisServer, mode: str, custom_ids: bool
) -> None:
    # issue 10 item 1: Redis busy ~1.6 s with redis_timeout=1: the chunk in flight
    # times out and is sent again, though the first one ran once Redis was free
    selector = MinHashExampleSelector(
        redis_url=server.url, index_name="busy", input_keys=["question"],
        redis_timeout=1, redis_batch_size=200,
    )  # fmt: skip
    selector.add_examples(synthetic_examples(1000, 1), ids=["first"])  # the scripts are loaded
    examples = synthetic_examples(0, 1000)
    ids = [f"q{i}" for i in range(1000)] if custom_ids else None
    with busy_on_first_chunk(selector, server.port, 1.6):
        if mode == "sync":
            returned = selector.add_examples(examples, ids=ids)
        else:
            returned = asyncio.run(selector.aadd_examples(examples, ids=ids))
    assert len(returned) == len(set(returned)) == 1000
    if custom_ids:
        assert returned == ids
    assert len(selector) == 1001
    assert sorted(selector.ids) == sorted(["first", *returned])
    assert selector.audit() == {"examples": 1001, "problems": []}
    assert len({e["question"] for e in selector.examples}) == 1001


def test_an_unresponsive_server_gets_a_single_attempt() -> None:
    # issue 10 item 5: redis-py retried once, so a silent server held the caller for
    # 2 x redis_timeout; now one connection, one timeout
    with SilentServer() as silent:
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{silent.port}") as info:
            MinHashExampleSelector(
                redis_url=f"redis://127.0.0.1:{silent.port}/0", input_keys=["q"], redis_timeout=0.5
            )
        elapsed = time.monotonic() - start
        assert silent.accepted == 1
    assert "within 0.5 s" in str(info.value)
    assert elapsed < 0.5 + 2.5  # one attempt (generous slack for a loaded machine)


def test_a_write_outlasting_two_timeouts_raises_and_stores_nothing_twice(
    server: RedisServer,
) -> None:
    selector = MinHashExampleSelector(
        redis_url=server.url, index_name="stall", input_keys=["question"],
        redis_timeout=0.3, redis_batch_size=100,
    )  # fmt: skip
    selector.add_examples(synthetic_examples(1000, 1), ids=["first"])
    examples = synthetic_examples(0, 500)
    ids = [f"q{i}" for i in range(500)]
    with (
        busy_on_first_chunk(selector, server.port, 1.5),
        pytest.raises(StoreUnavailableError, match=r"within 0\.3 s.*of the 500 examples") as info,
    ):
        selector.add_examples(examples, ids=ids)
    # the chunks sent before the timeouts ran once Redis was free: whole, and once
    stored = selector.ids
    # the message says how many were confirmed (the first chunk timed out: none)
    assert "0 of the 500 examples of this batch were written" in str(info.value)
    assert stored[0] == "first"
    assert len(stored) == len(set(stored))
    assert set(stored[1:]) <= set(ids)
    assert (len(stored) - 1) % 100 == 0
    assert selector.audit()["problems"] == []
    # a second try with the same ids adds what is missing, or names an id now taken
    missing = [i for i, example_id in enumerate(ids) if example_id not in set(stored)]
    selector.add_examples([examples[i] for i in missing], ids=[ids[i] for i in missing])
    assert sorted(selector.ids) == sorted(["first", *ids])


def test_clients_paused_during_a_write_lose_nothing(server: RedisServer) -> None:
    # CLIENT PAUSE drops the command of a client that gave up: the re-sent chunk runs
    selector = MinHashExampleSelector(
        redis_url=server.url, index_name="paused", input_keys=["question"],
        redis_timeout=0.5, redis_batch_size=100,
    )  # fmt: skip
    selector.add_examples(synthetic_examples(1000, 1), ids=["first"])
    pause_clients(server.port, 0.8)
    returned = selector.add_examples(synthetic_examples(0, 300))
    assert len(selector) == 301
    assert sorted(selector.ids) == sorted(["first", *returned])
    assert selector.audit() == {"examples": 301, "problems": []}


def test_a_killed_and_restarted_server_keeps_acknowledged_writes(redis_server: RedisServer) -> None:
    # (redis_server: skipped or failed like the other Redis tests without redis-server)
    with RedisServer(appendonly=True) as server:
        selector = MinHashExampleSelector(
            redis_url=server.url, index_name="aof", input_keys=["question"], k=1,
            redis_timeout=1,
        )  # fmt: skip
        examples = synthetic_examples(0, 300)
        ids = selector.add_examples(examples)
        server.kill()
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{server.port}"):
            selector.select_examples({"question": examples[5]["question"]})
        server.restart()
        # the same selector (its connection pool) recovers without being recreated
        assert selector.search({"question": examples[5]["question"]})[0].id == ids[5]
        assert selector.ids == ids
        assert selector.audit() == {"examples": 300, "problems": []}
        assert asyncio.run(selector.aselect_examples({"question": examples[7]["question"]})) == [
            examples[7]
        ]
        selector.add_examples(synthetic_examples(300, 10))
        assert len(selector) == 310


def test_a_server_killed_mid_write_restarts_with_whole_chunks(redis_server: RedisServer) -> None:
    with RedisServer(appendonly=True) as server:
        MinHashExampleSelector(redis_url=server.url, index_name="w", input_keys=["question"])
        writer = start_writer(server.url, "w", 0, 20000, "k", 50)
        assert writer.stdout is not None
        for _ in range(5):  # a few atomic steps acknowledged, then the server dies
            assert writer.stdout.readline().startswith("wrote")
        server.kill()
        assert writer.wait(timeout=30) != 0  # the writer got StoreUnavailableError
        writer.stdout.close()
        server.restart()
        selector = MinHashExampleSelector(redis_url=server.url, index_name="w", k=1)
        report = selector.audit()
        assert report["problems"] == []
        count = report["examples"]
        assert 250 <= count < 20000
        assert count % 50 == 0  # whole steps only
        examples = synthetic_examples(0, count)
        assert selector.ids == [f"k{i}" for i in range(count)]
        for i in range(0, count, max(1, count // 20)):
            assert selector.search({"question": examples[i]["question"]})[0].example == examples[i]
