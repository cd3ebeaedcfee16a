"""One place that turns pydantic's ``ValidationError`` into :class:`InvalidParameterError`.

Every public pydantic component of the package (the example selectors, ``PEARL``,
``EntityCompressor``) lists :class:`TypedValidationErrors` among its bases. The
mixin wraps the ``__init__`` and ``__setattr__`` that each such class (and any
subclass, a user's included) defines, so a ``ValidationError`` raised while an
object is constructed or a validated attribute is assigned (an unknown keyword
argument, a value of the wrong type, a bad nested ``RetryPolicy`` ...) reaches the
caller as :class:`~langchain_niche.errors.InvalidParameterError` naming the field
and the value. It stays a ``ValueError``, as ``ValidationError`` is, and chains
the original error as its cause.

Constraints live on the fields. Where pydantic's own wording would say less than
ours ("k must be an integer >= 1, got 'x'"), a field carries one of the
validators below (``Annotated[int, integer_at_least(1)]``): it raises
:class:`InvalidParameterError` itself, and the adapter hands that error on
unchanged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, BeforeValidator, ValidationError, ValidationInfo

from langchain_niche.errors import InvalidParameterError, preview

__all__ = [
    "TypedValidationErrors",
    "checked",
    "field_names_or_none",
    "integer_at_least",
    "number_above_zero",
    "number_at_least_zero",
    "one_of",
    "optional_callable",
    "parameter_error",
    "require_integer_at_least",
    "unit_interval",
]

_UNKNOWN = frozenset({"extra_forbidden", "no_such_attribute", "unexpected_keyword_argument"})
_WRAPPED = "__niche_typed_errors__"


def _field_names(owner: type) -> list[str]:
    fields = getattr(owner, "model_fields", None)
    return sorted(fields) if isinstance(fields, dict) else []


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "?"


def _own_error(error: ValidationError) -> InvalidParameterError | None:
    """The :class:`InvalidParameterError` a field's own check raised, if it did."""
    problems = error.errors(include_url=False)
    ours = problems[0].get("ctx", {}).get("error") if problems else None
    return ours if isinstance(ours, InvalidParameterError) else None


def parameter_error(error: ValidationError, owner: type) -> InvalidParameterError:
    """The :class:`InvalidParameterError` for a pydantic ``ValidationError``.

    Args:
        error: The error raised while validating ``owner``'s fields (or a model
            nested in them, such as ``RetryPolicy``).
        owner: The class being constructed or assigned to.

    Returns:
        An error naming the first bad field and its value (the others are
        counted in the message).
    """
    ours = _own_error(error)
    if ours is not None:
        return ours
    problems = error.errors(include_url=False)
    if not problems:  # pragma: no cover - pydantic always lists at least one
        msg = f"{owner.__name__}: {error}"
        return InvalidParameterError(msg, name="?", value=None)
    first = problems[0]
    name = _location(first["loc"])
    value = first.get("input")
    where = owner.__name__
    if error.title and error.title != owner.__name__:
        where = f"{owner.__name__} ({error.title})"
    if first["type"] in _UNKNOWN:
        known = _field_names(owner) if error.title == owner.__name__ else []
        hint = f"; its parameters are {', '.join(known)}" if known else ""
        msg = f"{where} got an unknown parameter {name}={preview(value)}{hint}"
    else:
        msg = f"{where}: invalid {name}={preview(value)}: {first['msg']}"
    if len(problems) > 1:
        others = ", ".join(_location(problem["loc"]) for problem in problems[1:])
        msg += f" (also invalid: {others})"
    return InvalidParameterError(msg, name=name, value=value)


def _typed(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ValidationError as exc:
            ours = _own_error(exc)
            if ours is not None:
                # a field's own error, raised as it was: pydantic's error is left out
                # (its text repeats the raw input, e.g. a URL with its password)
                raise ours from ours.__cause__
            raise parameter_error(exc, type(self)) from exc

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def _unknown_attribute(owner: type[BaseModel], name: str, value: Any) -> InvalidParameterError:
    hint = ", ".join(_field_names(owner))
    msg = f"{owner.__name__} has no parameter {name!r} (got {preview(value)}); its parameters are {hint}"
    return InvalidParameterError(msg, name=name, value=value)


def _typed_setattr(method: Callable[..., Any]) -> Callable[..., Any]:
    typed = _typed(method)

    @functools.wraps(method)
    def wrapper(self: Any, name: str, value: Any) -> Any:
        owner = type(self)
        if (
            not name.startswith("_")
            and name not in owner.model_fields
            and owner.model_config.get("extra") != "allow"
            and not hasattr(owner, name)  # properties and other class attributes
        ):
            # pydantic raises a bare ValueError here when assignment is not validated
            raise _unknown_attribute(owner, name, value)
        return typed(self, name, value)

    setattr(wrapper, _WRAPPED, True)
    return wrapper


class TypedValidationErrors:
    """Mixin for pydantic components: validation errors become ``InvalidParameterError``.

    List it before the pydantic base class. Every class that derives from it
    gets its ``__init__`` and ``__setattr__`` (its own or inherited) wrapped once,
    when it is created.

    Example:
        ```python
        class Component(TypedValidationErrors, BaseModel):
            k: int = 4

        Component(k="four")  # InvalidParameterError: Component: invalid k='four': ...
        ```
    """

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap the new class's own ``__init__`` and ``__setattr__`` (pydantic hook)."""
        super().__pydantic_init_subclass__(**kwargs)  # type: ignore[misc]
        init = cls.__init__
        if not getattr(init, _WRAPPED, False):
            cls.__init__ = _typed(init)  # type: ignore[method-assign]
        setter = cls.__setattr__
        if not getattr(setter, _WRAPPED, False):
            cls.__setattr__ = _typed_setattr(setter)  # type: ignore[method-assign]


# -- field checks: Annotated[..., check] ------------------------------------------------
def checked(check: Callable[[str, Any], None]) -> Any:
    """A field validator that runs ``check(field_name, value)`` before pydantic's own.

    ``check`` raises :class:`InvalidParameterError` (naming the field and value);
    the value itself reaches pydantic unchanged.
    """

    def validate(value: Any, info: ValidationInfo) -> Any:
        check(info.field_name or "?", value)
        return value

    return BeforeValidator(validate)


def _fail(name: str, value: Any, expected: str) -> None:
    msg = f"{name} must be {expected}, got {preview(value)}"
    raise InvalidParameterError(msg, name=name, value=value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_integer_at_least(name: str, value: Any, minimum: int) -> None:
    """Check an argument that is not a field (``search(k=...)``) as a field is checked.

    Raises:
        InvalidParameterError: ``value`` is not an integer (a bool is not) ``>= minimum``.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        _fail(name, value, f"an integer >= {minimum}")


def integer_at_least(minimum: int, *, optional: bool = False) -> Any:
    """An integer (not a bool) ``>= minimum``; ``optional``: or ``None``."""

    def check(name: str, value: Any) -> None:
        if not (optional and value is None):
            require_integer_at_least(name, value, minimum)

    return checked(check)


def unit_interval() -> Any:
    """A number in ``[0, 1]``."""

    def check(name: str, value: Any) -> None:
        if not (_is_number(value) and 0.0 <= value <= 1.0):
            _fail(name, value, "a number in [0, 1]")

    return checked(check)


def number_at_least_zero() -> Any:
    """A finite number ``>= 0``."""

    def check(name: str, value: Any) -> None:
        if not (_is_number(value) and 0 <= value < math.inf):
            _fail(name, value, "a number >= 0 and finite")

    return checked(check)


def number_above_zero() -> Any:
    """A number ``> 0``."""

    def check(name: str, value: Any) -> None:
        if not (_is_number(value) and value > 0):
            _fail(name, value, "a number > 0")

    return checked(check)


def one_of(*choices: str) -> Any:
    """One of ``choices`` (put it on a ``Literal`` field for a message listing them)."""

    def check(name: str, value: Any) -> None:
        if value not in choices:
            _fail(name, value, f"one of {list(choices)}")

    return checked(check)


def field_names_or_none() -> Any:
    """``None`` or a non-empty list of field names."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if (
            isinstance(value, str)
            or not isinstance(value, Sequence)
            or not value
            or not all(isinstance(key, str) for key in value)
        ):
            _fail(name, value, "None or a non-empty list of field names")

    return checked(check)


def optional_callable() -> Any:
    """``None`` or a callable."""

    def check(name: str, value: Any) -> None:
        if value is not None and not callable(value):
            _fail(name, value, "None or a callable")

    return checked(check)
