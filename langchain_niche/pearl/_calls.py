"""The shared worker threads behind sync model calls that have a timeout.

Python cannot stop a running thread, so a sync call that must be abandoned after
``RetryPolicy.timeout`` seconds runs on a worker of this small shared pool: no
new thread per call, at most ``_CALL_POOL_SIZE`` workers, idle ones exit after 30
seconds. What the sync path cannot do: a timed-out call keeps its worker until
the model returns (an HTTP client's own timeout ends it) and its reply is
discarded. The async path does not use this pool: it cancels the call's task.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any

__all__ = ["call_with_timeout"]


class _CallPool:
    """Daemon worker threads shared by every sync model call that has a timeout.

    A worker is reused for call after call (an idle one takes the next call), at
    most ``size`` exist at once and an idle worker exits after ``idle`` seconds, so
    timeouts never add a thread per call. Python cannot stop a running thread: a
    call that timed out keeps its worker until the model returns, and its result
    is discarded. When every worker is busy, new calls wait in the queue; that
    wait counts towards their timeout.
    """

    def __init__(self, size: int, idle: float = 30.0) -> None:
        self.size = size
        self.idle = idle
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle_workers = threading.Semaphore(0)
        self._workers = 0

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` (in the caller's context) on a worker; return its future."""
        future: Future[Any] = Future()
        context = contextvars.copy_context()
        self._queue.put((future, functools.partial(context.run, fn)))
        if self._idle_workers.acquire(blocking=False):  # an idle worker will take it
            return future
        with self._lock:
            if self._workers < self.size:
                self._workers += 1
                threading.Thread(target=self._work, daemon=True, name="pearl-model-call").start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn = self._queue.get(timeout=self.idle)
            except queue.Empty:
                if self._idle_workers.acquire(blocking=False):  # nobody counts on this worker
                    with self._lock:
                        self._workers -= 1
                    return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:  # handed to the waiting caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn
            self._idle_workers.release()


_CALL_POOL_SIZE = 64
_calls_pool = _CallPool(_CALL_POOL_SIZE)


def call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` on the shared call pool; give up waiting after ``timeout`` seconds."""
    future = _calls_pool.submit(fn)
    try:
        return future.result(timeout)
    except FuturesTimeoutError:
        future.cancel()  # never starts if it is still queued
        msg = f"the model call took longer than {timeout} s"
        raise TimeoutError(msg) from None
