"""Sans-I/O tasks and their drivers: logic written once, run by sync and async code.

A *task* is a generator that yields requests and receives their results. The
logic (what to ask, what to do with the answer) lives in the task; a driver only
carries the requests out, so the sync and async twins of an API differ in the
one line that calls or awaits. PEARL's runners use :class:`Driver` with requests
of their own (:mod:`langchain_niche.pearl._protocol`); a task whose requests are
plain calls yields :class:`Call` and runs with :func:`run_calls` or
:func:`arun_calls`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

__all__ = ["Call", "Driver", "Task", "adrive", "arun_calls", "drive", "run_calls"]

Task = Generator[Any, Any, Any]
"""A generator yielding requests (the reply type depends on the request)."""


class Driver:
    """Feeds a sans-I/O task its replies, written once for every runner.

    Iterate over the driver for the task's requests; between two requests set
    :attr:`reply`, or carry the request out inside :meth:`answering`, which throws
    an error back into the task (where the code that made the request may handle
    it). After the loop, :attr:`result` is what the task returned.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self.reply: Any = None
        self.error: Exception | None = None
        self.result: Any = None

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                if self.error is not None:
                    request = self.task.throw(self.error)
                else:
                    request = self.task.send(self.reply)
            except StopIteration as stop:
                self.result = stop.value
                return
            self.reply, self.error = None, None
            yield request

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Hand an ``Exception`` raised in the block to the task instead of the caller."""
        try:
            yield
        except Exception as exc:
            self.error = exc

    def close(self) -> None:
        """Close the task (its ``finally`` blocks run)."""
        self.task.close()


def drive(task: Task, serve: Callable[[Any], Any]) -> Any:
    """Run ``task`` to its end, answering each request with ``serve(request)``."""
    driver = Driver(task)
    for request in driver:
        with driver.answering():
            driver.reply = serve(request)
    return driver.result


async def adrive(task: Task, serve: Callable[[Any], Awaitable[Any]]) -> Any:
    """Async :func:`drive`: ``serve`` returns an awaitable."""
    driver = Driver(task)
    for request in driver:
        with driver.answering():
            driver.reply = await serve(request)
    return driver.result


@dataclass(frozen=True)
class Call:
    """A request to call ``sync(*args, **kwargs)``; async code awaits ``asynchronous`` instead.

    The reply is the return value; an ``Exception`` it raises is thrown into the task.
    """

    sync: Callable[..., Any]
    asynchronous: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def invoke(
        cls, runnable: Runnable[Any, Any], input: Any, config: RunnableConfig | None
    ) -> Call:
        """Invoke ``runnable`` (``ainvoke`` in async code)."""
        return cls(runnable.invoke, runnable.ainvoke, (input, config))


def run_calls(task: Task) -> Any:
    """Run a task whose requests are :class:`Call` requests, calling the sync functions."""
    return drive(task, lambda call: call.sync(*call.args, **call.kwargs))


async def arun_calls(task: Task) -> Any:
    """Run a task whose requests are :class:`Call` requests, awaiting the async functions."""
    return await adrive(task, lambda call: call.asynchronous(*call.args, **call.kwargs))
