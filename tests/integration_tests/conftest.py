"""Fixtures of the integration tests: a real redis-server on a free loopback port.

When ``redis-server`` is missing the Redis tests are skipped, except when
``NICHE_REQUIRE_REDIS=1`` (set by ``scripts/test``, which installs it, and so
in CI): then they fail, so a missing server can never pass as green.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer


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


@pytest.fixture
def index_name() -> str:
    """A fresh index name, so tests never see each other's data."""
    return f"t-{uuid.uuid4().hex[:12]}"
