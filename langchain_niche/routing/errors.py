"""Exceptions raised by the teacher/student router.

Each derives from :class:`langchain_niche.errors.NicheError` and from the built-in
exception that matches its meaning, and carries its context as attributes.
"""

from __future__ import annotations

from typing import Any

from langchain_niche.errors import NicheError

__all__ = ["AnswerFormatError", "RoutingError", "TeacherError"]


class RoutingError(NicheError):
    """Base class of the router's errors."""


class TeacherError(RoutingError, RuntimeError):
    """The teacher raised while answering an input; nothing was stored.

    The teacher's exception is chained (``__cause__``).

    Attributes:
        input: The input the teacher failed on.
    """

    def __init__(self, message: str, *, input: Any) -> None:
        super().__init__(message)
        self.input = input


class AnswerFormatError(RoutingError, TypeError):
    """A model's answer is not text and cannot be stored (as JSON, or at all).

    Attributes:
        value: The answer received.
        route: ``"teacher"`` or ``"student"``.
    """

    def __init__(self, message: str, *, value: Any, route: str) -> None:
        super().__init__(message)
        self.value = value
        self.route = route
