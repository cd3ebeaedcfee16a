"""How PEARL retries failed model calls."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetryPolicy"]


class RetryPolicy(BaseModel):
    """Retry policy for model calls: attempts, exponential backoff, per-call timeout.

    A call that raises one of ``retry_on`` (or exceeds ``timeout``, which raises
    ``TimeoutError``) is retried after ``initial_delay * backoff**(n - 1)`` seconds
    (at most ``max_delay``; with ``jitter``, a random 50-100% of it). After
    ``max_attempts`` failures PEARL raises
    :class:`~langchain_niche.pearl.StepExecutionError` with the plan and the
    finished steps attached.

    Example:
        ```python
        from langchain_niche.pearl import PEARL, RetryPolicy

        policy = RetryPolicy(max_attempts=5, initial_delay=1.0, timeout=60)
        # PEARL(llm=model, retry=policy)
        ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    max_attempts: int = Field(default=3, ge=1)
    """Tries per model call, the first included (1: never retry)."""
    initial_delay: float = Field(default=0.5, ge=0.0)
    """Seconds before the first retry."""
    backoff: float = Field(default=2.0, ge=1.0)
    """Factor applied to the delay after every retry."""
    max_delay: float = Field(default=20.0, ge=0.0)
    """Upper bound of one delay."""
    jitter: bool = True
    """Randomize delays (50-100%) so concurrent retries do not line up."""
    timeout: float | None = Field(default=None, gt=0.0)
    """Seconds a call may take before it counts as failed (``None``: no limit; a sync
    call that times out is abandoned, its thread finishes in the background)."""
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    """Exception types that are retried; others are raised at once."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.backoff ** (retry - 1))
        return base * random.uniform(0.5, 1.0) if self.jitter else base  # noqa: S311 - not crypto

    def retries(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt."""
        return isinstance(error, self.retry_on)
