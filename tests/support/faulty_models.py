"""Chat models that misbehave on purpose: the model half of the fault-injection suite.

:class:`FaultyChatModel` answers the prompts it is told to with a fault (it hangs,
raises, or replies with a huge, empty or garbage text) and every other prompt
through a ``healthy`` model (for PEARL tests, a scripted one). Each fault is
bounded: a hang lasts until the test calls :meth:`FaultyChatModel.release` (or
``max_hang`` seconds at most), so a broken test cannot hang the suite.

Use the factories (:func:`hanging_model`, :func:`raising_model`,
:func:`huge_reply_model`, :func:`empty_reply_model`, :func:`garbage_reply_model`)
or the ``faulty`` fixture, which releases every hang when the test ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = [
    "GARBAGE",
    "Fault",
    "FaultyChatModel",
    "empty_reply_model",
    "faulty",
    "garbage_reply_model",
    "hanging_model",
    "huge_reply_model",
    "raising_model",
]

Fault = Literal["hang", "raise", "huge", "empty", "garbage"]

GARBAGE = "\x00}{)(;; DROP TABLE plans; -- \ufffd\ufffd \u202e1. = = (((\n```\n%%%"
"""A reply no parser should accept."""


class FaultyChatModel(BaseChatModel):
    """A chat model with an injected fault (sync and native async).

    Example:
        ```python
        model = hanging_model(healthy=scripted(PLAN), applies=is_step)
        ...
        model.release()  # let the hung calls return
        ```
    """

    fault: Fault
    """What goes wrong."""
    healthy: BaseChatModel | None = None
    """Answers the prompts the fault does not apply to (``None``: the fault applies to all)."""
    applies: Callable[[list[BaseMessage]], bool] | None = None
    """Which prompts get the fault (``None``: every prompt)."""
    error: Exception = Field(default_factory=lambda: ConnectionError("the model is unavailable"))
    """What ``fault="raise"`` raises."""
    huge_chars: int = 40_000
    """Length of a ``fault="huge"`` reply."""
    max_hang: float = 10.0
    """A hang never lasts longer than this (seconds), released or not."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _release: threading.Event = PrivateAttr(default_factory=threading.Event)
    _hanging: threading.Event = PrivateAttr(default_factory=threading.Event)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _faults: int = PrivateAttr(default=0)
    _cancelled: int = PrivateAttr(default=0)
    _returned: int = PrivateAttr(default=0)
    _threads: list[threading.Thread] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return f"faulty-{self.fault}"

    # -- what a test observes ----------------------------------------------------------
    def release(self) -> None:
        """Let every hung call (and every later one) return."""
        self._release.set()

    def wait_hanging(self, timeout: float = 5.0) -> bool:
        """Wait until a call is hanging."""
        return self._hanging.wait(timeout)

    @property
    def faults(self) -> int:
        """Calls that got the fault."""
        with self._lock:
            return self._faults

    @property
    def cancelled(self) -> int:
        """Async hung calls that were cancelled (their task was cancelled)."""
        with self._lock:
            return self._cancelled

    @property
    def returned(self) -> int:
        """Faulty calls that have returned or raised (a hung call counts once released)."""
        with self._lock:
            return self._returned

    def wait_returned(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` faulty calls have returned."""
        deadline = time.monotonic() + timeout
        while self.returned < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.returned >= count

    @property
    def threads(self) -> list[threading.Thread]:
        """The threads that ran a faulty sync call (one entry per call)."""
        with self._lock:
            return list(self._threads)

    # -- the fault ---------------------------------------------------------------------
    def _applies(self, messages: list[BaseMessage]) -> bool:
        return self.healthy is None or self.applies is None or self.applies(messages)

    def _reply(self) -> ChatResult:
        if self.fault == "raise":
            raise self.error
        text = {
            "huge": ("x" * 79 + "\n") * (self.huge_chars // 80) + "x" * (self.huge_chars % 80),
            "empty": "",
            "garbage": GARBAGE,
        }.get(self.fault, "released")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _done(self) -> None:
        with self._lock:
            self._returned += 1

    def _count(self) -> None:
        with self._lock:
            self._faults += 1
            self._threads.append(threading.current_thread())

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self._applies(messages):
            assert self.healthy is not None
            return self.healthy._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        self._count()
        try:
            if self.fault == "hang":
                self._hanging.set()
                self._release.wait(self.max_hang)
            return self._reply()
        finally:
            self._done()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self._applies(messages):
            assert self.healthy is not None
            return await self.healthy._agenerate(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )
        self._count()
        try:
            return await self._ahang_then_reply()
        finally:
            self._done()

    async def _ahang_then_reply(self) -> ChatResult:
        if self.fault == "hang":
            self._hanging.set()
            deadline = time.monotonic() + self.max_hang
            try:
                while not self._release.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110 - a threading.Event
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                with self._lock:
                    self._cancelled += 1
                raise
        return self._reply()


def hanging_model(**kwargs: Any) -> FaultyChatModel:
    """A model whose calls hang until :meth:`FaultyChatModel.release`."""
    return FaultyChatModel(fault="hang", **kwargs)


def raising_model(**kwargs: Any) -> FaultyChatModel:
    """A model whose calls raise ``error`` (default ``ConnectionError``)."""
    return FaultyChatModel(fault="raise", **kwargs)


def huge_reply_model(**kwargs: Any) -> FaultyChatModel:
    """A model that replies with ``huge_chars`` (40,000) characters of nonsense."""
    return FaultyChatModel(fault="huge", **kwargs)


def empty_reply_model(**kwargs: Any) -> FaultyChatModel:
    """A model that replies with an empty text."""
    return FaultyChatModel(fault="empty", **kwargs)


def garbage_reply_model(**kwargs: Any) -> FaultyChatModel:
    """A model that replies with :data:`GARBAGE`."""
    return FaultyChatModel(fault="garbage", **kwargs)


@pytest.fixture
def faulty() -> Iterator[Callable[..., FaultyChatModel]]:
    """``faulty(fault, **kwargs)`` builds a FaultyChatModel; hangs are released at teardown."""
    made: list[FaultyChatModel] = []

    def make(fault: Fault, **kwargs: Any) -> FaultyChatModel:
        model = FaultyChatModel(fault=fault, **kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        model.release()
