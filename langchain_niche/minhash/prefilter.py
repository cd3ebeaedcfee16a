"""A cheap pre-filter for LSH candidates: 4-bit MinHash sketches (b-bit MinHash).

Banding tuned for recall returns, at a million short texts, hundreds to
thousands of candidates per query (texts sharing common words have Jaccard
similarities of 0.1-0.3, and a few of them share a whole band by chance).
Re-ranking every one exactly reads every candidate's token ids. Instead each
example also stores a *sketch*: the low 4 bits of its first ``m = min(num_perm,
128)`` MinHash values, in 64 bytes.

For two sets of Jaccard similarity ``s``, a MinHash value is equal with
probability ``s``, and two unequal values still agree on their low 4 bits with
probability 1/16; so the number ``X`` of equal nibbles follows (at least) a
binomial law ``Bin(m, s + (1 - s) / 16)``, and ``X`` estimates ``s`` almost as
well as the full signature does (b-bit MinHash, Li and König 2010). Comparing
two sketches is a XOR and a popcount over a few 64-bit words.

:class:`Prefilter` keeps, for exact re-ranking:

* every candidate with ``X >= cut``, where ``cut`` is the largest count such that
  a set of similarity ``lsh_threshold`` (or more) falls below it with
  probability at most :data:`MISS_PROBABILITY` (exact binomial tail). Candidates
  share a whole band with the query, which only makes ``X`` larger, so the bound
  is conservative: a neighbour at or above ``lsh_threshold`` is dropped with
  probability at most 1e-4, however many candidates there are;
* and every candidate agreeing at least as much as the ``keep``-th best (so
  ties are kept together, whatever the candidates' order), which fill the
  result when fewer than ``k`` neighbours reach ``lsh_threshold``.

When there are at most ``keep`` candidates nothing is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MISS_PROBABILITY", "SKETCH_BYTES", "SKETCH_VALUES", "Prefilter"]

U8Array = npt.NDArray[np.uint8]
U64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]

SKETCH_VALUES = 128
"""MinHash values sketched per example (the first ones; fewer when ``num_perm`` is smaller)."""

SKETCH_BYTES = SKETCH_VALUES // 2
"""Bytes per sketch (4 bits per value; unused nibbles are zero)."""

MISS_PROBABILITY = 1e-4
"""Bound on the probability that the pre-filter drops a neighbour at or above ``lsh_threshold``."""

_NIBBLE_LOW = np.uint64(0x7777777777777777)
_NIBBLE_TOP = np.uint64(0x8888888888888888)
_ONES_4 = np.uint64(0x1111111111111111)
_BYTE_LOW = np.uint64(0x0F0F0F0F0F0F0F0F)
_BYTE_SUM = np.uint64(0x0101010101010101)
_TOP_BYTE = np.uint64(56)
_bitwise_count: Any = getattr(np, "bitwise_count", None)  # numpy >= 2


def _binomial_cdf_below(count: int, n: int, p: float) -> float:
    """``P(Bin(n, p) < count)``."""
    return math.fsum(math.comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(count))


def _count_nibble_tops(words: U64Array) -> U64Array:
    """Set bits of each ``(n, 8)`` row, all of them at nibble tops (at most 128 per row)."""
    if _bitwise_count is not None:
        per_word = _bitwise_count(words)  # (n, 8) uint8: the 8 bytes of one uint64 per row
        per_row: U64Array = per_word.view(np.uint64).reshape(-1) * _BYTE_SUM
        per_row >>= _TOP_BYTE
        return per_row
    # numpy < 2: add the bits up bytewise, then across bytes and words
    z = words >> np.uint64(3)
    z = (z & _BYTE_LOW) + ((z >> np.uint64(4)) & _BYTE_LOW)
    total: U64Array = ((z * _BYTE_SUM) >> _TOP_BYTE).sum(axis=1, dtype=np.uint64)
    return total


@dataclass(frozen=True)
class Prefilter:
    """4-bit MinHash sketches and the candidate pre-filter built on them.

    Attributes:
        num_perm: Length of the signatures sketched.
        lsh_threshold: Similarity whose neighbours must survive (see the module docstring).

    Example:
        ```python
        prefilter = Prefilter(num_perm=128, lsh_threshold=0.5)
        sketches = prefilter.sketch(signatures)  # (n, 64) uint8
        unequal = prefilter.mismatches(prefilter.sketch_of(query_sig), sketches)
        kept = prefilter.survivors(unequal, keep=200)  # positions to re-rank exactly
        ```
    """

    num_perm: int
    lsh_threshold: float
    values: int = field(init=False)
    """MinHash values sketched (``min(num_perm, 128)``)."""
    width: int = field(init=False)
    """Bytes per sketch (:data:`SKETCH_BYTES`)."""
    cut: int = field(init=False)
    """Equal nibbles at which a candidate is always kept."""

    def __post_init__(self) -> None:
        values = min(self.num_perm, SKETCH_VALUES)
        p = self.lsh_threshold + (1.0 - self.lsh_threshold) / 16
        cut = 0
        while cut < values and _binomial_cdf_below(cut + 1, values, p) <= MISS_PROBABILITY:
            cut += 1
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "width", SKETCH_BYTES)
        object.__setattr__(self, "cut", cut)

    def sketch(self, signatures: npt.NDArray[np.uint32]) -> U8Array:
        """Sketches of signatures.

        Args:
            signatures: ``(n, num_perm)`` MinHash values.

        Returns:
            ``(n, 64)`` ``uint8``: two low nibbles per byte, zero padding.
        """
        if self.values < SKETCH_VALUES:
            padded = np.zeros((signatures.shape[0], SKETCH_VALUES), dtype=np.uint32)
            padded[:, : self.values] = signatures[:, : self.values]
            signatures = padded
        low = signatures[:, 0:SKETCH_VALUES:2] & np.uint32(0xF)
        low |= (signatures[:, 1:SKETCH_VALUES:2] & np.uint32(0xF)) << np.uint32(4)
        packed: U8Array = low.astype(np.uint8)
        return packed

    def sketch_of(self, signature: npt.NDArray[np.uint32]) -> U8Array:
        """Sketch of one signature.

        Args:
            signature: ``(num_perm,)`` MinHash values.

        Returns:
            ``(64,)`` ``uint8``.
        """
        if self.values < SKETCH_VALUES:
            padded: U8Array = self.sketch(signature[None, :])[0]
            return padded
        low = signature[0:SKETCH_VALUES:2] & np.uint32(0xF)
        low |= (signature[1:SKETCH_VALUES:2] & np.uint32(0xF)) << np.uint32(4)
        packed: U8Array = low.astype(np.uint8)
        return packed

    def mismatches(self, query: U8Array, sketches: U8Array) -> npt.NDArray[np.uint64]:
        """Number of unequal nibbles between a query sketch and each sketch.

        Args:
            query: ``(64,)`` sketch of the query.
            sketches: ``(n, 64)`` sketches (C-contiguous).

        Returns:
            One count in ``[0, values]`` per sketch.
        """
        if sketches.shape[0] == 0:
            return np.zeros(0, dtype=np.uint64)
        x = sketches.view(np.uint64) ^ query.view(np.uint64)
        x |= (x & _NIBBLE_LOW) + _NIBBLE_LOW  # a nibble's top bit: the nibble is not zero
        x &= _NIBBLE_TOP
        return _count_nibble_tops(x)  # padding nibbles are zero on both sides

    def survivors(self, mismatches: npt.NDArray[np.uint64], keep: int) -> IntArray:
        """Positions of the candidates to re-rank exactly, ascending.

        Args:
            mismatches: Unequal-nibble counts of the candidates (:meth:`mismatches`).
            keep: Keep every candidate agreeing at least as much as the ``keep``-th
                best (ties included), besides those at or above :attr:`cut`.

        Returns:
            The kept positions (all of them when there are at most ``keep``).
        """
        n = mismatches.shape[0]
        if n <= keep:
            return np.arange(n, dtype=np.int64)
        level = int(np.partition(mismatches, keep - 1)[keep - 1])
        return np.flatnonzero(mismatches <= max(level, self.values - self.cut))
