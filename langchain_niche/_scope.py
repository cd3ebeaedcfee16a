"""Scope filters and :class:`Scope` (re-exported by :mod:`langchain_niche.scope`).

The canonical encoding of filter values and scope keys, and the frozen
conjunction of per-field conditions selections are restricted by.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_niche.errors import (
    InvalidParameterError,
    MissingKeyError,
    preview,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document


__all__ = [
    "FilterValue",
    "Scope",
    "check_filter_keys",
    "example_filter_code",
    "scope_key",
]

FilterValue = str | int | bool | None
"""A value a scope compares: a JSON scalar other than a float."""

_SCALARS = (str, int, bool, type(None))
_KEY_HEX = 16  # scope_key: 16 hex digits = 64 bits of blake2b


def _check_text(text: str, *, name: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        msg = f"{what} {preview(text)} contains a lone surrogate (not valid Unicode text)"
        raise InvalidParameterError(msg, name=name, value=text) from e


def example_filter_code(value: Any) -> str | None:
    """Canonical JSON of a stored example's filter value (``None``: can never match).

    Args:
        value: The example's value of a filter field.

    Returns:
        The text equal values share (``1``, ``"1"`` and ``True`` differ), or ``None``
        for a value that is not a filter scalar (float, list ...).
    """
    return _example_code(value)


def _check_field(name: Any) -> str:
    if not isinstance(name, str) or not name:
        msg = f"a filter field must be a non-empty string, got {preview(name)}"
        raise InvalidParameterError(msg, name="filter", value=name)
    _check_text(name, name=name, what="filter field")
    return name


def _encode_value(value: Any, *, name: str) -> str:
    """Return the canonical JSON text of one filter value, or raise naming ``name``."""
    if isinstance(value, float):
        kind = "NaN" if math.isnan(value) else "a float"
        msg = (
            f"filter field {name!r}: value {preview(value)} is {kind}; filter values must be "
            "str, int, bool or None (floats do not compare exactly)"
        )
        raise InvalidParameterError(msg, name=name, value=value)
    if not isinstance(value, _SCALARS):
        msg = (
            f"filter field {name!r}: value {preview(value)} is a {type(value).__name__}; "
            "filter values must be str, int, bool or None (a list/tuple/set means membership)"
        )
        raise InvalidParameterError(msg, name=name, value=value)
    if isinstance(value, str):
        _check_text(value, name=name, what=f"filter field {name!r}: value")
    return json.dumps(value, ensure_ascii=False)


def _example_code(value: Any) -> str | None:
    """Canonical JSON of a stored example's value, or ``None`` when it can never match."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, _SCALARS):  # int, bool, None
        return json.dumps(value)
    return None


def _encode_condition(name: str, value: Any) -> frozenset[str]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(_encode_value(v, name=name) for v in value)
    return frozenset((_encode_value(value, name=name),))


def check_filter_keys(
    filter_keys: Iterable[str] | None, input_keys: Iterable[str] | None = None
) -> tuple[str, ...]:
    """Validate a selector's ``filter_keys`` and return them as a tuple.

    Args:
        filter_keys: Fields that scope every selection (``None`` means none).
        input_keys: Fields the selector compares for similarity, if it names
            them; a filter field is never compared, so the two must not overlap.

    Returns:
        The filter keys in the given order.

    Raises:
        InvalidParameterError: ``filter_keys`` is a string rather than a list,
            holds an empty/non-string/duplicate name, or overlaps ``input_keys``.
    """
    if filter_keys is None:
        return ()
    if isinstance(filter_keys, (str, bytes)):
        msg = f"filter_keys must be a list of field names, got the string {preview(filter_keys)}"
        raise InvalidParameterError(msg, name="filter_keys", value=filter_keys)
    keys = tuple(filter_keys)
    seen: set[str] = set()
    for key in keys:
        if not isinstance(key, str) or not key:
            msg = f"filter_keys must hold non-empty strings, got {preview(key)}"
            raise InvalidParameterError(msg, name="filter_keys", value=key)
        _check_text(key, name="filter_keys", what="filter key")
        if key in seen:
            msg = f"filter_keys names {key!r} twice"
            raise InvalidParameterError(msg, name="filter_keys", value=key)
        seen.add(key)
    if input_keys is not None:
        overlap = sorted(seen.intersection(input_keys))
        if overlap:
            msg = (
                f"filter_keys {overlap} are also input_keys; a filter field scopes the "
                "selection and is never compared for similarity"
            )
            raise InvalidParameterError(msg, name="filter_keys", value=overlap)
    return keys


def scope_key(values: Mapping[str, Any]) -> str:
    """Return a stable 16-hex digest of the filter-key values of one scope.

    The digest is blake2b (8 bytes) over the canonical JSON of ``values``
    (keys sorted, compact separators, non-ASCII kept), so equal scopes give
    equal keys across processes and machines; use it to partition storage keys
    (e.g. Redis band keys) by scope.

    Args:
        values: One scalar per filter key, e.g. ``{"tenant": "acme"}``.

    Returns:
        16 lowercase hex digits.

    Raises:
        InvalidParameterError: A field or value is not a valid filter value
            (lists are not allowed here: a scope key names exactly one scope).
    """
    parts = []
    for name in sorted(values, key=lambda k: (not isinstance(k, str), str(k))):
        _check_field(name)
        parts.append(
            f"{json.dumps(name, ensure_ascii=False)}:{_encode_value(values[name], name=name)}"
        )
    canonical = "{" + ",".join(parts) + "}"
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=_KEY_HEX // 2).hexdigest()


@dataclass(frozen=True)
class Scope:
    """Which examples a selection may see: an AND of per-field value sets.

    Build one with :meth:`from_filter`, :meth:`from_input` or :meth:`for_call`;
    ``Scope()`` restricts nothing. Values are kept as canonical JSON texts, so
    ``True``, ``1`` and ``"1"`` stay distinct.

    Example:
        .. code-block:: python

            scope = Scope.from_filter({"tenant": "acme", "lang": ["de", "fr"]})
            scope.matches({"tenant": "acme", "lang": "fr"})  # True
            scope.matches({"tenant": "acme"})  # False: no "lang"
    """

    conditions: tuple[tuple[str, frozenset[str]], ...] = ()
    """(field, allowed canonical JSON values) pairs, sorted by field, each field once."""

    _lookup: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        names = [name for name, _ in self.conditions]
        if names != sorted(set(names)):
            msg = f"Scope conditions must be sorted by field, each field once, got {names}"
            raise InvalidParameterError(msg, name="conditions", value=names)
        object.__setattr__(self, "_lookup", dict(self.conditions))

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_filter(cls, filter: Mapping[str, Any] | None) -> Scope:
        """Build a scope from a per-call filter.

        Args:
            filter: ``{field: value}`` (equality) or ``{field: [values]}``
                (membership; an empty list matches nothing). ``None`` or ``{}``
                restricts nothing.

        Raises:
            InvalidParameterError: ``filter`` is not a mapping, or a field or
                value is invalid (nested mapping, float, lone surrogate ...).
        """
        if filter is None:
            return cls()
        if not isinstance(filter, Mapping):
            msg = f"filter must be a mapping of field to value(s), got {preview(filter)}"
            raise InvalidParameterError(msg, name="filter", value=filter)
        conditions = {
            _check_field(name): _encode_condition(name, value) for name, value in filter.items()
        }
        return cls(tuple(sorted(conditions.items())))

    @classmethod
    def from_input(cls, filter_keys: Sequence[str], input_variables: Mapping[str, Any]) -> Scope:
        """Build the scope a selection's input variables impose through ``filter_keys``.

        Args:
            filter_keys: The selector's filter fields (already checked).
            input_variables: The selection's input; it must carry each field.

        Raises:
            MissingKeyError: The input lacks a filter field (named in the message).
            InvalidParameterError: An input's filter value is not a scalar.
        """
        conditions: dict[str, frozenset[str]] = {}
        for name in filter_keys:
            if name not in input_variables:
                msg = (
                    f"input has no filter field {name!r} (filter_keys={list(filter_keys)}); "
                    "a scoped selector never selects without its scope"
                )
                raise MissingKeyError(msg, key=name)
            value = input_variables[name]
            if isinstance(value, (list, tuple, set, frozenset)):
                msg = (
                    f"input filter field {name!r} must be one value, got {preview(value)}; "
                    "pass a membership condition as filter= instead"
                )
                raise InvalidParameterError(msg, name=name, value=value)
            conditions[name] = frozenset((_encode_value(value, name=name),))
        return cls(tuple(sorted(conditions.items())))

    @classmethod
    def for_call(
        cls,
        filter_keys: Sequence[str],
        input_variables: Mapping[str, Any],
        filter: Mapping[str, Any] | None = None,
    ) -> Scope:
        """The scope of one selection: ``from_input(...)`` AND ``from_filter(filter)``."""
        return cls.from_input(filter_keys, input_variables).and_(cls.from_filter(filter))

    @classmethod
    def from_json(cls, text: str) -> Scope:
        """Rebuild a scope from :meth:`to_json`'s text.

        Raises:
            InvalidParameterError: The text is not a canonical scope.
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            msg = f"not a scope's JSON: {preview(text)}"
            raise InvalidParameterError(msg, name="scope", value=text) from e
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            msg = f"a scope's JSON maps fields to lists of values, got {preview(text)}"
            raise InvalidParameterError(msg, name="scope", value=text)
        return cls.from_filter(data)

    # -- combination and inspection ---------------------------------------------

    def and_(self, other: Scope) -> Scope:
        """Return the scope matching what both match (same field: intersection)."""
        merged = dict(self._lookup)
        for name, allowed in other.conditions:
            merged[name] = merged[name] & allowed if name in merged else allowed
        return Scope(tuple(sorted(merged.items())))

    @property
    def fields(self) -> tuple[str, ...]:
        """The restricted fields, sorted."""
        return tuple(name for name, _ in self.conditions)

    def values(self, name: str) -> tuple[FilterValue, ...]:
        """The allowed values of field ``name``, in canonical order.

        Raises:
            InvalidParameterError: The scope does not restrict ``name``.
        """
        if name not in self._lookup:
            msg = f"scope does not restrict field {name!r} (fields: {list(self.fields)})"
            raise InvalidParameterError(msg, name="name", value=name)
        return tuple(json.loads(code) for code in sorted(self._lookup[name]))

    def is_empty(self) -> bool:
        """Whether the scope can match nothing (some field allows no value)."""
        return any(not allowed for _, allowed in self.conditions)

    def is_unrestricted(self) -> bool:
        """Whether the scope matches every example (no condition at all)."""
        return not self.conditions

    def to_json(self) -> str:
        """Canonical JSON: fields sorted, each mapped to its sorted list of values."""
        body = ",".join(
            f"{json.dumps(name, ensure_ascii=False)}:[{','.join(sorted(allowed))}]"
            for name, allowed in self.conditions
        )
        return "{" + body + "}"

    def __str__(self) -> str:
        return self.to_json()

    # -- evaluation -------------------------------------------------------------

    def matches(self, example: Mapping[str, Any]) -> bool:
        """Whether ``example`` passes every condition.

        A missing field, or a value that is not a filter scalar (a float, a
        list ...), never matches.
        """
        for name, allowed in self.conditions:
            if name not in example:
                return False
            code = _example_code(example[name])
            if code is None or code not in allowed:
                return False
        return True

    def to_callable(self) -> Callable[[Document], bool]:
        """A predicate over ``Document.metadata`` for ``InMemoryVectorStore(filter=...)``."""

        def _predicate(doc: Document) -> bool:
            return self.matches(doc.metadata)

        return _predicate

    def to_chroma_where(self) -> dict[str, Any] | None:
        """Chroma's ``where`` filter (``$eq``/``$in``, several fields under ``$and``).

        Values of different types in one field (``"1"`` and ``1``) become an
        ``$or`` of one ``$eq``/``$in`` per type, since Chroma wants one type per list.

        Returns ``None`` for an unrestricted scope (Chroma wants no ``where``).

        Raises:
            InvalidParameterError: The scope allows ``None`` (Chroma metadata has
                no null to compare with) or is empty (Chroma cannot express
                "nothing"; check :meth:`is_empty` and skip the query).
        """
        if self.is_empty():
            msg = f"scope {self.to_json()} matches nothing; skip the query instead of asking Chroma"
            raise InvalidParameterError(msg, name="filter", value=self.to_json())
        clauses: list[dict[str, Any]] = []
        for name in self.fields:
            values = self.values(name)
            if None in values:
                msg = f"Chroma cannot filter field {name!r} on None (no null metadata)"
                raise InvalidParameterError(msg, name=name, value=None)
            # Chroma wants one type per $in list: group by exact type, OR the groups
            groups: dict[type, list[FilterValue]] = {}
            for value in values:
                groups.setdefault(type(value), []).append(value)
            alternatives = [
                {name: {"$eq": group[0]}} if len(group) == 1 else {name: {"$in": group}}
                for group in groups.values()
            ]
            clauses.append(alternatives[0] if len(alternatives) == 1 else {"$or": alternatives})
        if not clauses:
            return None
        if len(clauses) == 1:
            return clauses[0]
        return {"$and": clauses}

    def partition_keys(self, filter_keys: Sequence[str]) -> list[str] | None:
        """The :func:`scope_key` of every partition this scope can match.

        Args:
            filter_keys: The fields storage partitions by.

        Returns:
            Sorted keys of the cartesian product of the allowed values of
            ``filter_keys`` (empty when the scope is empty), or ``None`` when the
            scope leaves some filter key unrestricted (every partition may match).
        """
        if any(name not in self._lookup for name in filter_keys):
            return None
        choices = [self.values(name) for name in filter_keys]
        return sorted(
            {
                scope_key(dict(zip(filter_keys, combo, strict=True)))
                for combo in itertools.product(*choices)
            }
        )
