"""Exceptions raised by langchain-niche.

Every error derives from :class:`NicheError` *and* from the built-in exception
that matches its meaning (``ValueError``, ``TypeError``, ``KeyError`` ...), so
``except ValueError`` keeps working for callers that do not know this package.
Errors carry the offending value or position as attributes, not only in the
message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DuplicateIdError",
    "ExampleNotFoundError",
    "IndexFormatError",
    "InvalidExampleError",
    "InvalidParameterError",
    "KeyMismatchError",
    "MissingDependencyError",
    "MissingKeyError",
    "NicheError",
    "RedisUrlError",
    "StoreUnavailableError",
    "TokenizerError",
    "VectorStoreError",
]

_PREVIEW_CHARS = 60


def preview(value: Any, limit: int = _PREVIEW_CHARS) -> str:
    """Return a short ``repr`` of ``value`` for error messages.

    Args:
        value: Any object; long representations are cut with an ellipsis.
        limit: Maximum number of characters kept.

    Returns:
        The (possibly shortened) representation.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class NicheError(Exception):
    """Base class of every exception raised by langchain-niche.

    Errors pickle with their attributes (``name``, ``value``, ``url`` ...), so they
    cross process boundaries (multiprocessing, a worker pool) intact.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class InvalidParameterError(NicheError, ValueError):
    """A constructor or method argument is out of range or of the wrong kind.

    Attributes:
        name: The parameter's name.
        value: The value received.
    """

    def __init__(self, message: str, *, name: str, value: Any) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


class InvalidExampleError(NicheError, TypeError):
    """An example (or an input) is not a mapping of field names to text.

    Attributes:
        index: Position of the offending example in the batch (``None`` for an
            input of a selection call).
        key: The offending field, when one field is at fault.
    """

    def __init__(self, message: str, *, index: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.key = key


class _TextKeyError(NicheError, KeyError):
    """A ``KeyError`` that prints its message (a plain ``KeyError`` prints its repr)."""

    def __str__(self) -> str:
        return str(self.args[0])


class MissingKeyError(_TextKeyError):
    """An example or input lacks a field the selector compares.

    Attributes:
        index: Position of the offending example in the batch (``None`` for an
            input of a selection call).
        key: The missing field.
    """

    def __init__(self, message: str, *, index: int | None = None, key: str) -> None:
        super().__init__(message)
        self.index = index
        self.key = key


class KeyMismatchError(_TextKeyError):
    """None of the input's fields is a field of the stored examples.

    Attributes:
        input_keys: The input's fields.
        example_keys: The fields seen in the examples.
    """

    def __init__(self, message: str, *, input_keys: list[str], example_keys: list[str]) -> None:
        super().__init__(message)
        self.input_keys = input_keys
        self.example_keys = example_keys


class TokenizerError(NicheError, ValueError):
    """A user-supplied tokenizer raised or returned something that is not tokens."""


class DuplicateIdError(NicheError, ValueError):
    """An example id is used twice.

    Attributes:
        example_id: The id that is already taken.
    """

    def __init__(self, message: str, *, example_id: str) -> None:
        super().__init__(message)
        self.example_id = example_id


class ExampleNotFoundError(_TextKeyError):
    """No stored example has the given id (or equals the given example)."""


class IndexFormatError(NicheError, ValueError):
    """A saved index is malformed, from another version, or built with other settings."""


class VectorStoreError(NicheError, RuntimeError):
    """The vector store (or its embedding model) failed; the cause is chained."""


class StoreUnavailableError(NicheError, ConnectionError):
    """A storage server (Redis) cannot be reached or stopped answering in time.

    Attributes:
        url: The server's URL, with any password replaced by ``***``.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class RedisUrlError(StoreUnavailableError, InvalidParameterError):
    """A Redis URL that cannot be parsed (bad port, broken IPv6 host, unknown option ...).

    Both an :class:`InvalidParameterError` (the argument is wrong: retrying cannot
    help) and a :class:`StoreUnavailableError` (no server can be reached through
    it), so either ``except`` catches it. The message and :attr:`url` show the URL
    without its password.
    """

    def __init__(self, message: str, *, url: str) -> None:
        Exception.__init__(self, message)  # both parents' __init__ take other keywords
        self.name = "redis_url"
        self.value = url
        self.url = url


class MissingDependencyError(NicheError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""
