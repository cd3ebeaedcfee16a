"""Connections to Redis for the MinHash index: pools, bounded timeouts, typed errors.

:class:`RedisConnection` sends the backend's calls: ``("cmd", ...)`` one command,
``("pipe", [...])`` a pipeline, ``("script", name, args)`` a Lua script of
:mod:`~langchain_niche.minhash.redis.lua`, ``("resend", call)`` a write that is safe
to send once more after a timeout; with the blocking client or, in async code,
one client per event loop. Failures become
:class:`~langchain_niche.errors.StoreUnavailableError` or
:class:`~langchain_niche.errors.IndexFormatError` naming the key.

Every call is sent once (no automatic retry in redis-py: after a timeout Redis
may still run the command). Two writes are safe to repeat and are sent once
more after a timeout or a lost connection: ``INCRBY`` (unused rows are mere
gaps) and a chunk's insert script, which recognises a chunk it already wrote
(an id of the chunk already points to the row reserved for it; no other writer
can have used that row) and then writes nothing. So a chunk is never stored
twice, while an id taken by another example is still a :class:`DuplicateIdError`.

Nothing read back is ever unpickled: documents are JSON, token ids and rows are
fixed-width integers decoded with ``numpy.frombuffer``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_niche._sansio import adrive, drive
from langchain_niche.errors import (
    IndexFormatError,
    MissingDependencyError,
    RedisUrlError,
    StoreUnavailableError,
)
from langchain_niche.minhash.redis.keys import decoded, key_prefix, script_keys
from langchain_niche.minhash.redis.lua import scripts
from langchain_niche.minhash.redis.plans import Call
from langchain_niche.minhash.redis.url import parse_redis_url, redact_url

__all__ = ["RedisConnection", "decoded", "import_redis", "key_prefix", "parse_json", "script_keys"]

_MARKED = re.compile(
    r"NICHEKEY (?P<key>\S+) (?P<problem>.*?)(?: script: \w+, on @user_script:\d+\.)?$", re.S
)
_WRITES = frozenset({"insert", "remove"})
_TRYAGAIN_PAUSE = 0.02
_TRYAGAIN_PAUSE_MAX = 0.25


def wait_ms(timeout: float) -> int:
    """Milliseconds a write waits for ``redis_wait_replicas`` acknowledgements (``WAIT``).

    Half of ``redis_timeout``, so that the reply arrives before the socket times out.
    """
    return max(1, int(timeout * 500))


_BAD_VALUE = re.compile(r"WRONGTYPE|not an integer|not a valid float")


def import_redis() -> Any:
    """The ``redis`` module (with ``redis.asyncio``), or a hint to install the extra."""
    try:
        import redis  # noqa: PLC0415
        import redis.asyncio  # noqa: PLC0415
    except ImportError as exc:
        msg = (
            "MinHashExampleSelector(redis_url=...) needs the redis package: "
            'pip install "langchain-niche[redis]"'
        )
        raise MissingDependencyError(msg) from exc
    return redis


def parse_json(raw: bytes | str, problem: str) -> Any:
    """Parse JSON read from Redis (never pickle); ``problem`` starts the error message."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{problem}: {exc}"
        raise IndexFormatError(msg) from exc


def _call(request: Callable[[], Any]) -> Any:
    """Carry out a request of :meth:`RedisConnection._pipelining` (async code awaits the result)."""
    return request()


class RedisConnection:
    """The blocking and async clients of one index, and how calls are sent."""

    def __init__(self, redis_module: Any, url: str, settings: Mapping[str, Any]) -> None:
        self._redis = redis_module
        try:
            parsed = parse_redis_url(url)
        except ValueError as exc:
            msg = f"redis_url: {exc}"
            raise RedisUrlError(msg, url=redact_url(url)) from None
        self.url = parsed.connect_url  # user name, password and options percent-encoded
        self.safe_url = parsed.safe
        self.index_name: str = settings.get("index_name", "default")
        self.prefix = key_prefix(self.index_name)
        self.timeout = float(settings.get("redis_timeout", 5.0))
        self.max_connections = int(settings.get("redis_max_connections", 64))
        self.wait_replicas = int(settings.get("redis_wait_replicas", 0))
        forced = settings.get("redis_cluster")
        try:
            self.client = self._redis.Redis.from_pool(self._pool(self._redis))
            self.cluster = self._detect_cluster() if forced is None else bool(forced)
            if self.cluster:
                self.client.close()
                self.client = self._cluster_client(self._redis.cluster)
        except (self._redis.RedisError, self._redis.RedisClusterException) as exc:
            # e.g. redis_cluster=True on a node without cluster mode, no node reachable
            raise self._unavailable(exc) from exc
        except ValueError as exc:  # redis-py rejects an option's value (no secrets in it)
            msg = f"redis_url {self.safe_url!r}: {exc}"
            raise RedisUrlError(msg, url=self.safe_url) from exc
        self._scripts = {name: self.client.register_script(lua) for name, lua in scripts().items()}
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, dict[str, Any], asyncio.Semaphore]
        ]
        self._async = weakref.WeakKeyDictionary()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def masters(self) -> int:
        """Masters serving slots (1 on a single node): the default shard count of a new index."""
        if not self.cluster:
            return 1
        return max(1, len(self.client.get_primaries()))

    def _keys(self, name: str, args: list[Any]) -> list[str]:
        """The keys declared for a script: all it touches on a cluster, else its prefix."""
        return script_keys(name, args) if self.cluster else [decoded(args[0])]

    def _detect_cluster(self) -> bool:
        """Whether the node of ``redis_url`` is part of a Redis Cluster (``INFO cluster``)."""
        try:
            info = self.client.info("cluster")
        except (self._redis.ConnectionError, self._redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except self._redis.RedisError:  # INFO refused (ACL): a single node unless told
            return False
        return bool(int(info.get("cluster_enabled", 0)))

    def _cluster_client(self, module: Any) -> Any:
        """A ``RedisCluster`` (blocking or asyncio) with the same timeouts, one attempt per call."""
        from redis.backoff import NoBackoff  # noqa: PLC0415

        if module is self._redis.cluster:
            from redis.retry import Retry  # noqa: PLC0415
        else:
            from redis.asyncio.retry import Retry  # type: ignore[assignment]  # noqa: PLC0415
        return module.RedisCluster.from_url(
            self.url,
            max_connections=self.max_connections,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def _pool(self, module: Any) -> Any:
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        # One attempt per call: redis-py would otherwise send a command again after
        # a timeout, though Redis may still run the first one (a write twice), and
        # an unresponsive server would hold a caller for twice redis_timeout. The
        # writes that are safe to repeat say so (("resend", call)).
        retry: Any = Retry(NoBackoff(), 0)
        if module is not self._redis:
            from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415

            retry = AsyncRetry(NoBackoff(), 0)
        return module.BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.max_connections,
            timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            retry=retry,
        )

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        if isinstance(exc, self._redis.AuthenticationError):
            msg = f"Redis at {self.safe_url} rejected the credentials: {exc}"
        else:
            msg = (
                f"Redis at {self.safe_url} is unreachable or did not answer within "
                f"{self.timeout:g} s: {type(exc).__name__}: {exc}"
            )
        return StoreUnavailableError(msg, url=self.safe_url)

    def _refused(self, exc: Exception, call: Call) -> IndexFormatError | StoreUnavailableError:
        """An error reply as a typed error.

        A key of the index holding another type or a value that is not what the
        index stores there (``WRONGTYPE``, a non-integer counter, a problem a
        script found) is an :class:`IndexFormatError` naming the key; any other
        refusal (database out of range, out of memory, read-only replica...)
        a :class:`StoreUnavailableError` naming the URL.
        """
        text = str(exc)
        marked = _MARKED.match(text)
        key: str | None
        if marked is not None:
            key, problem = marked.group("key"), marked.group("problem")
        else:
            key, problem = self._key_of(call, text), text
        if marked is not None or _BAD_VALUE.search(text):
            where = f"key {key!r}" if key is not None else f"a key under {self.prefix!r}"
            msg = (
                f"Redis index {self.index_name!r} at {self.safe_url}: {where} does not hold "
                f"what the index stores there ({problem}); was it written by something else?"
            )
            return IndexFormatError(msg)
        msg = f"Redis at {self.safe_url} refused a request: {type(exc).__name__}: {text}"
        return StoreUnavailableError(msg, url=self.safe_url)

    @staticmethod
    def _key_of(call: Call, text: str) -> str | None:
        """The key a failed command worked on (``None`` when unknown)."""
        if call[0] == "cmd" and len(call) > 2:
            return decoded(call[2])
        number = re.match(r"Command # (\d+)", text)
        if call[0] == "pipe" and number is not None and int(number.group(1)) <= len(call[1]):
            args = call[1][int(number.group(1)) - 1]
            return decoded(args[1]) if len(args) > 1 else None
        return None

    def execute(self, call: Call) -> Any:
        """Run one call with the blocking client.

        Args:
            call: ``("cmd", *args)``, ``("script", name, args)``, ``("pipe", [args, ...])``,
                ``("resend", call)`` (a call that is safe to run twice: sent once
                more after a timeout or a lost connection), ``("submit", call)``
                (start a call in a worker thread; returns a handle) or
                ``("wait", handle)`` (its reply).

        Returns:
            The reply.

        Raises:
            StoreUnavailableError: Redis cannot be reached or timed out.
        """
        redis = self._redis
        if call[0] == "submit":
            return self._pool_executor().submit(self.execute, call[1])
        if call[0] == "wait":
            return call[1].result()
        if call[0] == "resend":
            try:
                return self.execute(call[1])
            except StoreUnavailableError:
                return self.execute(call[1])
        if call[0] == "all":
            return self._all(call[1])
        deadline = time.monotonic() + self.timeout
        pause = _TRYAGAIN_PAUSE
        while True:
            try:
                return self._send(call)
            except (redis.ConnectionError, redis.TimeoutError, redis.RedisClusterException) as exc:
                raise self._unavailable(exc) from exc
            except redis.RedisError as exc:
                if not (self._half_moved(exc) and time.monotonic() + pause < deadline):
                    raise self._refused(exc, call) from exc
            time.sleep(pause)
            pause = min(2 * pause, _TRYAGAIN_PAUSE_MAX)

    def _half_moved(self, exc: Exception) -> bool:
        """Whether a call failed because its slot is being migrated (``TRYAGAIN``).

        A script touching keys of a slot that are split between the migrating
        and the importing node can only run once the keys are together: the
        call is sent again (every call is a read or an idempotent write) for up
        to ``redis_timeout`` seconds.
        """
        if not self.cluster:
            return False
        errors = self._redis.exceptions
        return isinstance(exc, errors.TryAgainError) or (
            isinstance(exc, errors.ClusterError)
            and ("TTL exhausted" in str(exc) or "TRYAGAIN" in str(exc))
        )

    def _all(self, calls: list[Call]) -> list[Any]:
        """Several calls (one per shard) at once; each reply or its typed error, in order.

        Reads (scripts other than writes, commands) go in one pipeline, which a
        cluster client splits into one round trip per node; other calls run one
        after the other.
        """
        if not self._pipelined(calls):
            return [self._caught(one) for one in calls]
        replies = drive(self._pipelining(self.client, calls), _call)
        return [
            self._caught(one) if isinstance(r, Exception) and self._half_moved(r) else r
            for r, one in zip(replies, calls, strict=True)
        ]

    async def _apipelined(self, client: Any, calls: list[Call]) -> list[Any]:
        """Async twin of :meth:`_all` for calls that fit in one pipeline."""
        out = await adrive(self._pipelining(client, calls), _call)
        for i, (reply, one) in enumerate(zip(out, calls, strict=True)):
            if isinstance(reply, Exception) and self._half_moved(reply):
                try:
                    out[i] = await self.aexecute(one)
                except Exception as exc:  # handed to the plan that made the call
                    out[i] = exc
        return [
            self._typed(r, one) if isinstance(r, Exception) else r
            for r, one in zip(out, calls, strict=True)
        ]

    def _pipelining(
        self, client: Any, calls: list[Call]
    ) -> Generator[Callable[[], Any], Any, list[Any]]:
        """One pipeline of ``calls``, sent once more after loading missing scripts (sans I/O).

        Yields the client calls to make, as functions of no argument (async code
        awaits what they return). Returns the replies, errors typed but for a
        half-moved slot's (see :meth:`_typed_replies`).
        """
        errors = (self._redis.RedisError, self._redis.RedisClusterException)
        for attempt in range(2):
            pipe = self._pipeline_of(client, calls)
            try:
                replies = yield functools.partial(pipe.execute, raise_on_error=False)
            except errors as exc:
                replies = [exc]
            if attempt == 0 and self._missing_scripts(replies):
                # a promoted replica or a flushed server has no scripts: load them, again
                try:
                    for lua in self._luas(calls):
                        yield functools.partial(client.script_load, lua)
                except errors as exc:
                    return [self._typed(exc, one) for one in calls]
                continue
            return self._typed_replies(replies, calls, keep=True)
        raise AssertionError  # pragma: no cover

    def _caught(self, call: Call) -> Any:
        try:
            return self.execute(call)
        except Exception as exc:  # handed to the plan that made the call
            return exc

    def _pipelined(self, calls: list[Call]) -> bool:
        """Whether calls can share one pipeline (commands and scripts without ``WAIT``)."""
        return all(
            c[0] == "cmd" or (c[0] == "script" and not (self.wait_replicas and c[1] in _WRITES))
            for c in calls
        )

    def _pipeline_of(self, client: Any, calls: list[Call]) -> Any:
        pipe = client.pipeline(transaction=False)
        for one in calls:
            if one[0] == "cmd":
                pipe.execute_command(*one[1:])
            else:
                keys = self._keys(one[1], one[2])
                sha = self._scripts[one[1]].sha
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *one[2])
        return pipe

    def _missing_scripts(self, replies: list[Any]) -> bool:
        return any(isinstance(r, self._redis.exceptions.NoScriptError) for r in replies)

    @staticmethod
    def _luas(calls: list[Call]) -> list[str]:
        return list({one[1]: scripts()[one[1]] for one in calls if one[0] == "script"}.values())

    def _typed_replies(
        self, replies: list[Any], calls: list[Call], *, keep: bool = False
    ) -> list[Any]:
        """Replies with errors typed (``keep``: a half-moved slot's error kept as it is)."""
        if len(replies) != len(calls):  # the whole pipeline failed
            replies = [replies[0]] * len(calls)
        return [
            self._typed(reply, one)
            if isinstance(reply, Exception) and not (keep and self._half_moved(reply))
            else reply
            for reply, one in zip(replies, calls, strict=True)
        ]

    def _typed(self, exc: Exception, call: Call) -> Exception:
        """A pipeline's error reply as a typed error."""
        if isinstance(exc, (StoreUnavailableError, IndexFormatError)):
            return exc
        if isinstance(exc, (self._redis.ConnectionError, self._redis.TimeoutError)):
            return self._unavailable(exc)
        if isinstance(exc, self._redis.RedisError):
            return self._refused(exc, call)
        return self._unavailable(exc)

    def _send(self, call: Call) -> Any:
        if call[0] == "cmd":
            return self.client.execute_command(*call[1:])
        if call[0] == "script":
            if self.wait_replicas and call[1] in _WRITES:
                return self._script_and_wait(call[1], call[2])
            return self._scripts[call[1]](keys=self._keys(call[1], call[2]), args=call[2])
        pipe = self.client.pipeline(transaction=False)
        for args in call[1]:
            pipe.execute_command(*args)
        return pipe.execute()

    def _node_pipeline(self, client: Any, key: str) -> Any:
        """A pipeline on one connection of the node serving ``key`` (where ``WAIT`` belongs).

        ``WAIT`` counts the replicas that acknowledged the writes of *its*
        connection: in a ``ClusterPipeline`` it may go to another node, so the
        write and the ``WAIT`` are sent together on the node's own client.
        """
        if self.cluster:
            node = client.get_node_from_key(key)
            return node.redis_connection.pipeline(transaction=False)
        return client.pipeline(transaction=False)

    def _acknowledged(self, replies: list[Any], name: str, key: str) -> Any:
        reply, acks = replies
        if isinstance(reply, Exception):
            raise reply
        if int(acks) < self.wait_replicas:
            msg = (
                f"Redis at {self.safe_url}: a {name} of key {key!r} was acknowledged by {acks} "
                f"of redis_wait_replicas={self.wait_replicas} replicas within {wait_ms(self.timeout)} ms "
                "(it is written on the master; repeating the call is safe)"
            )
            raise StoreUnavailableError(msg, url=self.safe_url)
        return reply

    def _script_and_wait(self, name: str, args: list[Any]) -> Any:
        """Run a write script, then ``WAIT`` for ``redis_wait_replicas`` on the same connection."""
        script = self._scripts[name]
        for attempt in range(2):
            pipe = self._node_pipeline(self.client, args[0])
            keys = self._keys(name, args)
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            pipe.execute_command("WAIT", self.wait_replicas, wait_ms(self.timeout))
            try:
                return self._acknowledged(pipe.execute(raise_on_error=False), name, args[0])
            except (self._redis.ConnectionError, self._redis.TimeoutError):
                if self.cluster:  # the node is gone: learn the new topology for the next call
                    self._refresh_topology()
                raise
            except (self._redis.exceptions.NoScriptError, self._redis.exceptions.MovedError):
                if attempt:
                    raise
                if self.cluster:  # a promoted replica has no scripts; slots may have moved
                    self._refresh_topology()
                self.client.script_load(scripts()[name])
        raise AssertionError  # pragma: no cover

    def _refresh_topology(self) -> None:
        """Reload the cluster's slot map (failures are the next call's to report)."""
        try:
            self.client.nodes_manager.initialize()
        except (self._redis.RedisError, self._redis.RedisClusterException):
            return

    async def _ascript_and_wait(self, client: Any, name: str, args: list[Any]) -> Any:
        """Async twin of :meth:`_script_and_wait`."""
        lua = scripts()[name]
        sha = self._scripts[name].sha
        for attempt in range(2):
            if self.cluster:
                # the async cluster client has no node pipeline: WAIT follows on the
                # node (a weaker check than the blocking client's; see the README)
                replies: list[Any] = [None, None]
                try:
                    keys = self._keys(name, args)
                    replies[0] = await client.execute_command(
                        "EVALSHA", sha, len(keys), *keys, *args
                    )
                except self._redis.exceptions.NoScriptError:
                    if attempt:
                        raise
                    await client.script_load(lua)
                    continue
                node = client.get_node_from_key(args[0])
                replies[1] = await client.execute_command(
                    "WAIT", self.wait_replicas, wait_ms(self.timeout), target_nodes=node
                )
                return self._acknowledged(replies, name, args[0])
            pipe = client.pipeline(transaction=False)
            keys = self._keys(name, args)
            pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            pipe.execute_command("WAIT", self.wait_replicas, wait_ms(self.timeout))
            try:
                return self._acknowledged(await pipe.execute(raise_on_error=False), name, args[0])
            except self._redis.exceptions.NoScriptError:
                if attempt:
                    raise
                await client.script_load(lua)
        raise AssertionError  # pragma: no cover

    def _pool_executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(4, thread_name_prefix="niche-redis")
            return self._executor

    def _async_client(self) -> tuple[Any, dict[str, Any], asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            module = self._redis.asyncio
            if self.cluster:
                client = self._cluster_client(module.cluster)
            else:
                client = module.Redis.from_pool(self._pool(module))
            entry = (
                client,
                {name: client.register_script(lua) for name, lua in scripts().items()},
                asyncio.Semaphore(self.max_connections),
            )
            self._async[loop] = entry
        return entry

    async def aexecute(self, call: Call) -> Any:
        """Async twin of :meth:`execute` (one client per event loop).

        Args:
            call: As for :meth:`execute`.

        Returns:
            The reply.
        """
        redis = self._redis
        if call[0] == "submit":
            return asyncio.ensure_future(self.aexecute(call[1]))
        if call[0] == "wait":
            return await call[1]
        if call[0] == "resend":
            try:
                return await self.aexecute(call[1])
            except StoreUnavailableError:
                return await self.aexecute(call[1])
        if call[0] == "all":  # one call per shard, concurrently; failures as values
            if not self._pipelined(call[1]):
                return await asyncio.gather(
                    *(self.aexecute(one) for one in call[1]), return_exceptions=True
                )
            call = ("allpipe", call[1])
        deadline = time.monotonic() + self.timeout
        pause = _TRYAGAIN_PAUSE
        while True:
            try:
                # the async cluster client fails at once (MaxConnectionsError) when a
                # node's pool is exhausted: callers queue here instead
                async with self._async_client()[2]:
                    return await self._asend(call)
            except (redis.ConnectionError, redis.TimeoutError, redis.RedisClusterException) as exc:
                raise self._unavailable(exc) from exc
            except redis.RedisError as exc:
                if not (self._half_moved(exc) and time.monotonic() + pause < deadline):
                    raise self._refused(exc, call) from exc
            await asyncio.sleep(pause)
            pause = min(2 * pause, _TRYAGAIN_PAUSE_MAX)

    async def _asend(self, call: Call) -> Any:
        client, scripts, _ = self._async_client()
        if call[0] == "allpipe":
            return await self._apipelined(client, call[1])
        if call[0] == "cmd":
            return await client.execute_command(*call[1:])
        if call[0] == "script":
            if self.wait_replicas and call[1] in _WRITES:
                return await self._ascript_and_wait(client, call[1], call[2])
            return await scripts[call[1]](keys=self._keys(call[1], call[2]), args=call[2])
        pipe = client.pipeline(transaction=False)
        for args in call[1]:
            pipe.execute_command(*args)
        return await pipe.execute()

    def close(self) -> None:
        """Close the blocking client's connections and the writer thread pool."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.client.close()
