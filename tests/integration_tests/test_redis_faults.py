"""Fault injection against a real redis-server: slow, paused, killed, silent, killed writers.

Every test starts its own servers on free loopback ports (the fault would
otherwise disturb the other tests) and stays within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_niche import MinHashExampleSelector
from tests.support.minhash_writer import synthetic_examples
from tests.support.redis_server import RedisServer, busy_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A private redis-server (faults must not disturb the session's server)."""
    with RedisServer() as private:
        yield private


def _busy_on_first_chunk(
    selector: MinHashExampleSelector, port: int, seconds: float, stack: contextlib.ExitStack
) -> None:
    """Make Redis busy for ``seconds`` just as the first chunk of an insert is sent."""
    storage: Any = selector.storage
    sync_execute, async_execute = storage.execute, storage.aexecute

    def start(call: Any) -> None:
        if call[0] == "submit" and not stack._exit_callbacks:  # noqa: SLF001
            stack.enter_context(busy_server(port, seconds))

    def execute(call: Any) -> Any:
        start(call)
        return sync_execute(call)

    async def aexecute(call: Any) -> Any:
        start(call)
        return await async_execute(call)

    storage.execute, storage.aexecute = execute, aexecute


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
    with contextlib.ExitStack() as stack:
        _busy_on_first_chunk(selector, server.port, 1.6, stack)
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
