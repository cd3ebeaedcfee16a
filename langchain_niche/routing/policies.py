"""Routing policies: given the retrieved teacher answers, ask the student or the teacher?

A policy sees what the selector returned for an input (``select_examples_with_scores``:
``(example, score)`` pairs, best first) and answers ``"student"`` or ``"teacher"``.

* :class:`AgreementPolicy` (default): the ``min_examples`` best examples all score at
  least ``min_score`` and their stored answers agree (``agree``, exact after
  :func:`normalize_answer` by default). Agreement of independent teacher answers to
  similar inputs is the signal that predicts a correct student answer.
* :class:`SimilarityPolicy`: the best example scores at least ``min_score``.

Both expose the one number they threshold (:meth:`signal`), so calibration can
sweep thresholds without re-running anything.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_niche.errors import InvalidParameterError, MissingKeyError, preview

__all__ = [
    "AgreementPolicy",
    "Route",
    "RouteDecision",
    "RoutingPolicy",
    "ScoredExamples",
    "SimilarityPolicy",
    "exact_match",
    "normalize_answer",
]

Route = Literal["student", "teacher"]
"""Where an input is sent."""

ScoredExamples = Sequence[tuple[Mapping[str, Any], float]]
"""What ``select_examples_with_scores`` returns: ``(example, score)`` pairs, best first."""

AgreeFn = Callable[[Any, Any], bool]
"""Compares two answers."""

_EDGE_PUNCT = re.compile(r"^[\s\"'`.,;:!?()\[\]]+|[\s\"'`.,;:!?()\[\]]+$")


def normalize_answer(value: Any) -> str:
    """Normalise an answer for comparison.

    Unicode NFKC, case folded, runs of whitespace collapsed to one space, quotes,
    brackets and punctuation stripped from both ends (``"Paris."`` and ``' paris'``
    normalise alike; punctuation inside the answer is kept).

    Args:
        value: An answer (non-strings are compared through ``str``).

    Returns:
        The normalised text.
    """
    text = unicodedata.normalize("NFKC", value if isinstance(value, str) else str(value))
    text = " ".join(text.casefold().split())
    return _EDGE_PUNCT.sub("", text)


def exact_match(a: Any, b: Any) -> bool:
    """Whether two answers are equal after :func:`normalize_answer`.

    Args:
        a: An answer.
        b: Another answer.

    Returns:
        ``normalize_answer(a) == normalize_answer(b)``.
    """
    return normalize_answer(a) == normalize_answer(b)


@dataclass(frozen=True)
class RouteDecision:
    """What a policy decided for one input, and why."""

    route: Route
    """``"student"`` or ``"teacher"``."""
    reason: str
    """A short explanation (shown in the run tree)."""
    scores: tuple[float, ...] = ()
    """Scores of the retrieved examples, best first."""


def _answer(example: Mapping[str, Any], output_key: str) -> Any:
    try:
        return example[output_key]
    except KeyError:
        msg = f"a retrieved example has no field {output_key!r} (output_key); it has {sorted(example)}"
        raise MissingKeyError(msg, key=output_key) from None


def _invalid(exc: ValidationError, owner: str, data: Mapping[str, Any]) -> InvalidParameterError:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error.get("loc") else owner
    value = data.get(name, error.get("input"))
    msg = f"{owner}.{name}: {error['msg']}, got {preview(value)}"
    return InvalidParameterError(msg, name=name, value=value)


class _Policy(BaseModel):
    """Pydantic settings whose validation errors are this package's typed errors."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, arbitrary_types_allowed=True
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid(exc, type(self).__name__, data) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _invalid(exc, type(self).__name__, {name: value}) from None

    # -- the calibration protocol ------------------------------------------------------
    def families(self, available: int) -> list[int]:
        """Settings calibrated independently (one threshold curve each).

        Args:
            available: How many examples the selector returns per input at most.

        Returns:
            The family keys (see :meth:`signal`).
        """
        raise NotImplementedError

    def signal(self, scored: ScoredExamples, output_key: str, family: int | None = None) -> float:
        """The number this policy thresholds: student iff ``signal >= min_score``.

        Args:
            scored: ``(example, score)`` pairs, best first.
            output_key: The field holding the teacher's answer.
            family: The family (see :meth:`families`; ``None``: the current setting).

        Returns:
            The signal (``-inf`` when the policy can never send this input to the student).
        """
        raise NotImplementedError

    def apply(self, family: int, threshold: float) -> None:
        """Set the policy to a calibrated family and threshold.

        Args:
            family: A key from :meth:`families`.
            threshold: The new ``min_score`` (``inf``: never the student).
        """
        raise NotImplementedError

    def decide(self, scored: ScoredExamples, output_key: str) -> RouteDecision:
        """Route one input.

        Args:
            scored: ``(example, score)`` pairs, best first.
            output_key: The field holding the teacher's answer.

        Returns:
            The decision.
        """
        value = self.signal(scored, output_key)
        scores = tuple(float(score) for _, score in scored)
        if value >= self.min_score:  # type: ignore[attr-defined]
            return RouteDecision("student", f"{self._why()} (signal {value:.3f})", scores)
        return RouteDecision("teacher", f"not {self._why()}", scores)

    def _why(self) -> str:
        raise NotImplementedError


class AgreementPolicy(_Policy):
    """Student when the best retrieved teacher answers agree (the default policy).

    The student is asked when the ``min_examples`` best examples all score at
    least ``min_score`` and each of their answers agrees with the best one's
    (``agree``); otherwise the teacher.

    Example:
        ```python
        from langchain_niche.routing import AgreementPolicy

        policy = AgreementPolicy(min_examples=2, min_score=0.3)
        scored = [({"q": "a b", "output": "X"}, 0.8), ({"q": "a c", "output": "x."}, 0.5)]
        policy.decide(scored, "output").route  # 'student'
        ```
    """

    min_examples: int = Field(default=3, ge=1)
    """How many of the best examples must agree (the selector's ``k`` must be at least this)."""
    min_score: float = Field(default=0.0, ge=0.0)
    """Each of those examples scores at least this (``inf``: never the student)."""
    agree: AgreeFn = exact_match
    """Compares two stored answers (default: :func:`exact_match`)."""

    def families(self, available: int) -> list[int]:  # noqa: D102 - documented on the base
        return list(range(1, max(1, available) + 1))

    def signal(  # noqa: D102
        self, scored: ScoredExamples, output_key: str, family: int | None = None
    ) -> float:
        m = self.min_examples if family is None else family
        if len(scored) < m:
            return -math.inf
        first_example, first_score = scored[0]
        first = _answer(first_example, output_key)
        lowest = float(first_score)
        for example, score in scored[1:m]:
            if not self.agree(first, _answer(example, output_key)):
                return -math.inf
            lowest = min(lowest, float(score))
        return lowest

    def apply(self, family: int, threshold: float) -> None:  # noqa: D102
        self.min_examples = family
        self.min_score = threshold

    def _why(self) -> str:
        return f"the {self.min_examples} best examples agree and score >= {self.min_score:.3g}"


class SimilarityPolicy(_Policy):
    """Student when the best retrieved example is similar enough.

    Example:
        ```python
        from langchain_niche.routing import SimilarityPolicy

        SimilarityPolicy(min_score=0.6).decide([({"q": "a", "output": "X"}, 0.5)], "output").route
        # 'teacher'
        ```
    """

    min_score: float = Field(default=0.5, ge=0.0)
    """The best example scores at least this (``inf``: never the student)."""

    def families(self, available: int) -> list[int]:  # noqa: D102
        return [1]

    def signal(  # noqa: D102
        self, scored: ScoredExamples, output_key: str, family: int | None = None
    ) -> float:
        return float(scored[0][1]) if scored else -math.inf

    def apply(self, family: int, threshold: float) -> None:  # noqa: D102
        self.min_score = threshold

    def _why(self) -> str:
        return f"the best example scores >= {self.min_score:.3g}"


RoutingPolicy = AgreementPolicy | SimilarityPolicy
"""The built-in policies (a callable ``(scored) -> "student" | "teacher"`` also routes)."""
