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
import json
import re
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_niche.errors import (
    IndexFormatError,
    MissingDependencyError,
    RedisUrlError,
    StoreUnavailableError,
)
from langchain_niche.minhash.redis.lua import scripts
from langchain_niche.minhash.redis.url import parse_redis_url, redact_url
from langchain_niche.minhash.storage import Call

__all__ = ["RedisConnection", "decoded", "import_redis", "key_prefix", "parse_json"]

_MARKED = re.compile(
    r"NICHEKEY (?P<key>\S+) (?P<problem>.*?)(?: script: \w+, on @user_script:\d+\.)?$", re.S
)
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


def decoded(value: Any) -> str:
    """A reply or argument as text (bytes are UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_json(raw: bytes | str, problem: str) -> Any:
    """Parse JSON read from Redis (never pickle); ``problem`` starts the error message."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{problem}: {exc}"
        raise IndexFormatError(msg) from exc


def key_prefix(index_name: str) -> str:
    """The prefix of every key of an index: the one place the key layout starts.

    ``niche:{INDEX_NAME}:``: the braces are a Redis Cluster hash tag, so all keys
    of an index live in one slot (scripts may touch any of them).
    """
    return f"niche:{{{index_name}}}:"


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
        try:
            self.client = self._redis.Redis.from_pool(self._pool(self._redis))
        except ValueError as exc:  # redis-py rejects an option's value (no secrets in it)
            msg = f"redis_url {self.safe_url!r}: {exc}"
            raise RedisUrlError(msg, url=self.safe_url) from exc
        self._scripts = {name: self.client.register_script(lua) for name, lua in scripts().items()}
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, dict[str, Any]]
        ]
        self._async = weakref.WeakKeyDictionary()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

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
        try:
            return self._send(call)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except redis.RedisError as exc:
            raise self._refused(exc, call) from exc

    def _send(self, call: Call) -> Any:
        if call[0] == "cmd":
            return self.client.execute_command(*call[1:])
        if call[0] == "script":
            return self._scripts[call[1]](args=call[2])
        pipe = self.client.pipeline(transaction=False)
        for args in call[1]:
            pipe.execute_command(*args)
        return pipe.execute()

    def _pool_executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(4, thread_name_prefix="niche-redis")
            return self._executor

    def _async_client(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            module = self._redis.asyncio
            client = module.Redis.from_pool(self._pool(module))
            entry = (client, {name: client.register_script(lua) for name, lua in scripts().items()})
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
        try:
            return await self._asend(call)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except redis.RedisError as exc:
            raise self._refused(exc, call) from exc

    async def _asend(self, call: Call) -> Any:
        client, scripts = self._async_client()
        if call[0] == "cmd":
            return await client.execute_command(*call[1:])
        if call[0] == "script":
            return await scripts[call[1]](args=call[2])
        pipe = client.pipeline(transaction=False)
        for args in call[1]:
            pipe.execute_command(*args)
        return await pipe.execute()

    def close(self) -> None:
        """Close the blocking client's connections and the writer thread pool."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.client.close()
