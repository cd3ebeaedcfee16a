"""Examples as selectors take and return them (re-exported by :mod:`~langchain_niche.selectors.base`).

:class:`ScoredExample` (a selection result), :class:`Candidate` (a subclass's
scored candidate), :data:`Record` and :class:`SavedState` (what a storage
returns and snapshots), :func:`jaccard` and the checks of a batch given to
``add_examples``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from langchain_niche.errors import InvalidExampleError, InvalidParameterError, preview
from langchain_niche.text import check_encodable, jaccard

__all__ = [
    "Candidate",
    "Record",
    "SavedState",
    "ScoredExample",
    "check_ids_encodable",
    "copy_examples",
    "jaccard",
]


@dataclass(frozen=True)
class ScoredExample:
    """One selected example with its id and its similarity to the input."""

    id: str
    """The example's id (as returned by ``add_example``)."""
    example: dict[str, Any]
    """A copy of the example, limited to ``example_keys`` when set."""
    score: float
    """Similarity to the input (Jaccard of the token sets for exact selectors)."""


@dataclass(frozen=True)
class Candidate:
    """A scored candidate as produced by a subclass (internal)."""

    id: str
    example: Mapping[str, Any]
    score: float


Record = tuple[str, dict[str, Any]]
"""An example's ``(id, example)``."""


@dataclass(frozen=True)
class SavedState:
    """A consistent snapshot of an in-memory index, as ``save`` writes it."""

    records: list[Record]
    """Every ``(id, example)``, in insertion order."""
    arrays: dict[str, npt.NDArray[Any]]
    """Index arrays (if any are saved) and ``seq``, the insertion numbers."""
    next_seq: int
    """The insertion number of the next example without a custom id."""
    compared_keys: list[list[str]]
    """The sets of compared fields, in the order of the arrays' suffixes."""


def copy_examples(
    examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    r"""Copy a batch given to ``add_examples``, checking it is an iterable of mappings.

    Args:
        examples: The examples.
        ids: Their ids, if given (checked for text that UTF-8 cannot encode).

    Returns:
        Shallow copies.

    Raises:
        InvalidParameterError: ``examples`` is a single mapping or a string, or an
            id holds a lone surrogate.
        InvalidExampleError: An item is not a mapping (the error names its
            position), or a field name or value holds a lone surrogate (``"\ud800"``:
            it could not be saved or sent to Redis; the error names the field).
    """
    if isinstance(examples, Mapping | str | bytes):
        msg = (
            f"add_examples() takes an iterable of examples, got a single {type(examples).__name__}"
        )
        raise InvalidParameterError(msg, name="examples", value=examples)
    batch = []
    for i, example in enumerate(examples):
        if not isinstance(example, Mapping):
            msg = f"example {i} must be a dict of field name to text, got {type(example).__name__} {preview(example)}"
            raise InvalidExampleError(msg, index=i)
        batch.append(dict(example))
    check_encodable(batch)
    check_ids_encodable(ids)
    return batch


def check_ids_encodable(ids: Sequence[str] | None) -> None:
    """Reject example ids that UTF-8 cannot encode (lone surrogates).

    Args:
        ids: The ids given to ``add_examples`` (other problems are checked later).

    Raises:
        InvalidParameterError: An id holds a lone surrogate (the error names it).
    """
    if ids is None or isinstance(ids, str) or not isinstance(ids, Sequence):
        return
    for example_id in ids:
        if isinstance(example_id, str) and not example_id.isascii():
            try:
                example_id.encode("utf-8")
            except UnicodeEncodeError as exc:
                msg = (
                    f"example id {example_id!r} holds a lone surrogate, which cannot be encoded "
                    "as UTF-8"
                )
                raise InvalidParameterError(msg, name="ids", value=example_id) from exc
