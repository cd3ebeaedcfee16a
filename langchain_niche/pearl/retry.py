"""How PEARL retries failed model calls, and how long one call may take."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from langchain_niche._validation import TypedValidationErrors
from langchain_niche.errors import InvalidParameterError, preview

__all__ = ["DEFAULT_TIMEOUT", "RetryPolicy", "retry_policy"]

DEFAULT_TIMEOUT = 120.0
"""Seconds one model call may take by default (``RetryPolicy.timeout``)."""


class RetryPolicy(TypedValidationErrors, BaseModel):
    """Retry policy for model calls: attempts, exponential backoff, per-call timeout.

    A call that raises one of ``retry_on`` (or exceeds ``timeout``, which raises
    ``TimeoutError``) is retried after ``initial_delay * backoff**(n - 1)`` seconds
    (at most ``max_delay``; with ``jitter``, a random 50-100% of it). After
    ``max_attempts`` failures PEARL raises
    :class:`~langchain_niche.pearl.StepExecutionError` with the plan and the
    finished steps attached.

    By default one call may take ``DEFAULT_TIMEOUT`` (120) seconds, so a model that
    hangs cannot block ``invoke`` forever: with the default three attempts and
    backoff a hung model fails a step after about six minutes. ``timeout=None``
    removes the limit.

    What a timeout can stop: on the async path (``ainvoke``, ``astream``,
    ``abatch``) the call's task is cancelled, which closes a native async model's
    request. On the sync path a call runs in a worker thread of a small shared
    pool (reused, never one new thread per call); Python cannot kill a thread, so
    a timed-out sync call keeps its worker until the model returns (an HTTP
    client's own timeout ends it) and its reply is discarded. Sync models called
    through the async path run in a thread too and behave the same way.

    Invalid settings raise :class:`~langchain_niche.errors.InvalidParameterError`
    naming the setting and the value.

    Example:
        ```python
        from langchain_niche.pearl import PEARL, RetryPolicy

        policy = RetryPolicy(max_attempts=5, initial_delay=1.0, timeout=60)
        # PEARL(llm=model, retry=policy) or PEARL(llm=model, retry={"timeout": 60})
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    parameter_prefix: ClassVar[str] = "retry"
    """Errors name settings as ``retry.<setting>``, as PEARL's field is called."""

    max_attempts: StrictInt = Field(default=3, ge=1)
    """Tries per model call, the first included (1: never retry)."""
    initial_delay: float = Field(default=0.5, ge=0.0)
    """Seconds before the first retry."""
    backoff: float = Field(default=2.0, ge=1.0)
    """Factor applied to the delay after every retry."""
    max_delay: float = Field(default=20.0, ge=0.0)
    """Upper bound of one delay."""
    jitter: bool = True
    """Randomize delays (50-100%) so concurrent retries do not line up."""
    timeout: float | None = Field(default=DEFAULT_TIMEOUT, gt=0.0, allow_inf_nan=False)
    """Seconds one call (one attempt) may take before it counts as failed with a
    ``TimeoutError`` (default 120; ``None``: no limit). A timed-out async call is
    cancelled; a timed-out sync call is abandoned (see the class docstring)."""
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    """Exception types that are retried; others are raised at once."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.backoff ** (retry - 1))
        return base * random.uniform(0.5, 1.0) if self.jitter else base  # noqa: S311 - not crypto

    def retries(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt."""
        return isinstance(error, self.retry_on)


def retry_policy(value: Any) -> RetryPolicy:
    """Read PEARL's ``retry`` setting: a :class:`RetryPolicy` or a dict of its settings.

    Raises:
        InvalidParameterError: ``value`` is neither, or a setting is unknown or invalid.
    """
    if isinstance(value, RetryPolicy):
        return value
    if isinstance(value, Mapping):
        bad = [key for key in value if not isinstance(key, str)]
        if bad:
            msg = f"retry settings must be named by strings, got key {preview(bad[0])}"
            raise InvalidParameterError(msg, name="retry", value=value)
        return RetryPolicy(**dict(value))
    msg = (
        "retry must be a RetryPolicy or a dict of its settings (e.g. {'timeout': 60}), "
        f"got {type(value).__name__} {preview(value)}"
    )
    raise InvalidParameterError(msg, name="retry", value=value)
