"""The local Redis Cluster harness, checked with redis-py's cluster client directly.

These tests pin what the cluster support of issue 15 builds on: the cluster forms
with 3 masters and 3 replicas, keys spread over the masters, a killed master's
replica takes over without losing a write acknowledged by ``WAIT 1``, and
redis-py follows ``MOVED``/``ASK`` while a slot migrates. They also pin the
redis-py behaviours the package will rely on (see docs/notes/redis-cluster.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

if os.environ.get("NICHE_REQUIRE_REDIS") != "1":  # CI requires redis-py (the test extra)
    pytest.importorskip("redis")

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from tests.support import redis_cluster as harness
from tests.support.redis_cluster import ClusterError, LocalRedisCluster

pytestmark = pytest.mark.timeout(180)


# -- formation -----------------------------------------------------------------------
def test_cluster_forms_with_three_masters_and_a_replica_each(
    redis_cluster: LocalRedisCluster,
) -> None:
    masters = redis_cluster.masters()
    assert len(masters) == 3
    assert len(redis_cluster.nodes) == 6
    for master in masters:
        assert len(redis_cluster.replicas_of(master)) == 1
    assert redis_cluster.health_problem() is None
    assert redis_cluster.formation_seconds is not None
    assert all(url.startswith("redis://127.0.0.1:") for url in redis_cluster.urls)
    # any one node's URL is enough for redis-py to discover the whole cluster
    client = RedisCluster.from_url(redis_cluster.urls[-1])
    try:
        assert {node.port for node in client.get_primaries()} == {m.port for m in masters}
    finally:
        client.close()


def test_keys_spread_over_the_three_masters(redis_cluster: LocalRedisCluster) -> None:
    client = redis_cluster.client()
    try:
        keys = [f"spread:{i}" for i in range(300)]
        pipe = client.pipeline(transaction=False)  # one pipeline, split per node by redis-py
        for key in keys:
            pipe.set(key, key)
        assert pipe.execute() == [True] * len(keys)
        per_master = {}
        for master in redis_cluster.masters():
            with master.client() as node:
                per_master[master.port] = sum(1 for _ in node.scan_iter("spread:*"))
        assert sum(per_master.values()) == len(keys)
        assert all(count >= 60 for count in per_master.values()), per_master
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        assert pipe.execute() == [key.encode() for key in keys]  # replies in command order
    finally:
        client.close()


def test_one_hash_tag_is_one_slot_for_transactions_and_scripts(
    redis_cluster: LocalRedisCluster,
) -> None:
    client = redis_cluster.client()
    try:
        pipe = client.pipeline(transaction=True)
        pipe.set("{shard-1}:a", 1)
        pipe.incr("{shard-1}:b")
        ok, counted = pipe.execute()
        # redis-py 8.2's sync ClusterPipeline in a transaction skips SET's response
        # callback (b"OK"); the async one and transaction=False give True
        assert ok in (True, b"OK")
        assert counted == 1
        crossing = client.pipeline(transaction=True)
        crossing.set("{shard-1}:a", 1)
        crossing.set("{shard-2}:a", 1)
        with pytest.raises(redis.exceptions.RedisClusterException):
            crossing.execute()
        script = client.register_script("return redis.call('INCR', KEYS[1]) + #KEYS")
        assert script(keys=["{shard-1}:c", "{shard-1}:d"]) == 3
        with pytest.raises(redis.exceptions.RedisClusterException, match="same key slot"):
            script(keys=["{shard-1}:c", "{shard-2}:c"])
        # SCRIPT LOAD went to every master (not to the replicas)
        for master in redis_cluster.masters():
            with master.client() as node:
                assert node.script_exists(script.sha) == [True]
    finally:
        client.close()


def test_evalsha_in_a_pipeline_does_not_reload_a_flushed_script(
    redis_cluster: LocalRedisCluster,
) -> None:
    client = redis_cluster.client()
    try:
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        assert script(keys=["{flush}:x"]) == 1
        client.script_flush()
        pipe = client.pipeline(transaction=False)
        script(keys=["{flush}:x"], client=pipe)
        with pytest.raises(NoScriptError):
            pipe.execute()
        assert script(keys=["{flush}:x"]) == 2  # a direct call loads it again
        pipe = client.pipeline(transaction=False)
        script(keys=["{flush}:x"], client=pipe)
        assert pipe.execute() == [3]
    finally:
        client.close()


# -- resharding ----------------------------------------------------------------------
def test_slot_migration_under_reads_is_followed_by_redis_py(
    redis_cluster: LocalRedisCluster,
) -> None:
    client = redis_cluster.client()
    try:
        keys = [f"{{mig}}:{i}" for i in range(250)]
        slot = client.keyslot(keys[0])
        client.mset({key: key for key in keys})
        source = redis_cluster.owner(slot)
        dest = next(m for m in redis_cluster.masters() if m is not source)
        reads = []

        def read_everything() -> None:
            # single-key reads: the source answers ASK for keys already moved
            values = [client.get(key) for key in keys]
            assert values == [key.encode() for key in keys]
            reads.append(len(values))

        redis_cluster.migrate_slot(slot, dest, batch=50, between_batches=read_everything)
        assert len(reads) == 5  # reads ran while the slot was split between two nodes
        assert redis_cluster.owner(slot) is dest
        read_everything()  # now MOVED: redis-py patches its slot table and follows
        assert client.get_node_from_key(keys[0]).port == dest.port
        redis_cluster.migrate_slot(slot, source)  # leave the shared cluster as it was
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()


def test_multi_key_command_on_a_split_slot_gets_tryagain(redis_cluster: LocalRedisCluster) -> None:
    client = redis_cluster.client(retry=Retry(NoBackoff(), 1))
    try:
        keys = ["{split}:a", "{split}:b"]
        slot = client.keyslot(keys[0])
        client.mset({key: key for key in keys})
        source = redis_cluster.owner(slot)
        dest = next(m for m in redis_cluster.masters() if m is not source)
        redis_cluster.begin_migration(slot, dest)
        try:
            with source.client() as node:
                node.execute_command("MIGRATE", "127.0.0.1", dest.port, keys[0], 0, 5000)
            # one key here, one there: TRYAGAIN until the move ends; redis-py retries
            # about 0.4 s (16 attempts), then gives up, whatever its retry setting
            with pytest.raises(redis.exceptions.ClusterError, match="TTL exhausted"):
                client.mget(keys)
            assert client.get(keys[0]) == keys[0].encode()  # ASK
            assert client.get(keys[1]) == keys[1].encode()
            while redis_cluster.move_keys(slot, source, dest):
                pass
        finally:
            redis_cluster.finish_migration(slot, dest)
        assert client.mget(keys) == [key.encode() for key in keys]
        redis_cluster.migrate_slot(slot, source)
    finally:
        client.close()


def test_reshard_with_redis_cli_keeps_keys_readable(redis_cluster: LocalRedisCluster) -> None:
    client = redis_cluster.client()
    try:
        keys = [f"reshard:{i}" for i in range(200)]
        for key in keys:
            client.set(key, key)
        source, dest = redis_cluster.masters()[:2]
        redis_cluster.reshard(source, dest, slots=50)
        redis_cluster.wait_healthy(timeout=30)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        redis_cluster.reshard(dest, source, slots=50)
        redis_cluster.wait_healthy(timeout=30)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()


# -- failover ------------------------------------------------------------------------
def test_killed_master_is_replaced_and_a_waited_write_survives(
    fresh_redis_cluster: LocalRedisCluster,
) -> None:
    cluster = fresh_redis_cluster
    # one retry, no backoff: errors surface instead of being absorbed by retries
    client = cluster.client(retry=Retry(NoBackoff(), 1), socket_timeout=1, socket_connect_timeout=1)
    try:
        key = "{failover}:kept"
        slot = client.keyslot(key)
        node = client.get_node_from_key(key)
        client.set(key, "acknowledged")
        # WAIT counts the replicas that acknowledged this connection's writes: send it to
        # the key's master (a keyless WAIT goes to redis-py's default node)
        assert client.wait(1, 5000, target_nodes=node) == 1
        old = cluster.kill_master(slot, hard=True)  # SIGKILL: no chance to hand over
        errors: list[BaseException] = []
        started = time.monotonic()
        while time.monotonic() - started < 30:
            try:
                if client.get(key) == b"acknowledged":
                    break
            except (
                RedisConnectionError,
                ClusterDownError,
                redis.exceptions.TimeoutError,
                redis.exceptions.RedisClusterException,  # not a RedisError subclass
            ) as exc:
                errors.append(exc)
        recovered = time.monotonic() - started
        assert recovered < 30, errors[-3:]
        assert errors, "the dead master should have been visible to a client without retries"
        # the same client instance continues on the promoted replica
        assert client.get_node_from_key(key).port != old.port
        client.set(key, "after")
        assert client.get(key) == b"after"
        cluster.wait_failover(old)
        cluster.restart_node(old)  # the old master rejoins as a replica of its replacement
        assert "slave" in next(e["flags"] for e in cluster.topology() if e["port"] == old.port)
    finally:
        client.close()
    # a retrying client (exponential backoff, 10 ms to 1 s, like redis-py's default but
    # with 30 attempts so a loaded machine's slower failover fits) blocks through a
    # failover instead of raising
    patient = cluster.client(
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=1), 30),
        socket_timeout=1,
        socket_connect_timeout=1,
    )
    try:
        assert patient.incr("{failover}:counter") == 1
        second = cluster.kill_master(patient.keyslot("{failover}:counter"), hard=True)
        assert patient.incr("{failover}:counter") in (1, 2)  # the first write had no WAIT
        assert patient.get_node_from_key("{failover}:counter").port != second.port
    finally:
        patient.close()


async def test_async_cluster_client_recovers_after_failover(
    fresh_redis_cluster: LocalRedisCluster,
) -> None:
    from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415

    cluster = fresh_redis_cluster
    client = cluster.async_client(
        retry=AsyncRetry(NoBackoff(), 1), socket_timeout=1, socket_connect_timeout=1
    )
    try:
        keys = [f"{{async}}:{i}" for i in range(20)]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, key)
        assert await pipe.execute() == [True] * len(keys)
        node = client.get_node_from_key(keys[0])
        assert await client.execute_command("WAIT", 1, 5000, target_nodes=node) == 1
        old = cluster.kill_master(client.keyslot(keys[0]), hard=True)
        failures = 0
        started = time.monotonic()
        while time.monotonic() - started < 30:
            try:
                values = await asyncio.gather(*(client.get(key) for key in keys))
                break
            except (RedisConnectionError, ClusterDownError, redis.exceptions.TimeoutError):
                failures += 1
                await asyncio.sleep(0.01)
        assert values == [key.encode() for key in keys]
        assert failures > 0
        assert client.get_node_from_key(keys[0]).port != old.port
    finally:
        await client.aclose()


# -- the harness's own guarantees ------------------------------------------------------
def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:  # exited and reaped by the harness
        return False
    return True


def test_failed_start_stops_every_process(redis_cluster_binaries: tuple[str, str]) -> None:
    server, _cli = redis_cluster_binaries
    cluster = LocalRedisCluster(redis_server=server, redis_cli="/bin/false", start_timeout=20)
    pids: list[int] = []
    original = cluster._launch

    def launch(node: harness.ClusterNodeProcess, **kwargs: object) -> None:
        original(node, **kwargs)  # type: ignore[arg-type]
        assert node.process is not None
        pids.append(node.process.pid)

    cluster._launch = launch  # type: ignore[method-assign]
    with pytest.raises(ClusterError, match="cluster create failed"):
        cluster.start()
    assert len(pids) == 6
    assert not any(_running(pid) for pid in pids)
    assert cluster.nodes == []


def test_taken_ports_are_retried(
    redis_cluster_binaries: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _cli = redis_cluster_binaries
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        real = harness._free_port_pair
        handed: list[tuple[int, int]] = []

        def pair() -> tuple[int, int]:
            chosen = (busy, real()[1]) if not handed else real()
            handed.append(chosen)
            return chosen

        monkeypatch.setattr(harness, "_free_port_pair", pair)
        cluster = LocalRedisCluster(redis_server=server, redis_cli="/bin/false", start_timeout=20)
        with pytest.raises(ClusterError, match="cluster create failed"):
            cluster.start()
    assert handed[0][0] == busy
    assert busy not in [p for p, _ in handed[1:]]
    assert len(handed) == 7  # the first node needed a second pair


def test_stop_kills_servers_even_when_one_is_frozen(
    redis_cluster_binaries: tuple[str, str],
) -> None:
    server, cli = redis_cluster_binaries
    cluster = LocalRedisCluster(redis_server=server, redis_cli=cli)
    cluster.start()
    try:
        processes = [node.process for node in cluster.nodes]
        assert all(p is not None for p in processes)
        processes[0].send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    finally:
        cluster.stop()
    assert all(p.poll() is not None for p in processes if p is not None)
    assert cluster.nodes == []
