"""Generator "plans": how the Redis backend writes each operation once for both clients.

An operation is a generator that yields low-level *calls* (a script, a command,
a pipeline) and receives their replies; :func:`run_sync` drives it with the
blocking client and :func:`run_async` with the asyncio one, so the Redis backend
gets native async I/O without a second copy of its logic. :func:`gather` runs
several plans side by side (one per shard of a sharded index).

This is a private detail of the Redis backend: the storage contract
(:mod:`langchain_niche.minhash.storage`) has plain sync/async methods.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar

from langchain_niche.minhash.storage import (
    IntArray,
    Lookup,
    LshStorage,
    Record,
    RowTokens,
    SelectionRequest,
)

__all__ = ["Call", "Plan", "PlannedStorage", "gather", "run_async", "run_sync"]

T = TypeVar("T")

Call = tuple[Any, ...]
"""A low-level operation of a storage (its own format), yielded by a plan."""

Plan = Generator[Call, Any, T]
"""An operation written as a generator of calls that returns a ``T``."""


def run_sync(plan: Plan[T], execute: Callable[[Call], Any]) -> T:
    """Run a plan, executing each call with a blocking function.

    The loop is :func:`run_async`'s: with a blocking ``execute`` its coroutine
    never suspends, so it runs to its end on the first step, without an event loop.

    Args:
        plan: The operation.
        execute: Executes one call and returns its reply.

    Returns:
        The plan's result.
    """

    async def blocking(call: Call) -> Any:
        return execute(call)

    running = run_async(plan, blocking)
    try:
        running.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    running.close()  # pragma: no cover - a blocking call never suspends
    msg = "a blocking plan suspended"  # pragma: no cover
    raise RuntimeError(msg)  # pragma: no cover


async def run_async(plan: Plan[T], execute: Callable[[Call], Awaitable[Any]]) -> T:
    """Run a plan, awaiting each call.

    A call's exception is raised inside the plan (at its ``yield``), which may
    add context; otherwise it propagates unchanged.

    Args:
        plan: The operation.
        execute: Executes one call and returns an awaitable of its reply.

    Returns:
        The plan's result.
    """
    try:
        call = next(plan)
        while True:
            try:
                reply = await execute(call)
            except Exception as exc:  # noqa: PERF203 - the plan may add context, or re-raises
                call = plan.throw(exc)
            else:
                call = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def gather(plans: Sequence[Plan[Any]]) -> Plan[list[Any]]:
    """Run several plans side by side: each step's calls go out together as ``("all", [...])``.

    The storage answers an ``("all", calls)`` call with one reply per call, an
    exception standing for a failed call (raised inside the plan that made
    it). Every plan runs to its end; the first exception a plan raised is then
    raised.

    Args:
        plans: The plans (e.g. one per shard).

    Returns:
        Their results, in order.
    """
    results: list[Any] = [None] * len(plans)
    errors: list[BaseException] = []
    calls: dict[int, Call] = {}

    def step(i: int, send: Any, *, first: bool = False) -> None:
        try:
            if first:
                calls[i] = next(plans[i])
            elif isinstance(send, BaseException):
                calls[i] = plans[i].throw(send)
            else:
                calls[i] = plans[i].send(send)
        except StopIteration as stop:
            calls.pop(i, None)
            results[i] = stop.value
        except Exception as exc:
            calls.pop(i, None)
            errors.append(exc)

    for i in range(len(plans)):
        step(i, None, first=True)
    while calls:
        order = sorted(calls)
        replies = yield ("all", [calls[i] for i in order])
        for i, reply in zip(order, replies, strict=True):
            step(i, reply)
    if errors:
        raise errors[0]
    return results


class PlannedStorage(LshStorage):
    """The storage contract over plans: each method runs its ``_..._plan`` once.

    :meth:`_run` drives a plan with the blocking client's ``execute`` and
    :meth:`_arun` with the asyncio client's ``aexecute`` (both provided by
    :class:`~langchain_niche.minhash.redis.connection.RedisConnection`).
    """

    @abstractmethod
    def execute(self, call: Call) -> Any:
        """Execute one call with the blocking client."""

    @abstractmethod
    async def aexecute(self, call: Call) -> Any:
        """Execute one call with the asyncio client."""

    @abstractmethod
    def _lookup_plan(self, request: SelectionRequest) -> Plan[Lookup]: ...

    @abstractmethod
    def _probe_plan(self, request: SelectionRequest, exclude: IntArray) -> Plan[RowTokens]: ...

    @abstractmethod
    def _records_plan(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> Plan[list[Record | None]]: ...

    @abstractmethod
    def _add_plan(
        self, examples: list[dict[str, Any]], ids: Sequence[str] | None
    ) -> Plan[list[str]]: ...

    @abstractmethod
    def _remove_plan(self, target: str | Mapping[str, Any]) -> Plan[list[str]]: ...

    @abstractmethod
    def _count_plan(self) -> Plan[int]: ...

    @abstractmethod
    def _all_records_plan(self) -> Plan[list[Record]]: ...

    @abstractmethod
    def _known_keys_plan(self) -> Plan[list[str]]: ...

    @abstractmethod
    def _audit_plan(self) -> Plan[dict[str, Any]]: ...

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self.execute)

    async def _arun(self, plan: Plan[T]) -> T:
        return await run_async(plan, self.aexecute)

    def lookup(self, request: SelectionRequest) -> Lookup:
        """See :meth:`LshStorage.lookup` (one round trip; see :meth:`_banded_plan`)."""
        return self._run(self._lookup_plan(request))

    async def alookup(self, request: SelectionRequest) -> Lookup:
        """Async twin of :meth:`lookup`."""
        return await self._arun(self._lookup_plan(request))

    def probe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        """See :meth:`LshStorage.probe` (one round trip)."""
        return self._run(self._probe_plan(request, exclude))

    async def aprobe(self, request: SelectionRequest, exclude: IntArray) -> RowTokens:
        """Async twin of :meth:`probe`."""
        return await self._arun(self._probe_plan(request, exclude))

    def records(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        """Ids and examples of rows (``None`` for rows removed meanwhile)."""
        return self._run(self._records_plan(rows, known))

    async def arecords(
        self, rows: IntArray, known: Mapping[int, Any] | None = None
    ) -> list[Record | None]:
        """Async twin of :meth:`records`."""
        return await self._arun(self._records_plan(rows, known))

    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Add examples in atomic chunks of ``batch_size`` (see the module docstring)."""
        return self._run(self._add_plan(examples, ids))

    async def aadd(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Async twin of :meth:`add`."""
        return await self._arun(self._add_plan(examples, ids))

    def remove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Remove by id, or every example equal to a dict (reads the whole index)."""
        return self._run(self._remove_plan(target))

    async def aremove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Async twin of :meth:`remove`."""
        return await self._arun(self._remove_plan(target))

    def count(self) -> int:
        """Number of stored examples (``HLEN``)."""
        return self._run(self._count_plan())

    def all_records(self) -> list[Record]:
        """Every ``(id, example)`` in insertion order (reads the whole index)."""
        return self._run(self._all_records_plan())

    def known_keys(self) -> list[str]:
        """Field names seen in the examples."""
        return self._run(self._known_keys_plan())

    def audit(self) -> dict[str, Any]:
        """Check that every example is complete (reads the whole index)."""
        return self._run(self._audit_plan())
