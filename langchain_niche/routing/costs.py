"""Token usage and cost accounting for the router.

Usage comes from the models themselves: every chat model run inside the teacher
or the student reports ``AIMessage.usage_metadata`` (and its model name in
``response_metadata``), which a callback handler collects per call. Prices are a
user table in US dollars per 1,000 input and output tokens, per model name.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langchain_niche.errors import InvalidParameterError, preview

__all__ = ["Price", "PriceTable", "RouteStats", "RouterStats", "Usage"]

Price = tuple[float, float]
"""US dollars per 1,000 input tokens and per 1,000 output tokens."""

PriceTable = Mapping[str, Price | Mapping[str, float]]
"""Model name -> ``(input, output)`` or ``{"input": ..., "output": ...}`` per 1K tokens.

A model reported as ``gpt-4o-2024-08-06`` is priced by the longest key it starts
with (``gpt-4o``); the keys ``"teacher"`` and ``"student"`` price whatever model a
route used when no model name matches."""


@dataclass(frozen=True)
class Usage:
    """Tokens one model call used."""

    model: str | None
    input_tokens: int
    output_tokens: int


def _number(name: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        msg = f"prices[{name!r}] must hold finite numbers >= 0, got {preview(value)}"
        raise InvalidParameterError(msg, name="prices", value=value)
    return float(value)


def check_prices(prices: Any) -> dict[str, Price]:
    """Validate a price table.

    Args:
        prices: ``None`` or a :data:`PriceTable`.

    Returns:
        ``{model: (input_per_1k, output_per_1k)}``.

    Raises:
        InvalidParameterError: Not a mapping of model name to two non-negative numbers.
    """
    if prices is None:
        return {}
    if not isinstance(prices, Mapping):
        msg = f"prices must be a dict of model name to (input, output) USD per 1K tokens, got {preview(prices)}"
        raise InvalidParameterError(msg, name="prices", value=prices)
    table: dict[str, Price] = {}
    for model, price in prices.items():
        if not isinstance(model, str):
            msg = f"prices keys must be model names, got {preview(model)}"
            raise InvalidParameterError(msg, name="prices", value=model)
        if isinstance(price, Mapping) and set(price) == {"input", "output"}:
            table[model] = (_number(model, price["input"]), _number(model, price["output"]))
        elif isinstance(price, tuple | list) and len(price) == 2:
            table[model] = (_number(model, price[0]), _number(model, price[1]))
        else:
            msg = f"prices[{model!r}] must be (input, output) or {{'input': ..., 'output': ...}} USD per 1K tokens, got {preview(price)}"
            raise InvalidParameterError(msg, name="prices", value=price)
    return table


def price_for(table: Mapping[str, Price], model: str | None, route: str) -> Price | None:
    """The price of a model: exact name, then the longest matching prefix, then the route.

    Args:
        table: A checked price table.
        model: The model name the call reported (``None``: unknown).
        route: ``"teacher"`` or ``"student"``.

    Returns:
        ``(input, output)`` per 1K tokens, or ``None`` when nothing matches.
    """
    if model is not None:
        if model in table:
            return table[model]
        prefixes = [key for key in table if model.startswith(key)]
        if prefixes:
            return table[max(prefixes, key=len)]
    return table.get(route)


def cost_of(usage: Usage, price: Price) -> float:
    """US dollars for one call's tokens."""
    return (usage.input_tokens * price[0] + usage.output_tokens * price[1]) / 1000.0


def message_usage(message: Any) -> Usage | None:
    """The usage an ``AIMessage`` reports, if any."""
    if not isinstance(message, AIMessage) or message.usage_metadata is None:
        return None
    meta = message.response_metadata or {}
    model = meta.get("model_name") or meta.get("model")
    return Usage(
        model=str(model) if model else None,
        input_tokens=int(message.usage_metadata.get("input_tokens", 0)),
        output_tokens=int(message.usage_metadata.get("output_tokens", 0)),
    )


class UsageRecorder(BaseCallbackHandler):
    """Collects the usage of every chat model call of one route call (thread-safe)."""

    run_inline = True  # no executor hop in async runs: it only appends to a list

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.usages: list[Usage] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"usages": list(self.usages)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self.usages = state["usages"]

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Record the usage of each generation's message."""
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration):
                    usage = message_usage(generation.message)
                    if usage is not None:
                        with self._lock:
                            self.usages.append(usage)


@dataclass(frozen=True)
class RouteStats:
    """Calls, tokens and cost of one route."""

    calls: int = 0
    """Inputs this route answered."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars, from the price table."""
    unpriced_models: tuple[str, ...] = ()
    """Models that used tokens but have no price (their tokens cost 0 here)."""


@dataclass(frozen=True)
class RouterStats:
    """A snapshot of a router's traffic (``router.stats``).

    ``all_teacher_cost`` estimates what sending every input to the teacher would
    have cost: the teacher's cost plus, for each input the student answered, the
    mean cost of the teacher's calls (``None`` before the teacher's first call).
    """

    calls: int = 0
    """Inputs answered (by either route)."""
    student: RouteStats = field(default_factory=RouteStats)
    teacher: RouteStats = field(default_factory=RouteStats)
    student_failures: int = 0
    """Inputs routed to the student whose student call raised (the teacher answered)."""
    teacher_failures: int = 0
    """Inputs whose teacher call raised (a ``TeacherError`` was raised)."""
    learned: int = 0
    """Teacher answers added to the selector."""
    duplicates_skipped: int = 0
    """Teacher answers not stored because the same input is already stored."""
    rejected: int = 0
    """Teacher answers refused by ``accept``."""

    @property
    def cost(self) -> float:
        """Total US dollars spent (both routes)."""
        return self.student.cost + self.teacher.cost

    @property
    def teacher_share(self) -> float:
        """Share of answered inputs the teacher answered (0.0 before any call)."""
        return self.teacher.calls / self.calls if self.calls else 0.0

    @property
    def all_teacher_cost(self) -> float | None:
        """Estimated cost had every input gone to the teacher."""
        if self.teacher.calls == 0:
            return None if self.student.calls else 0.0
        per_call = self.teacher.cost / self.teacher.calls
        return self.teacher.cost + per_call * self.student.calls

    @property
    def savings(self) -> float | None:
        """``1 - cost / all_teacher_cost`` (``None`` when unknown or zero)."""
        reference = self.all_teacher_cost
        if not reference:
            return None
        return 1.0 - self.cost / reference


class StatsRecorder:
    """Thread-safe accumulation of :class:`RouterStats` (internal)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = RouterStats()

    def snapshot(self) -> RouterStats:
        with self._lock:
            return self._stats

    # copies and pickles carry the counts, each with a lock of its own
    def __getstate__(self) -> dict[str, Any]:
        return {"stats": self.snapshot()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._stats = state["stats"]

    def reset(self) -> None:
        with self._lock:
            self._stats = RouterStats()

    def add_usage(
        self, route: str, usages: list[Usage], table: Mapping[str, Price], *, answered: bool
    ) -> None:
        """Add one route call's usage (``answered``: it produced the router's answer)."""
        tokens_in = sum(u.input_tokens for u in usages)
        tokens_out = sum(u.output_tokens for u in usages)
        cost = 0.0
        unpriced: set[str] = set()
        for usage in usages:
            price = price_for(table, usage.model, route)
            if price is None:
                if usage.input_tokens or usage.output_tokens:
                    unpriced.add(usage.model or "<unnamed model>")
            else:
                cost += cost_of(usage, price)
        with self._lock:
            stats = self._stats
            old: RouteStats = getattr(stats, route)
            new = RouteStats(
                calls=old.calls + int(answered),
                input_tokens=old.input_tokens + tokens_in,
                output_tokens=old.output_tokens + tokens_out,
                cost=old.cost + cost,
                unpriced_models=tuple(sorted(set(old.unpriced_models) | unpriced)),
            )
            changes: dict[str, Any] = {route: new}
            if answered:
                changes["calls"] = stats.calls + 1
            self._stats = replace(stats, **changes)

    def count(self, name: str, amount: int = 1) -> None:
        """Increment a counter field (``learned``, ``student_failures`` ...)."""
        with self._lock:
            self._stats = replace(self._stats, **{name: getattr(self._stats, name) + amount})
