"""Scoped selection: which examples a selection may see (issue 14).

A :class:`Scope` is a frozen conjunction of per-field conditions. Each condition
is a set of allowed JSON scalars (``str``, ``int``, ``bool`` or ``None``); an
example matches when, for every field, its value is one of the allowed values.
Equality is exact and typed: ``1``, ``"1"`` and ``True`` are three different
values (they compare by their canonical JSON text), so a tenant id never matches
by coincidence. A scope is built from

* the selector's ``filter_keys`` and the input variables of a selection
  (:meth:`Scope.from_input`): an input without a filter field raises
  :class:`~langchain_niche.errors.MissingKeyError`, never an unscoped selection;
* a per-call ``filter={"tenant": "acme", "lang": ["de", "fr"]}``
  (:meth:`Scope.from_filter`): a scalar means equality, a list/tuple/set means
  membership, an empty list matches nothing;

and both are combined by AND (:meth:`Scope.and_`; the same field in both keeps
the intersection). :class:`ScopeIndex` answers "which rows match" for the
in-memory selectors with numpy.

Example:
    .. code-block:: python

        from langchain_niche.scope import Scope

        scope = Scope.from_input(["tenant"], {"tenant": "acme", "q": "refund?"}).and_(
            Scope.from_filter({"lang": ["de", "fr"]})
        )
        scope.matches({"tenant": "acme", "lang": "de", "q": "..."})  # True
        scope.to_json()  # '{"lang":["de","fr"],"tenant":["acme"]}'
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_niche.errors import (
    IndexFormatError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from numpy.typing import NDArray

__all__ = [
    "FilterValue",
    "Scope",
    "ScopeIndex",
    "check_filter_keys",
    "example_filter_code",
    "scope_key",
]

FilterValue = str | int | bool | None
"""A value a scope compares: a JSON scalar other than a float."""

_SCALARS = (str, int, bool, type(None))
_KEY_HEX = 16  # scope_key: 16 hex digits = 64 bits of blake2b
_VALUE_CACHE = 1 << 16  # ScopeIndex: distinct raw values remembered per field


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


@dataclass
class _Field:
    vocab: list[str] = field(default_factory=list)  # code -> canonical JSON
    codes_of: dict[str, int] = field(default_factory=dict)  # canonical JSON -> code
    # (type, value) -> code (-1: never matches): skips json.dumps for values seen before;
    # the type keeps True, 1 and "1" apart
    by_value: dict[tuple[type, Any], int] = field(default_factory=dict)

    def code(self, value: Any) -> int:
        try:
            key = (type(value), value)
            return self.by_value[key]
        except TypeError:  # unhashable (a list ...): never a filter scalar
            return -1
        except KeyError:
            pass
        text = _example_code(value)
        if text is None:
            code = -1
        else:
            code = self.codes_of.setdefault(text, len(self.vocab))
            if code == len(self.vocab):
                self.vocab.append(text)
        if len(self.by_value) < _VALUE_CACHE:
            self.by_value[key] = code
        return code


def _check_vocab(name: str, vocab: list[str]) -> None:
    if len(set(vocab)) != len(vocab):
        msg = f"scope index vocabulary of {name!r} repeats a value"
        raise IndexFormatError(msg)
    for text in vocab:
        try:
            value = json.loads(text)
        except ValueError as e:
            msg = f"scope index vocabulary of {name!r}: {preview(text)} is not JSON"
            raise IndexFormatError(msg) from e
        if _example_code(value) != text:
            msg = f"scope index vocabulary of {name!r}: {preview(text)} is not canonical"
            raise IndexFormatError(msg)


class ScopeIndex:
    """Scope values of every row of an in-memory index, answering "which rows match".

    Each indexed field keeps one ``int32`` code per row (``-1``: missing or not
    a filter scalar, never matches) and a vocabulary of canonical JSON values;
    one flag per row says whether it holds an example (added, not removed).
    A row query uses postings (row ids grouped by code, one stable argsort,
    rebuilt lazily after a change); a mask query compares codes with numpy.
    Memory: 4 bytes per row per field for the codes plus 4 for the postings
    once built, 1 byte per row for the flags, and the vocabulary.

    Example:
        .. code-block:: python

            index = ScopeIndex(["tenant"])
            index.add([0, 1], [{"tenant": "a"}, {"tenant": "b"}])
            index.rows(Scope.from_filter({"tenant": "b"}))  # array([1])
    """

    _FORMAT = "langchain-niche/scope-index/1"

    def __init__(self, fields: Iterable[str]) -> None:
        names = check_filter_keys(list(fields))
        self._names: tuple[str, ...] = names
        self._fields: dict[str, _Field] = {name: _Field() for name in names}
        self._codes: NDArray[np.int32] = np.full((len(names), 0), -1, dtype=np.int32)
        self._live: NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)  # added and not removed
        self._size = 0
        # postings per field: (order, offsets); order = rows sorted by code (stable)
        self._postings: dict[str, tuple[NDArray[np.int32], NDArray[np.int64]]] = {}

    # -- inspection -------------------------------------------------------------

    @property
    def fields(self) -> tuple[str, ...]:
        """The indexed fields, in construction order."""
        return self._names

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (codes, built postings) and the vocabulary."""
        total = int(self._codes[:, : self._size].nbytes) + self._size  # codes + live flags
        total += sum(
            int(order.nbytes + offsets.nbytes) for order, offsets in self._postings.values()
        )
        total += sum(len(code.encode("utf-8")) for f in self._fields.values() for code in f.vocab)
        return total

    # -- changes ----------------------------------------------------------------

    def _grow(self, size: int) -> None:
        capacity = self._codes.shape[1]
        if size > capacity:
            new = np.full((len(self._names), max(size, 2 * capacity, 16)), -1, dtype=np.int32)
            new[:, : self._size] = self._codes[:, : self._size]
            self._codes = new
            live = np.zeros(new.shape[1], dtype=np.bool_)
            live[: self._size] = self._live[: self._size]
            self._live = live
        self._size = max(self._size, size)

    def add(
        self, rows: Sequence[int] | NDArray[np.integer[Any]], examples: Sequence[Mapping[str, Any]]
    ) -> None:
        """Record (or overwrite) the scope values of ``examples`` at ``rows``.

        Rows past the end grow the index; rows skipped over match nothing.

        Raises:
            InvalidParameterError: ``rows`` and ``examples`` differ in length or a
                row is negative.
        """
        row_array = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(row_array) != len(examples):
            msg = f"add() got {len(row_array)} rows for {len(examples)} examples"
            raise InvalidParameterError(msg, name="rows", value=len(row_array))
        if len(row_array) == 0:
            return
        if int(row_array.min()) < 0:
            msg = f"rows must be >= 0, got {int(row_array.min())}"
            raise InvalidParameterError(msg, name="rows", value=int(row_array.min()))
        self._grow(int(row_array.max()) + 1)
        for i, name in enumerate(self._names):
            f = self._fields[name]
            codes = np.fromiter(
                (f.code(example[name]) if name in example else -1 for example in examples),
                dtype=np.int32,
                count=len(examples),
            )
            self._codes[i, row_array] = codes
        self._live[row_array] = True
        self._postings.clear()

    def remove(self, rows: Sequence[int] | NDArray[np.integer[Any]]) -> None:
        """Make ``rows`` match nothing (their row numbers stay; see :meth:`compact`)."""
        row_array = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(row_array) == 0:
            return
        if int(row_array.min()) < 0 or int(row_array.max()) >= self._size:
            msg = f"rows must be in [0, {self._size}), got {preview(row_array.tolist())}"
            raise InvalidParameterError(msg, name="rows", value=row_array.tolist())
        self._codes[:, row_array] = -1
        self._live[row_array] = False
        self._postings.clear()

    def compact(self, keep: NDArray[np.bool_]) -> None:
        """Keep only the rows where ``keep`` is true, renumbered from 0 in order.

        Raises:
            InvalidParameterError: ``keep`` is not a boolean array of ``len(self)``.
        """
        keep = np.asarray(keep)
        if keep.dtype != np.bool_ or keep.shape != (self._size,):
            msg = f"keep must be a boolean array of shape ({self._size},), got {keep.dtype} {keep.shape}"
            raise InvalidParameterError(msg, name="keep", value=keep.shape)
        self._codes = np.ascontiguousarray(self._codes[:, : self._size][:, keep])
        self._live = np.ascontiguousarray(self._live[: self._size][keep])
        self._size = int(self._codes.shape[1])
        self._postings.clear()

    # -- queries ----------------------------------------------------------------

    def _allowed_codes(self, name: str, allowed: frozenset[str]) -> NDArray[np.int32]:
        if name not in self._fields:
            msg = f"field {name!r} is not indexed (indexed fields: {list(self._names)})"
            raise InvalidParameterError(msg, name="filter", value=name)
        codes_of = self._fields[name].codes_of
        return np.array(sorted(codes_of[t] for t in allowed if t in codes_of), dtype=np.int32)

    def mask(self, scope: Scope) -> NDArray[np.bool_]:
        """Boolean array of ``len(self)``: which rows ``scope`` matches.

        Raises:
            InvalidParameterError: ``scope`` restricts a field that is not indexed.
        """
        result: NDArray[np.bool_] = self._live[: self._size].copy()
        for name, allowed in scope.conditions:
            codes = self._allowed_codes(name, allowed)
            row_codes = self._codes[self._names.index(name), : self._size]
            if len(codes) == 1:
                result &= row_codes == codes[0]
            else:  # a lookup table over the vocabulary (slot 0: code -1)
                table = np.zeros(len(self._fields[name].vocab) + 1, dtype=np.bool_)
                table[codes + 1] = True
                result &= table[row_codes + 1]
        return result

    def has_postings(self, names: Iterable[str]) -> bool:
        """Whether the postings of every field in ``names`` are built (row queries are cheap)."""
        return all(name in self._postings for name in names)

    def _field_postings(self, name: str) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        built = self._postings.get(name)
        if built is None:
            row_codes = self._codes[self._names.index(name), : self._size]
            order = np.argsort(row_codes, kind="stable").astype(np.int32)
            counts = np.bincount(row_codes + 1, minlength=len(self._fields[name].vocab) + 1)
            offsets = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            built = (order, offsets)
            self._postings[name] = built
        return built

    def rows(self, scope: Scope) -> NDArray[np.int64]:
        """Sorted row numbers ``scope`` matches (postings intersected per field).

        Raises:
            InvalidParameterError: ``scope`` restricts a field that is not indexed.
        """
        if scope.is_unrestricted():
            return np.flatnonzero(self._live[: self._size]).astype(np.int64)
        plans = []
        for name, allowed in scope.conditions:
            codes = self._allowed_codes(name, allowed)
            order, offsets = self._field_postings(name)
            # code c's rows are order[offsets[c + 1]:offsets[c + 2]] (slot 0 holds code -1)
            size = sum(int(offsets[c + 2] - offsets[c + 1]) for c in codes.tolist())
            plans.append((size, name, codes, order, offsets))
        # postings of the most selective field, then filter those rows by the others' codes
        plans.sort(key=lambda plan: plan[0])
        _, _, codes, order, offsets = plans[0]
        parts = [order[offsets[c + 1] : offsets[c + 2]] for c in codes.tolist()]
        if not parts:
            return np.empty(0, dtype=np.int64)
        result: NDArray[np.int64] = (
            parts[0].astype(np.int64)
            if len(parts) == 1
            else np.sort(np.concatenate(parts)).astype(np.int64)
        )
        for _, name, codes, _, _ in plans[1:]:
            if len(result) == 0:
                break
            row_codes = self._codes[self._names.index(name), result]
            keep = row_codes == codes[0] if len(codes) == 1 else np.isin(row_codes, codes)
            result = result[keep]
        return result

    # -- persistence --------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, NDArray[Any]], str]:
        """Numeric arrays (``codes``: fields x rows ``int32``) and a small JSON vocabulary."""
        vocab = {
            "format": self._FORMAT,
            "fields": list(self._names),
            "vocab": [self._fields[name].vocab for name in self._names],
        }
        codes = np.ascontiguousarray(self._codes[:, : self._size])
        live = np.ascontiguousarray(self._live[: self._size])
        return {"codes": codes, "live": live}, json.dumps(
            vocab, ensure_ascii=False, separators=(",", ":")
        )

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]], vocab_json: str) -> ScopeIndex:
        """Restore an index saved with :meth:`to_arrays`.

        Raises:
            IndexFormatError: The arrays or the vocabulary are malformed.
        """
        try:
            meta = json.loads(vocab_json)
        except (TypeError, ValueError) as e:
            msg = "scope index vocabulary is not JSON"
            raise IndexFormatError(msg) from e
        if not isinstance(meta, dict) or meta.get("format") != cls._FORMAT:
            msg = f"not a scope index vocabulary (format {preview(meta.get('format') if isinstance(meta, dict) else meta)})"
            raise IndexFormatError(msg)
        names, vocabs = meta.get("fields"), meta.get("vocab")
        if (
            not isinstance(names, list)
            or not isinstance(vocabs, list)
            or len(names) != len(vocabs)
            or not all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in vocabs)
        ):
            msg = "scope index vocabulary: fields and vocab lists do not match"
            raise IndexFormatError(msg)
        try:
            index = cls(names)
        except InvalidParameterError as e:
            msg = f"scope index vocabulary: bad fields {preview(names)}"
            raise IndexFormatError(msg) from e
        codes = arrays.get("codes")
        if (
            not isinstance(codes, np.ndarray)
            or codes.ndim != 2
            or codes.shape[0] != len(names)
            or not np.issubdtype(codes.dtype, np.integer)
        ):
            msg = f"scope index codes must be a 2-D integer array with {len(names)} rows"
            raise IndexFormatError(msg)
        for i, (name, vocab) in enumerate(zip(names, vocabs, strict=True)):
            _check_vocab(name, vocab)
            if codes.shape[1] and (int(codes[i].min()) < -1 or int(codes[i].max()) >= len(vocab)):
                msg = f"scope index codes of {name!r} are outside its vocabulary"
                raise IndexFormatError(msg)
            index._fields[name] = _Field(list(vocab), {t: c for c, t in enumerate(vocab)})
        live = arrays.get("live")
        if (
            not isinstance(live, np.ndarray)
            or live.dtype != np.bool_
            or live.shape != (codes.shape[1],)
        ):
            msg = f"scope index live flags must be a boolean array of {codes.shape[1]} rows"
            raise IndexFormatError(msg)
        if bool(np.any(codes[:, ~live] != -1)):
            msg = "scope index codes: a removed row still has scope values"
            raise IndexFormatError(msg)
        index._codes = codes.astype(np.int32, copy=True)
        index._live = live.copy()
        index._size = int(codes.shape[1])
        return index
