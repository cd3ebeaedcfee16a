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

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_niche._scope import (
    FilterValue,
    Scope,
    _example_code,
    check_filter_keys,
    example_filter_code,
    scope_key,
)
from langchain_niche.errors import (
    IndexFormatError,
    InvalidParameterError,
    preview,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "FilterValue",
    "Scope",
    "ScopeIndex",
    "check_filter_keys",
    "example_filter_code",
    "scope_key",
]

_VALUE_CACHE = 1 << 16  # ScopeIndex: distinct raw values remembered per field


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
