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

Components put their rules on the fields (``Field(ge=...)``, ``Literal``,
``Strict``, ``Annotated`` validators, ``validate_assignment=True``); the message
says what the field accepts, derived from its annotation and constraints ("k must
be an integer >= 1, got 0"), or from an :class:`Expected` marker where the type
alone does not say it well. A validator that raises ``InvalidParameterError``
itself (a rule across fields, say) reaches the caller unchanged, without
pydantic's error chained to it (its text repeats the raw input, e.g. a URL with
its password). Where a rule needs more than the annotation says, a field carries
one of the checks at the end of this module (``Annotated[int,
integer_at_least(1)]``), which raise that typed error themselves. A rejected
assignment leaves the object as it was.
"""

from __future__ import annotations

import collections.abc
import functools
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel, BeforeValidator, ValidationError, ValidationInfo
from pydantic.fields import FieldInfo

from langchain_niche.errors import InvalidParameterError, preview

__all__ = [
    "Expected",
    "TypedValidationErrors",
    "checked",
    "describe",
    "field_names_or_none",
    "integer_at_least",
    "number_above_zero",
    "number_at_least_zero",
    "one_of",
    "optional_callable",
    "parameter_error",
    "require_integer_at_least",
    "require_integer_in",
    "unit_interval",
    "with_required",
]

_UNKNOWN = frozenset({"extra_forbidden", "no_such_attribute", "unexpected_keyword_argument"})
_WRAPPED = "__niche_typed_errors__"


@dataclass(frozen=True)
class Expected:
    """Field metadata: how error messages describe the values a field accepts.

    Example:
        ```python
        llm: Annotated[Runnable[Any, Any], Expected("a chat model or another Runnable")]
        ```
    """

    text: str


def _unpack(annotation: Any) -> tuple[Any, list[Any]]:
    """The base type of an annotation and its metadata (``Annotated`` and nested ``Field``)."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata.extend(extra)
    flat: list[Any] = []
    for item in metadata:
        flat.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, flat


def _bounds(metadata: list[Any]) -> str:
    limits = {
        type(item).__name__.lower(): getattr(item, type(item).__name__.lower())
        for item in metadata
        if isinstance(
            item, annotated_types.Ge | annotated_types.Gt | annotated_types.Le | annotated_types.Lt
        )
    }
    if "ge" in limits and "le" in limits:
        said = f" in [{limits['ge']}, {limits['le']}]"
    else:
        symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        said = "".join(f" {symbols[key]} {value}" for key, value in limits.items())
    for item in metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            plural = "" if item.min_length == 1 else "s"
            said += f" with at least {item.min_length} item{plural}"
        if isinstance(item, annotated_types.MaxLen):
            said += f" with at most {item.max_length} items"
        if getattr(item, "allow_inf_nan", None) is False:  # pydantic's general metadata
            said += " and finite"
    return said


_SIMPLE_KINDS: dict[Any, str] = {
    bool: "True or False",
    int: "an integer",
    float: "a number",
    str: "a string",
    collections.abc.Callable: "a callable",
}


def _kind(annotation: Any) -> str | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    base = origin or annotation
    if base in _SIMPLE_KINDS:
        return _SIMPLE_KINDS[base]
    if not isinstance(base, type):
        return None
    name = base.__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def describe(field: FieldInfo) -> str | None:
    """What a field accepts, in words ("an integer >= 1", "None or a callable").

    Args:
        field: A pydantic field.

    Returns:
        The description, or ``None`` when the annotation is too complex to say.
    """
    annotation, metadata = _unpack(field.annotation)
    metadata = [*field.metadata, *metadata]
    for item in metadata:
        if isinstance(item, Expected):
            return item.text
    options = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = list(typing.get_args(annotation))
    optional = type(None) in options
    options = [option for option in options if option is not type(None)]
    if len(options) != 1:
        return None
    base, inner = _unpack(options[0])
    kind = _kind(base)
    if kind is None:
        return None
    described = kind + _bounds([*metadata, *inner])
    return f"None or {described}" if optional else described


def with_required(kwargs: dict[str, Any], name: str, value: Any, missing: str) -> dict[str, Any]:
    """Constructor keywords with a required field that may also come positionally.

    Args:
        kwargs: The keyword arguments.
        name: The field (e.g. ``"llm"``).
        value: Its positional value (``None``: not given positionally).
        missing: The message when it is given neither way.

    Returns:
        ``kwargs`` with ``name`` set.

    Raises:
        InvalidParameterError: The field is missing.
    """
    if value is not None:
        kwargs[name] = value
    if name not in kwargs:
        raise InvalidParameterError(missing, name=name, value=None)
    return kwargs


def _field_names(owner: type) -> list[str]:
    fields = getattr(owner, "model_fields", None)
    return sorted(fields) if isinstance(fields, dict) else []


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "?"


def parameter_error(error: ValidationError, owner: type) -> InvalidParameterError:
    """The :class:`InvalidParameterError` for a pydantic ``ValidationError``.

    Args:
        error: The error raised while validating ``owner``'s fields (or a model
            nested in them, such as ``RetryPolicy``).
        owner: The class being constructed or assigned to.

    Returns:
        An error naming the first bad field and its value (the others are
        counted in the message); names start with ``owner.parameter_prefix``
        and a dot when the class has one (``retry.timeout``).
    """
    problems = error.errors(include_url=False)
    if not problems:  # pragma: no cover - pydantic always lists at least one
        msg = f"{owner.__name__}: {error}"
        return InvalidParameterError(msg, name="?", value=None)
    first = problems[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidParameterError):  # a validator's own typed error
        return cause
    prefix = getattr(owner, "parameter_prefix", "")
    name = _location((prefix, *first["loc"]) if prefix else first["loc"])
    value = first.get("input")
    where = owner.__name__
    own = error.title == owner.__name__
    if not own:
        where = f"{owner.__name__} ({error.title})"
    fields = getattr(owner, "model_fields", {})
    field = fields.get(first["loc"][0]) if own and first["loc"] else None
    expected = describe(field) if isinstance(field, FieldInfo) else None
    if first["type"] in _UNKNOWN:
        known = _field_names(owner) if own else []
        unknown = _location(first["loc"])
        if prefix:  # a nested settings object: "retry has no setting 'tries' (got 3)"
            hint = f"; known settings: {', '.join(known)}" if known else ""
            msg = f"{prefix} has no setting {unknown!r} (got {preview(value)}){hint}"
        else:
            hint = f"; its parameters are {', '.join(known)}" if known else ""
            msg = f"{where} got an unknown parameter {unknown}={preview(value)}{hint}"
    elif expected is not None and not first["type"].startswith("frozen"):
        name = _location((prefix, first["loc"][0]) if prefix else first["loc"][:1])
        msg = f"{name} must be {expected}, got {preview(value)}"
        if first["type"] in ("value_error", "assertion_error"):
            msg += f" ({cause or first['msg']})"
    else:
        msg = f"{where}: invalid {name}={preview(value)}: {first['msg']}"
    if len(problems) > 1:
        others = ", ".join(_location(problem["loc"]) for problem in problems[1:])
        msg += f" (also invalid: {others})"
    return InvalidParameterError(msg, name=name, value=value)


def _is_own(exc: ValidationError, error: InvalidParameterError) -> bool:
    """Whether ``error`` is the typed error a field's own check raised."""
    problems = exc.errors(include_url=False)
    return bool(problems) and (problems[0].get("ctx") or {}).get("error") is error


def _typed(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ValidationError as exc:
            error = parameter_error(exc, type(self))
            if _is_own(exc, error):
                raise error from error.__cause__  # pydantic's text would repeat the input
            raise error from exc

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def _unknown_attribute(owner: type[BaseModel], name: str, value: Any) -> InvalidParameterError:
    hint = ", ".join(_field_names(owner))
    msg = f"{owner.__name__} has no parameter {name!r} (got {preview(value)}); its parameters are {hint}"
    return InvalidParameterError(msg, name=name, value=value)


_MISSING = object()


def _typed_setattr(method: Callable[..., Any]) -> Callable[..., Any]:
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
        previous = self.__dict__.get(name, _MISSING)
        try:
            return method(self, name, value)
        except ValidationError as exc:
            # pydantic has already stored the value when a model validator rejects it
            if previous is not _MISSING and name in owner.model_fields:
                self.__dict__[name] = previous
            error = parameter_error(exc, owner)
            if _is_own(exc, error):
                raise error from error.__cause__  # pydantic's text would repeat the input
            raise error from exc

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


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_integer_at_least(name: str, value: Any, minimum: int) -> None:
    """Check an argument that is not a field (``search(k=...)``) as a field is checked.

    Raises:
        InvalidParameterError: ``value`` is not an integer (a bool is not) ``>= minimum``.
    """
    if not _is_integer(value) or value < minimum:
        _fail(name, value, f"an integer >= {minimum}")


def require_integer_in(
    name: str, value: Any, minimum: int, maximum: int, *, shown_maximum: str | None = None
) -> int:
    """Check an integer argument in ``[minimum, maximum]`` (a bool is not an integer).

    Args:
        name: The argument's name, for the message.
        value: The value received.
        minimum: Smallest accepted value.
        maximum: Largest accepted value.
        shown_maximum: How the message writes ``maximum`` (e.g. ``"2**32 - 1"``).

    Returns:
        ``value``.

    Raises:
        InvalidParameterError: ``value`` is not such an integer.
    """
    if not _is_integer(value) or not minimum <= value <= maximum:
        _fail(name, value, f"an integer in [{minimum}, {shown_maximum or maximum}]")
    result: int = value
    return result


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
