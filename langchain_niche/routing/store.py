"""The example store as the router sees it: checked at construction, written without duplicates.

Only the selectors' public API is used: ``select_examples_with_scores`` (and its
async twin), ``add_example`` / ``aadd_example``, ``len()``, and ``examples`` /
``example_keys`` / ``input_keys`` where a selector has them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_niche.errors import InvalidParameterError, MissingKeyError, preview
from langchain_niche.routing.answers import fingerprint
from langchain_niche.routing.policies import ScoredExamples

__all__ = [
    "AcceptFn",
    "ExampleWriter",
    "already_stored",
    "check_selector",
    "stored_examples_checked",
]

AcceptFn = Callable[[dict[str, Any], str], bool]
"""``accept(input, answer)``: whether a teacher answer may become an example."""

_SCAN_LIMIT = 1_000_000


def _memory_examples(selector: Any) -> list[dict[str, Any]] | None:
    """The stored examples when they are in this process (``None``: a network store)."""
    lexical = getattr(selector, "lexical", None)  # HybridExampleSelector keeps them there
    source = lexical if lexical is not None else selector
    describe = getattr(source, "describe_index", None)
    if callable(describe) and describe().get("storage") != "memory":
        return None  # Redis: a full read is not a construction-time check
    examples = getattr(source, "examples", None)
    if isinstance(examples, list) and len(examples) <= _SCAN_LIMIT:
        return examples
    return None


def check_selector(selector: Any, output_key: str) -> None:
    """Reject a selector the router cannot use.

    Args:
        selector: One of the package's selectors (or any object with the same API).
        output_key: The field that must hold the teacher's answer.

    Raises:
        InvalidParameterError: Not a selector; it compares or drops ``output_key``.
        MissingKeyError: A stored example lacks ``output_key`` (in-memory stores
            are checked entirely; a Redis store is checked on each selection).
    """
    for method in ("select_examples_with_scores", "add_example"):
        if not callable(getattr(selector, method, None)):
            msg = f"selector must be an example selector with {method}() (JaccardExampleSelector, MinHashExampleSelector, HybridExampleSelector), got {type(selector).__name__}"
            raise InvalidParameterError(msg, name="selector", value=selector)
    example_keys = getattr(selector, "example_keys", None)
    if example_keys and output_key not in example_keys:
        msg = f"the selector returns only example_keys={list(example_keys)}, without output_key {output_key!r}: the router needs the teacher's answers"
        raise InvalidParameterError(msg, name="selector", value=example_keys)
    input_keys = getattr(selector, "input_keys", None)
    if input_keys and output_key in input_keys:
        msg = f"the selector compares output_key {output_key!r} (input_keys={list(input_keys)}); inputs have no answer yet"
        raise InvalidParameterError(msg, name="selector", value=input_keys)
    examples = _memory_examples(selector)
    if examples:
        stored_examples_checked(examples, output_key)


def stored_examples_checked(
    examples: Sequence[Mapping[str, Any]], output_key: str
) -> Sequence[Mapping[str, Any]]:
    """Check every example holds ``output_key``.

    Args:
        examples: Stored (or retrieved) examples.
        output_key: The answer field.

    Returns:
        ``examples``.

    Raises:
        MissingKeyError: The first example without ``output_key`` (its position and fields).
    """
    for i, example in enumerate(examples):
        if output_key not in example:
            msg = f"the selector's example {i} has no field {output_key!r} (output_key); it has {sorted(example)}: {preview(dict(example))}"
            raise MissingKeyError(msg, index=i, key=output_key)
    return examples


def already_stored(query: Mapping[str, Any], scored: ScoredExamples) -> bool:
    """Whether a retrieved example has exactly the input's compared fields."""
    return any(all(example.get(k) == v for k, v in query.items()) for example, _ in scored)


class ExampleWriter:
    """Adds teacher answers to a selector: gated by ``accept``, never the same input twice.

    An input counts as stored when a retrieved example has exactly its compared
    fields (which covers examples added by other processes sharing a Redis store)
    or when this writer already stored it (which covers concurrent calls here).
    """

    def __init__(self, selector: Any, output_key: str, accept: AcceptFn | None) -> None:
        self.selector = selector
        self.output_key = output_key
        self.accept = accept
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    # copies and pickles carry the selector and what was stored, each with a lock of its own
    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            seen = set(self._seen)
        return {
            "selector": self.selector,
            "output_key": self.output_key,
            "accept": self.accept,
            "seen": seen,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["selector"], state["output_key"], state["accept"])  # type: ignore[misc]
        self._seen = state["seen"]

    def plan(
        self,
        query: Mapping[str, Any],
        answer: str,
        scored: ScoredExamples,
    ) -> tuple[str, dict[str, Any] | None]:
        """Decide whether to store; reserves the input when it will be stored.

        Returns:
            ``("learned", example)``, ``("duplicates_skipped", None)`` or ``("rejected", None)``
            (the outcome names the ``RouterStats`` counter to increment).
        """
        if self.accept is not None and not self.accept(dict(query), answer):
            return "rejected", None
        if already_stored(query, scored):
            return "duplicates_skipped", None
        key = fingerprint(query)
        with self._lock:
            if key in self._seen:
                return "duplicates_skipped", None
            self._seen.add(key)
        return "learned", {**query, self.output_key: answer}

    def release(self, query: Mapping[str, Any]) -> None:
        """Forget a reservation whose write failed."""
        with self._lock:
            self._seen.discard(fingerprint(query))

    @contextmanager
    def _reserved(self, query: Mapping[str, Any]) -> Iterator[None]:
        """Release the reservation of ``query`` when the write in the block fails."""
        try:
            yield
        except BaseException:
            self.release(query)
            raise

    def write(self, query: Mapping[str, Any], answer: str, scored: ScoredExamples) -> str:
        """Store one teacher answer (sync); returns the outcome of :meth:`plan`."""
        outcome, example = self.plan(query, answer, scored)
        if example is not None:
            with self._reserved(query):
                self.selector.add_example(example)
        return outcome

    async def awrite(self, query: Mapping[str, Any], answer: str, scored: ScoredExamples) -> str:
        """Async twin of :meth:`write` (native async for a Redis store)."""
        outcome, example = self.plan(query, answer, scored)
        if example is not None:
            with self._reserved(query):
                await self.selector.aadd_example(example)
        return outcome
