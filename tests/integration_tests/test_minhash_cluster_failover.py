"""A MinHash index on a real Redis Cluster losing a master (issue 15): a fresh cluster per test."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_niche import MinHashExampleSelector, StoreUnavailableError
from langchain_niche.datasets import python_api_examples
from langchain_niche.minhash.redis.sharded import ShardedRedisLshStorage
from tests.support.redis_cluster import LocalRedisCluster

RECOVERY_BOUND = 20.0
"""Seconds the tests wait for the index to serve again after a master dies (a test's bound,
not a measurement: about 3 s measured, see the README's "Scaling out")."""


def _selector(cluster: LocalRedisCluster, **kwargs: Any) -> MinHashExampleSelector:
    return MinHashExampleSelector(
        redis_url=cluster.urls[0],
        index_name="failover",
        input_keys=["description"],
        redis_timeout=1.0,
        **kwargs,
    )


def _victim(cluster: LocalRedisCluster, selector: MinHashExampleSelector) -> Any:
    """The master serving the most shards of the index."""
    storage = selector._storage
    assert isinstance(storage, ShardedRedisLshStorage)
    owners = [cluster.owner(cluster.keyslot(view.prefix)) for view in storage.shards]
    return max(owners, key=owners.count)


def test_master_killed_during_reads_and_writes_then_served_by_the_replica(
    fresh_redis_cluster: LocalRedisCluster,
) -> None:
    cluster = fresh_redis_cluster
    corpus = python_api_examples()
    selector = _selector(cluster, redis_wait_replicas=1)
    selector.add_examples(corpus[:600])  # each chunk acknowledged by a replica
    query = {"description": corpus[5]["description"]}
    expected = selector.search(query)
    victim = _victim(cluster, selector)
    killed = time.monotonic()
    cluster.kill_master(victim, hard=True)
    acknowledged: list[str] = []
    refused: list[str] = []
    last_failure = killed
    n = 600
    # reads and writes (the same client, no restart) until reads worked for 1 s
    while time.monotonic() - last_failure < 1.0:
        assert time.monotonic() - killed < RECOVERY_BOUND, "no recovery after the failover"
        try:
            assert selector.search(query) == expected
        except StoreUnavailableError:  # the only error raised meanwhile
            last_failure = time.monotonic()
            time.sleep(0.05)
        try:
            acknowledged += selector.add_examples([corpus[n]], ids=[f"new-{n}"])
        except StoreUnavailableError as exc:
            refused.append(str(exc))
        n += 1
    assert last_failure > killed, "the kill was not noticed"
    # the promoted replica has no replica of its own: WAIT refuses writes to its shards
    # (written on the master, not acknowledged) until the old master rejoins as a replica
    assert any("acknowledged by 0 of redis_wait_replicas=1" in m for m in refused)
    cluster.restart_node(victim)
    for i in range(n, n + 30):
        acknowledged += selector.add_examples([corpus[i]], ids=[f"new-{i}"])
    # nothing whose add_examples returned is lost
    report = selector.audit()
    assert report["problems"] == []
    stored = set(selector.ids)
    assert set(acknowledged) <= stored
    assert {str(i) for i in range(600)} <= stored


def test_async_selections_recover_after_a_failover(fresh_redis_cluster: LocalRedisCluster) -> None:
    cluster = fresh_redis_cluster
    corpus = python_api_examples()
    selector = _selector(cluster)
    selector.add_examples(corpus[:300])
    query = {"description": corpus[9]["description"]}
    expected = selector.search(query)

    async def scenario() -> int:
        assert await selector.asearch(query) == expected
        cluster.kill_master(_victim(cluster, selector), hard=True)
        started = time.monotonic()
        errors = 0
        while True:
            assert time.monotonic() - started < RECOVERY_BOUND
            try:
                results = await asyncio.gather(*(selector.asearch(query) for _ in range(16)))
            except StoreUnavailableError:
                errors += 1
                await asyncio.sleep(0.05)
                continue
            assert results == [expected] * 16
            return errors

    assert asyncio.run(scenario()) > 0
