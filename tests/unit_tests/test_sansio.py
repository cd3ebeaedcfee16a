"""The sans-I/O drivers: one task body, run by sync and async code alike."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from langchain_niche._sansio import Call, Driver, adrive, arun_calls, drive, run_calls


def _doubling() -> Generator[int, Any, list[Any]]:
    """Asks for 1, 2, 3; a failed request is recorded, not fatal."""
    replies: list[Any] = []
    for request in (1, 2, 3):
        try:
            replies.append((yield request))
        except ValueError as exc:
            replies.append(f"failed: {exc}")
    return replies


def _serve(request: int) -> int:
    if request == 2:
        msg = "two"
        raise ValueError(msg)
    return request * 2


async def _aserve(request: int) -> int:
    return _serve(request)


def test_drive_answers_each_request_and_throws_errors_back_in() -> None:
    assert drive(_doubling(), _serve) == [2, "failed: two", 6]


async def test_adrive_gives_the_same_result() -> None:
    assert await adrive(_doubling(), _aserve) == drive(_doubling(), _serve)


def test_an_error_the_task_does_not_handle_reaches_the_caller() -> None:
    def once() -> Generator[int, Any, None]:
        yield 2

    with pytest.raises(ValueError, match="two"):
        drive(once(), _serve)


def test_a_base_exception_is_not_thrown_into_the_task() -> None:
    seen: list[str] = []

    def task() -> Generator[int, Any, None]:
        try:
            yield 1
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise

    def interrupted(_request: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(task(), interrupted)
    assert "KeyboardInterrupt" not in seen


def test_driver_exposes_the_result_after_the_loop() -> None:
    driver = Driver(_doubling())
    requests = []
    for request in driver:
        requests.append(request)
        driver.reply = -request
    assert requests == [1, 2, 3]
    assert driver.result == [-1, -2, -3]


def _calls() -> Generator[Call, Any, tuple[Any, Any]]:
    def sync(x: int, *, scale: int) -> str:
        return f"sync {x * scale}"

    async def asynchronous(x: int, *, scale: int) -> str:
        return f"async {x * scale}"

    first = yield Call(sync, asynchronous, (2,), {"scale": 10})
    second = yield Call(sync, asynchronous, (3,), {"scale": 1})
    return first, second


async def test_calls_run_the_sync_or_the_async_callable() -> None:
    assert run_calls(_calls()) == ("sync 20", "sync 3")
    assert await arun_calls(_calls()) == ("async 20", "async 3")
