"""In-memory storage of examples addressed by row, with stable string ids.

Rows are assigned in insertion order and never reused until :meth:`compact`
renumbers them (preserving order), so "insertion order" and "row order" are the
same thing. Every example has an id: the one the caller gave, or by default the
decimal string of its insertion sequence number (``"0"``, ``"1"``, ...), which is
kept implicitly (8 bytes per example) instead of as a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import (
    DuplicateIdError,
    ExampleNotFoundError,
    InvalidParameterError,
    preview,
)
from langchain_niche.scope import Scope, ScopeIndex

__all__ = ["ExampleStore", "check_removal_target", "not_found"]

_POSTINGS_AFTER = 3
"""Scoped queries without a change in between after which the scope postings are built
(an argsort per field; until then a query compares every row's code)."""


def check_removal_target(target: Any) -> None:
    """Check the argument of ``remove_example``: an id or an example dict.

    Args:
        target: The argument.

    Raises:
        InvalidParameterError: It is neither a string nor a mapping.
    """
    if not isinstance(target, str | Mapping):
        msg = f"remove_example() takes an id or an example dict, got {preview(target)}"
        raise InvalidParameterError(msg, name="example", value=target)


def not_found(target: Mapping[str, Any] | str) -> ExampleNotFoundError:
    """The error for a ``remove_example`` argument that matches nothing.

    Args:
        target: An id or an example dict.

    Returns:
        The error (to raise).
    """
    if isinstance(target, str):
        return ExampleNotFoundError(f"no example has id {target!r}")
    return ExampleNotFoundError(f"no stored example equals {preview(target)}")


class ExampleStore:
    """Append-only rows of examples with ids; removal marks rows dead.

    Example:
        ```python
        store = ExampleStore()
        ids = store.plan_ids(2, None)  # ['0', '1']
        store.append([{"q": "a"}, {"q": "b"}], ids)
        store.row_of("1")  # 1
        ```
    """

    def __init__(self) -> None:
        self._examples: list[dict[str, Any] | None] = []
        self._seq = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._custom: dict[str, int] = {}  # custom id -> seq
        self._custom_of_seq: dict[int, str] = {}
        self._next_seq = 0
        self._n_alive = 0
        self._keys: dict[str, None] = {}  # every field name seen, in first-seen order
        # filter values of every row (issue 14), built on the first scoped selection
        self._scope: ScopeIndex | None = None
        self._scope_queries = 0  # scoped queries since the scope index last changed

    # -- size -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._n_alive

    @property
    def n_rows(self) -> int:
        """Rows in use, removed ones included until :meth:`compact`."""
        return len(self._examples)

    @property
    def n_dead(self) -> int:
        """Removed rows not yet compacted away."""
        return len(self._examples) - self._n_alive

    @property
    def alive(self) -> npt.NDArray[np.bool_]:
        """One boolean per row: ``False`` for removed rows (read-only view)."""
        view = self._alive[: len(self._examples)]
        view.flags.writeable = False
        return view

    @property
    def keys(self) -> list[str]:
        """Every field name seen in an example, in first-seen order."""
        return list(self._keys)

    @property
    def next_seq(self) -> int:
        """The sequence number the next example without a custom id would get."""
        return self._next_seq

    # -- ids ------------------------------------------------------------------
    def _seq_of_id(self, example_id: str) -> int | None:
        seq = self._custom.get(example_id)
        if seq is not None:
            return seq
        if example_id.isascii() and example_id.isdigit():
            seq = int(example_id)
            if seq not in self._custom_of_seq and str(seq) == example_id:
                return seq
        return None

    def row_of(self, example_id: str) -> int | None:
        """Return the row of a live example, or ``None``.

        Args:
            example_id: The id returned when the example was added.

        Returns:
            The row number, or ``None`` when no live example has that id.
        """
        seq = self._seq_of_id(example_id)
        if seq is None:
            return None
        n = len(self._examples)
        row = int(np.searchsorted(self._seq[:n], seq))
        if row < n and self._seq[row] == seq and self._alive[row]:
            return row
        return None

    def id_of(self, row: int) -> str:
        """Return the id of the example in ``row``.

        Args:
            row: A row number.

        Returns:
            Its id.
        """
        seq = int(self._seq[row])
        return self._custom_of_seq.get(seq, str(seq))

    def plan_ids(self, count: int, ids: Sequence[str] | None) -> list[str | None]:
        """Check the ids of a batch about to be appended, without changing anything.

        Args:
            count: Number of examples in the batch.
            ids: The caller's ids, or ``None`` for default ids.

        Returns:
            One entry per example: the custom id, or ``None`` for a default id.

        Raises:
            InvalidParameterError: ``ids`` has the wrong length or a non-string id.
            DuplicateIdError: An id repeats within the batch or is already used.
        """
        if ids is None:
            return [None] * count
        if isinstance(ids, str) or not isinstance(ids, Sequence):
            msg = f"ids must be a sequence of strings, got {preview(ids)}"
            raise InvalidParameterError(msg, name="ids", value=ids)
        if len(ids) != count:
            msg = f"got {len(ids)} ids for {count} examples"
            raise InvalidParameterError(msg, name="ids", value=ids)
        seen: set[str] = set()
        planned: list[str | None] = []
        for example_id in ids:
            if example_id is None:
                planned.append(None)
                continue
            if not isinstance(example_id, str) or not example_id:
                msg = f"an example id must be a non-empty string, got {preview(example_id)}"
                raise InvalidParameterError(msg, name="ids", value=example_id)
            if example_id in seen or self.row_of(example_id) is not None:
                msg = f"example id {example_id!r} is already used"
                raise DuplicateIdError(msg, example_id=example_id)
            seen.add(example_id)
            planned.append(example_id)
        return planned

    # -- writes ---------------------------------------------------------------
    def append(
        self, examples: Sequence[dict[str, Any]], planned: Sequence[str | None]
    ) -> list[str]:
        """Append examples (already validated) with ids from :meth:`plan_ids`.

        Args:
            examples: The examples (stored as given: pass copies).
            planned: Output of :meth:`plan_ids` for this batch.

        Returns:
            The ids of the new examples.
        """
        count = len(examples)
        next_seq = self._next_seq
        new_custom: list[tuple[str, int]] = []
        if not self._custom and all(custom is None for custom in planned):
            # Fast path: default ids only.
            seqs = np.arange(next_seq, next_seq + count, dtype=np.int64)
            out = list(map(str, range(next_seq, next_seq + count)))
            next_seq += count
        else:
            seqs = np.empty(count, dtype=np.int64)
            out = []
            batch_custom = {custom for custom in planned if custom is not None}
            for i, custom in enumerate(planned):
                if custom is None:
                    while str(next_seq) in self._custom or str(next_seq) in batch_custom:
                        next_seq += 1
                    out.append(str(next_seq))
                else:
                    new_custom.append((custom, next_seq))
                    out.append(custom)
                seqs[i] = next_seq
                next_seq += 1
        start = len(self._examples)
        self._grow(count)
        self._seq[start : start + count] = seqs
        self._alive[start : start + count] = True
        # Everything that can fail has run; the rest cannot fail half-way.
        self._examples.extend(examples)
        for custom, seq in new_custom:
            self._custom[custom] = seq
            self._custom_of_seq[seq] = custom
        self._next_seq = next_seq
        self._n_alive += count
        self._note_keys(examples)
        if self._scope is not None:
            self._scope.add(np.arange(start, start + count), examples)
        self._scope_queries = 0
        return out

    def _note_keys(self, examples: Sequence[Mapping[str, Any]]) -> None:
        if set().union(*examples) <= self._keys.keys():
            return
        for example in examples:
            for key in example:
                if key not in self._keys:
                    self._keys[key] = None

    def _grow(self, count: int) -> None:
        n = len(self._examples)
        needed = n + count
        if needed <= self._seq.shape[0]:
            return
        capacity = max(needed, 2 * self._seq.shape[0], 1024)
        seq = np.zeros(capacity, dtype=np.int64)
        seq[:n] = self._seq[:n]
        alive = np.zeros(capacity, dtype=np.bool_)
        alive[:n] = self._alive[:n]
        self._seq, self._alive = seq, alive

    def remove_rows(self, rows: Sequence[int]) -> list[str]:
        """Mark rows removed.

        Args:
            rows: Live row numbers.

        Returns:
            The removed examples' ids.
        """
        removed = []
        for row in rows:
            if not self._alive[row]:
                continue
            example_id = self.id_of(row)
            seq = int(self._seq[row])
            custom = self._custom_of_seq.pop(seq, None)
            if custom is not None:
                del self._custom[custom]
            self._alive[row] = False
            self._examples[row] = None
            if self._scope is not None:
                self._scope.remove([row])
            self._scope_queries = 0
            self._n_alive -= 1
            removed.append(example_id)
        return removed

    def compact(self) -> npt.NDArray[np.bool_]:
        """Drop removed rows and renumber the rest, in order.

        Returns:
            The mask of kept rows (old numbering), to compact companion indexes.
        """
        n = len(self._examples)
        keep = self._alive[:n].copy()
        self._examples = [example for example in self._examples if example is not None]
        self._seq = self._seq[:n][keep].copy()
        self._alive = np.ones(self._seq.shape[0], dtype=np.bool_)
        if self._scope is not None:
            self._scope.compact(keep)
        self._scope_queries = 0
        kept: npt.NDArray[np.bool_] = keep
        return kept

    def restore(
        self,
        examples: Sequence[dict[str, Any]],
        ids: Sequence[str],
        seqs: npt.NDArray[np.int64],
        next_seq: int,
    ) -> None:
        """Refill an empty store exactly as it was saved.

        Args:
            examples: The examples in row order.
            ids: Their ids.
            seqs: Their insertion sequence numbers (strictly increasing).
            next_seq: The next sequence number to hand out.

        Raises:
            ValueError: The store is not empty or the arrays are inconsistent.
        """
        count = len(examples)
        if self._examples:
            msg = "restore() needs an empty store"
            raise ValueError(msg)
        if len(ids) != count or seqs.shape != (count,):
            msg = f"restore() got {count} examples, {len(ids)} ids and {seqs.shape[0]} sequence numbers"
            raise ValueError(msg)
        if count and (np.any(np.diff(seqs) <= 0) or seqs[0] < 0 or next_seq <= seqs[-1]):
            msg = "restore(): sequence numbers must be non-negative, strictly increasing and below next_seq"
            raise ValueError(msg)
        custom = {}
        for example_id, seq in zip(ids, seqs.tolist(), strict=True):
            if example_id != str(seq):
                if example_id in custom:
                    msg = f"restore(): id {example_id!r} appears twice"
                    raise ValueError(msg)
                custom[example_id] = seq
        self._grow(count)
        self._seq[:count] = seqs
        self._alive[:count] = True
        self._examples = list(examples)
        self._custom = custom
        self._custom_of_seq = {seq: example_id for example_id, seq in custom.items()}
        self._next_seq = next_seq
        self._n_alive = count
        self._note_keys(examples)
        self._scope = None

    def live_seqs(self) -> npt.NDArray[np.int64]:
        """Sequence numbers of the live rows, in row order."""
        n = len(self._examples)
        seqs: npt.NDArray[np.int64] = self._seq[:n][self._alive[:n]].copy()
        return seqs

    # -- scopes (issue 14) ------------------------------------------------------
    def scope_index(self, fields: Iterable[str]) -> ScopeIndex:
        """The index of the rows' filter values, covering at least ``fields``.

        Built on first use (and rebuilt once when a query names a field it does
        not cover yet); kept up to date by :meth:`append`, removals and
        :meth:`compact` afterwards.

        Args:
            fields: Fields a scope restricts (the selector's ``filter_keys`` plus
                the fields of a per-call filter).

        Returns:
            The index.
        """
        wanted = list(fields)
        index = self._scope
        if index is not None and set(wanted) <= set(index.fields):
            return index
        names = list(index.fields) if index is not None else []
        names += [name for name in wanted if name not in names]
        index = ScopeIndex(names)
        live = list(self.iter_live())
        index.add(np.array([row for row, _ in live], dtype=np.int64), [ex for _, ex in live])
        n_rows = len(self._examples)
        if len(index) < n_rows:  # trailing removed rows: grow to the row count
            index.add([n_rows - 1], [{}])
            index.remove([n_rows - 1])
        self._scope = index
        return index

    def scope_mask(self, scope: Scope) -> npt.NDArray[np.bool_]:
        """One boolean per row: live and matching ``scope``.

        Args:
            scope: The selection's scope.

        Returns:
            The mask (length :attr:`n_rows`).
        """
        index = self.scope_index(scope.fields)
        if not self._scope_postings_pay(index, scope):
            return index.mask(scope)
        # postings (built once per change): only the scope's rows are touched
        mask = np.zeros(len(self._examples), dtype=np.bool_)
        mask[index.rows(scope)] = True
        return mask

    def _scope_postings_pay(self, index: ScopeIndex, scope: Scope) -> bool:
        """Whether to answer from the scope postings (built, or worth building now)."""
        if index.has_postings(scope.fields):
            return True
        self._scope_queries += 1
        return self._scope_queries >= _POSTINGS_AFTER  # until then changes come often

    def scope_rows(self, scope: Scope) -> npt.NDArray[np.int64]:
        """The live rows matching ``scope``, ascending.

        Args:
            scope: The selection's scope.

        Returns:
            The rows.
        """
        index = self.scope_index(scope.fields)
        if not self._scope_postings_pay(index, scope):
            return np.flatnonzero(index.mask(scope)).astype(np.int64)
        return index.rows(scope)

    # -- reads ----------------------------------------------------------------
    def get(self, row: int) -> dict[str, Any]:
        """Return the stored example of a live row (not a copy).

        Args:
            row: A live row number.

        Returns:
            The example.

        Raises:
            KeyError: The row was removed.
        """
        example = self._examples[row]
        if example is None:
            msg = f"row {row} was removed"
            raise KeyError(msg)
        return example

    def rows_equal_to(self, example: Mapping[str, Any]) -> list[int]:
        """Return the live rows whose example equals ``example``.

        Args:
            example: The example to look for.

        Returns:
            Matching rows, in insertion order.
        """
        return [
            row
            for row, stored in enumerate(self._examples)
            if stored is not None and stored == example
        ]

    def rows_for(self, target: Mapping[str, Any] | str) -> list[int]:
        """The live rows ``remove_example(target)`` removes: an id's, or every equal example's.

        Args:
            target: An id or an example dict.

        Returns:
            The rows (at least one).

        Raises:
            ExampleNotFoundError: Nothing matches.
            InvalidParameterError: ``target`` is neither a string nor a dict.
        """
        check_removal_target(target)
        if isinstance(target, str):
            row = self.row_of(target)
            rows = [] if row is None else [row]
        else:
            rows = self.rows_equal_to(target)
        if not rows:
            raise not_found(target)
        return rows

    def iter_live(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(row, example)`` for live rows in insertion order."""
        for row, example in enumerate(self._examples):
            if example is not None:
                yield row, example
