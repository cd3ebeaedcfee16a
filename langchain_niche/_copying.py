"""Copying and pickling support shared by the selectors.

A lock guards the in-memory index of a selector. A copy or an unpickled selector
needs a lock of its own, never the original's (and a lock cannot be pickled), so
the selectors use :class:`PicklableRLock`: a re-entrant lock that pickles and
copies as a *new, unlocked* lock.
"""

from __future__ import annotations

import _thread
from typing import Any

__all__ = ["PicklableRLock"]


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
