"""Copying and pickling support shared by the selectors.

A lock guards the in-memory index of a selector. A copy or an unpickled selector
needs a lock of its own, never the original's (and a lock cannot be pickled), so
the selectors use :class:`PicklableRLock`: a re-entrant lock that pickles and
copies as a *new, unlocked* lock.
"""

from __future__ import annotations

import _thread
import copy
import pickle
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from pydantic import BaseModel, PrivateAttr
from typing_extensions import Self

from langchain_niche.errors import InvalidParameterError, preview

__all__ = ["PicklableRLock", "PortableModel"]

_PRIVATE_PICKLE = "__niche_private_pickle__"


class PicklableRLock(_thread.RLock):  # type: ignore[misc]
    """A ``threading.RLock`` that pickles and (deep-)copies as a fresh, unlocked lock.

    Example:
        ```python
        lock = PicklableRLock()
        with lock:
            clone = copy.deepcopy(lock)  # a different lock, not held
        ```
    """

    def __reduce__(self) -> tuple[type[PicklableRLock], tuple[Any, ...]]:
        return (type(self), ())


class PortableModel(BaseModel):
    """A pydantic model whose private state (an index) copies and pickles consistently.

    The private attributes are copied or pickled under :meth:`_state_lock`, so a
    copy taken while other threads write is a consistent snapshot; a subclass
    leaves out what cannot travel (:meth:`_portable_private`) and re-creates it
    (:meth:`_reconnect`). Base of
    :class:`~langchain_niche.selectors.base.LexicalExampleSelector`.
    """

    _lock: PicklableRLock = PrivateAttr(default_factory=PicklableRLock)

    def _state_lock(self) -> AbstractContextManager[Any]:
        """The lock under which the private state (the index) is consistent."""
        return self._lock

    def _portable_private(self) -> dict[str, Any]:
        """Private attributes a copy or a pickle carries (a subclass leaves out connections)."""
        return dict(self.__pydantic_private__ or {})

    def _reconnect(self) -> None:
        """Re-create what :meth:`_portable_private` left out, in a copy or an unpickled selector."""

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        # The index is serialised here, under the lock: a pickle taken while other
        # threads add examples is a consistent snapshot. Locks pickle as new locks.
        with self._state_lock():
            private = pickle.dumps(self._portable_private(), protocol=pickle.HIGHEST_PROTOCOL)
        state["__pydantic_private__"] = None
        state[_PRIVATE_PICKLE] = private
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        state = dict(state)
        private = state.pop(_PRIVATE_PICKLE, None)
        super().__setstate__(state)
        if private is not None:
            # bytes written by __getstate__ inside the very pickle being loaded
            object.__setattr__(self, "__pydantic_private__", pickle.loads(private))  # noqa: S301
        self._reconnect()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        memo = {} if memo is None else memo
        cls = type(self)
        copied = cls.__new__(cls)
        memo[id(self)] = copied
        object.__setattr__(copied, "__dict__", copy.deepcopy(self.__dict__, memo))
        object.__setattr__(
            copied, "__pydantic_extra__", copy.deepcopy(self.__pydantic_extra__, memo)
        )
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        with self._state_lock():
            private = copy.deepcopy(self._portable_private(), memo)
        object.__setattr__(copied, "__pydantic_private__", private)
        copied._reconnect()
        return copied

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy the selector, optionally with other settings.

        Args:
            update: Settings of the copy (``{"k": 2}``), checked like an
                assignment. Settings that define the index (``input_keys``,
                ``tokenizer``, ``ngram_range``, ``analyzer``, ``stopwords`` and, for
                MinHash, the banding and storage settings) cannot change.
            deep: ``True``: an independent selector, as ``copy.deepcopy`` gives.
                ``False``: a view of the same examples and index (an example
                added through either is seen by both; for Redis, always so).

        Returns:
            The copy.

        Raises:
            InvalidParameterError: An update is invalid or changes an index setting.
        """
        updates = dict(update or {})
        fields = type(self).model_fields
        for name, value in updates.items():
            info = fields.get(name)
            if info is not None and info.frozen:
                msg = (
                    f"model_copy() cannot change {name}={preview(value)}: it defines the index; "
                    f"build a new selector from the examples instead"
                )
                raise InvalidParameterError(msg, name=name, value=value)
        copied = self.__deepcopy__() if deep else self.__copy__()
        for name, value in updates.items():
            setattr(copied, name, value)
        return copied
