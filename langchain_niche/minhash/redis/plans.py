"""Generator "plans": how the Redis backend writes each operation once for both clients.

An operation is a generator that yields low-level *calls* (a script, a command,
a pipeline) and receives their replies; the package's one sans-I/O driver
(:func:`~langchain_niche._sansio.drive` / :func:`~langchain_niche._sansio.adrive`)
runs it with the blocking or the asyncio client, so the Redis backend gets
native async I/O without a second copy of its logic. :func:`gather` runs
several plans side by side (one per shard of a sharded index).

This is a private detail of the Redis backend: the storage contract
(:mod:`langchain_niche.minhash.storage`) has plain sync/async methods.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Generator, Mapping, Sequence
from typing import Any, TypeVar

from langchain_niche._sansio import adrive, drive
from langchain_niche.minhash.storage import (
    IntArray,
    Lookup,
    LshStorage,
    Record,
    RowTokens,
    SelectionRequest,
)

__all__ = ["Call", "Plan", "PlannedStorage", "gather"]

T = TypeVar("T")

Call = tuple[Any, ...]
"""A low-level operation of a storage (its own format), yielded by a plan."""

Plan = Generator[Call, Any, T]
"""An operation written as a generator of calls that returns a ``T``."""


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
        result: T = drive(plan, self.execute)
        return result

    async def _arun(self, plan: Plan[T]) -> T:
        result: T = await adrive(plan, self.aexecute)
        return result

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
