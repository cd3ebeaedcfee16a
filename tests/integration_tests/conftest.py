"""Fixtures of the integration tests: a real redis-server on a free loopback port,
and a real Redis Cluster (3 masters, 3 replicas) on free loopback ports.

When ``redis-server`` is missing, or the cluster cannot start, the Redis tests are
skipped, except when ``NICHE_REQUIRE_REDIS=1`` (set by ``scripts/test``, which
installs it, and so in CI): then they fail, so a missing server can never pass
as green.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support.redis_cluster import LocalRedisCluster
from tests.support.redis_server import RedisServer

CLUSTER_START_TIMEOUT = 30.0
"""Seconds a cluster may take to form (about 3-6 s on a shared 2-core machine)."""


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the whole session (skipped or failed when absent)."""
    if shutil.which("redis-server") is None:
        msg = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("NICHE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{msg}; NICHE_REQUIRE_REDIS=1 requires it")
        pytest.skip(msg)
    if os.environ.get("NICHE_REQUIRE_REDIS") != "1":
        pytest.importorskip("redis")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's redis-server."""
    return redis_server.url


def _unavailable(msg: str) -> NoReturn:
    """Fail under ``NICHE_REQUIRE_REDIS=1`` (CI), skip otherwise."""
    if os.environ.get("NICHE_REQUIRE_REDIS") == "1":
        pytest.fail(f"{msg}; NICHE_REQUIRE_REDIS=1 requires it")
    pytest.skip(msg)


def _cluster_binaries() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        missing = [n for n, p in (("redis-server", server), ("redis-cli", cli)) if p is None]
        _unavailable(
            f"{' and '.join(missing)} not installed (Debian: apt-get install redis-server redis-tools)"
        )
    if os.environ.get("NICHE_REQUIRE_REDIS") != "1":
        pytest.importorskip("redis")
    return server, cli


@pytest.fixture(scope="session")
def redis_cluster_binaries() -> tuple[str, str]:
    """Paths of ``redis-server`` and ``redis-cli`` (skipped or failed when absent)."""
    return _cluster_binaries()


def _start_cluster() -> LocalRedisCluster:
    _cluster_binaries()
    cluster = LocalRedisCluster(start_timeout=CLUSTER_START_TIMEOUT)
    try:
        cluster.start()  # stops every process it started when it fails
    except Exception as exc:
        _unavailable(f"a local Redis Cluster could not start: {exc}")
    return cluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A Redis Cluster (3 masters + 3 replicas on loopback) shared by the session.

    Tests may write keys and move slots, but must leave it healthy; destructive
    tests (killing nodes) use ``fresh_redis_cluster``.
    """
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_redis_cluster() -> Iterator[LocalRedisCluster]:
    """A Redis Cluster of the test's own, stopped after it (for failover tests)."""
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def index_name() -> str:
    """A fresh index name, so tests never see each other's data."""
    return f"t-{uuid.uuid4().hex[:12]}"
