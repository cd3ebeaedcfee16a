"""LSH banding of MinHash signatures: choosing (b, r) and hashing bands to keys.

A signature of ``num_perm`` values is cut into ``b`` bands of ``r`` values; two
sets whose signatures agree on a whole band become candidates of each other.
With Jaccard similarity ``s`` that happens with probability
``1 - (1 - s**r)**b``, an S-curve whose steepest part sits near the threshold.
:func:`optimal_bands` picks ``(b, r)`` the way ``datasketch.MinHashLSH`` does:
the pair with ``b * r <= num_perm`` minimising ``fp_weight * FP + fn_weight * FN``,
where FP is the area under the curve below the threshold and FN the area above
it under ``1 - curve`` (first minimum in the order b = 1, 2, ...; r = 1, 2, ...).
The integrands are polynomials of degree at most ``num_perm``, so Gauss-Legendre
quadrature with ``num_perm // 2 + 1`` nodes computes them exactly.

Each band is hashed to one 64-bit *band key* laid out as::

    [ band number | prefix hash | full hash ]
      band_bits     prefix_bits   full_bits     (band_bits + prefix_bits + full_bits = 64)

The prefix hash covers the band's first ``prefix_rows = ceil(r / 2)`` values and
the full hash all ``r`` values. Keys sorted as integers therefore group the
sets that agree on a whole band (equal keys) inside the range of sets that agree
on the band's prefix (equal high bits): the same sorted array answers the
normal LSH lookup and a *lower-threshold probe* (shorter bands, LSH-Forest
style), which finds sets of lower similarity when the normal lookup finds too
few. Each hash is a sum of the band's values times fixed odd 64-bit constants
(mod 2**64, salted by the band number) passed through the splitmix64 finaliser:
fixed arithmetic with no per-process salt, so keys are identical in every
process and saved indexes and Redis share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.minhash.sketches import check_num_perm

__all__ = ["Banding", "optimal_bands"]

U64Array = npt.NDArray[np.uint64]

# splitmix64 finaliser constants and a 64-bit odd multiplier (golden ratio).
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PREFIX_SALT = np.uint64(0x5851F42D4C957F2D)
_FULL_SALT = np.uint64(0x14057B7EF767814F)


_KEY_CHUNK = 8_000_000  # signature values hashed at once (64 MB of uint64)


@lru_cache(maxsize=64)
def _position_weights(rows: int) -> U64Array:
    """Fixed odd 64-bit multipliers, one per position in a band."""
    weights = [
        ((2 * j + 1) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64 | 1 for j in range(rows)
    ]
    return np.array(weights, dtype=np.uint64)


_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _finalize(state: U64Array) -> U64Array:
    """splitmix64's finaliser, in place."""
    state ^= state >> _S30
    state *= _MIX1
    state ^= state >> _S27
    state *= _MIX2
    state ^= state >> _S31
    return state


@lru_cache(maxsize=256)
def _optimal_bands_cached(
    threshold: float, num_perm: int, fp_weight: float, fn_weight: float
) -> tuple[int, int]:
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([b for b, _ in pairs], dtype=np.float64)[:, None]
    rows = np.array([r for _, r in pairs], dtype=np.float64)[:, None]

    def integral(lo: float, hi: float, *, complement: bool) -> npt.NDArray[np.float64]:
        s = (hi - lo) / 2 * nodes[None, :] + (hi + lo) / 2
        curve = 1.0 - (1.0 - s**rows) ** bands
        values = 1.0 - curve if complement else curve
        total: npt.NDArray[np.float64] = (values * weights[None, :]).sum(axis=1) * (hi - lo) / 2
        return total

    error = fp_weight * integral(0.0, threshold, complement=False) + fn_weight * integral(
        threshold, 1.0, complement=True
    )
    best = int(np.argmin(error))  # first minimum, in datasketch's search order
    return pairs[best]


def optimal_bands(
    threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """Return the ``(b, r)`` that ``datasketch.MinHashLSH`` would choose.

    Args:
        threshold: Target Jaccard similarity in ``[0, 1]``.
        num_perm: Signature length.
        weights: ``(false_positive_weight, false_negative_weight)``, each in
            ``[0, 1]``, summing to 1.

    Returns:
        ``(bands, rows_per_band)``.

    Raises:
        InvalidParameterError: A parameter is out of range.

    Example:
        ```python
        optimal_bands(0.5, 128)  # (25, 5)
        optimal_bands(0.9, 128)  # (5, 25)
        ```
    """
    _check_threshold(threshold)
    check_num_perm(num_perm)
    fp, fn = _check_weights(weights)
    return _optimal_bands_cached(float(threshold), num_perm, fp, fn)


def _check_threshold(value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        msg = f"lsh_threshold must be a number in [0, 1], got {preview(value)}"
        raise InvalidParameterError(msg, name="lsh_threshold", value=value)


def _check_weights(value: object) -> tuple[float, float]:
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(w, int | float) and not isinstance(w, bool) for w in value)
        and all(0.0 <= w <= 1.0 for w in value)
        and math.isclose(float(value[0]) + float(value[1]), 1.0)
    )
    if not ok:
        msg = (
            "lsh_weights must be a pair (false_positive_weight, false_negative_weight) "
            f"of numbers in [0, 1] summing to 1, got {preview(value)}"
        )
        raise InvalidParameterError(msg, name="lsh_weights", value=value)
    pair: Any = value
    return float(pair[0]), float(pair[1])


@dataclass(frozen=True)
class Banding:
    """How signatures are cut into bands and bands hashed to sortable 64-bit keys.

    Attributes:
        num_perm: Signature length.
        bands: Number of bands ``b`` (at least 2).
        rows: Values per band ``r`` (``bands * rows <= num_perm``).

    Example:
        ```python
        banding = Banding.for_threshold(0.5, num_perm=128)  # b=25, r=5
        keys = banding.keys(signatures)  # (n, 25) uint64, one key per band
        lo, hi = banding.prefix_range(keys)  # keys of sets agreeing on a band prefix
        ```
    """

    num_perm: int
    bands: int
    rows: int
    band_bits: int = field(init=False)
    prefix_bits: int = field(init=False)
    full_bits: int = field(init=False)
    _band_salts: U64Array = field(init=False, repr=False, compare=False)
    _band_field: U64Array = field(init=False, repr=False, compare=False)
    _sum_weights: U64Array = field(init=False, repr=False, compare=False)
    _prefix_shift: np.uint64 = field(init=False, repr=False, compare=False)
    _full_shift: np.uint64 = field(init=False, repr=False, compare=False)
    _full_drop: np.uint64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_num_perm(self.num_perm)
        for name, value in (("bands", self.bands), ("rows", self.rows)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                msg = f"{name} must be a positive integer, got {preview(value)}"
                raise InvalidParameterError(msg, name=name, value=value)
        if self.bands < 2:
            msg = (
                f"LSH banding needs at least 2 bands, got b={self.bands} (r={self.rows}); "
                "lower lsh_threshold or raise num_perm"
            )
            raise InvalidParameterError(msg, name="bands", value=self.bands)
        if self.bands * self.rows > self.num_perm:
            msg = (
                f"bands * rows must be <= num_perm={self.num_perm}, got {self.bands} * {self.rows}"
            )
            raise InvalidParameterError(msg, name="bands", value=self.bands)
        # one spare value in the band field: a prefix range never wraps past 2**64
        band_bits = self.bands.bit_length()
        hash_bits = 64 - band_bits
        object.__setattr__(self, "band_bits", band_bits)
        band_ids = np.arange(self.bands, dtype=np.uint64)
        salts = np.stack([band_ids * _GOLDEN ^ _PREFIX_SALT, band_ids * _GOLDEN ^ _FULL_SALT])
        object.__setattr__(self, "_band_salts", salts.T.copy())  # (bands, 2)
        object.__setattr__(self, "_band_field", band_ids << np.uint64(64 - band_bits))
        # a band's prefix sum and full sum as one product: values (.., rows) @ (rows, 2)
        weights = _position_weights(self.rows)
        both = np.zeros((self.rows, 2), dtype=np.uint64)
        both[: self.prefix_rows, 0] = weights[: self.prefix_rows]
        both[:, 1] = weights
        object.__setattr__(self, "_sum_weights", both)
        object.__setattr__(self, "prefix_bits", hash_bits // 2)
        object.__setattr__(self, "full_bits", hash_bits - hash_bits // 2)
        object.__setattr__(self, "_prefix_shift", np.uint64(64 - self.prefix_bits))
        object.__setattr__(self, "_full_shift", np.uint64(self.full_bits))
        object.__setattr__(self, "_full_drop", np.uint64(64 - self.full_bits))

    @classmethod
    def for_threshold(
        cls, threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
    ) -> Banding:
        """Banding with datasketch's optimal ``(b, r)`` for a threshold.

        Args:
            threshold: Target Jaccard similarity.
            num_perm: Signature length.
            weights: ``(false_positive_weight, false_negative_weight)``.

        Returns:
            The banding.
        """
        bands, rows = optimal_bands(threshold, num_perm, weights)
        return cls(num_perm=num_perm, bands=bands, rows=rows)

    @property
    def prefix_rows(self) -> int:
        """Values hashed into the prefix part of a key (``ceil(r / 2)``)."""
        return (self.rows + 1) // 2

    def probability(self, similarity: float, *, prefix: bool = False) -> float:
        """Probability that a set of the given similarity shares a band (or band prefix).

        Args:
            similarity: Jaccard similarity in [0, 1].
            prefix: Use the prefix length instead of the full band.

        Returns:
            ``1 - (1 - s**r)**b``.
        """
        r = self.prefix_rows if prefix else self.rows
        return float(1.0 - (1.0 - similarity**r) ** self.bands)

    def keys(self, signatures: npt.NDArray[np.uint32]) -> U64Array:
        """Band keys of signatures.

        Args:
            signatures: ``(n, num_perm)`` ``uint32`` signatures.

        Returns:
            ``(n, bands)`` ``uint64`` keys; ``keys[i, j]`` starts with ``j`` in its
            top ``band_bits`` bits.

        Raises:
            ValueError: The signatures do not have ``num_perm`` columns.
        """
        if signatures.ndim != 2 or signatures.shape[1] != self.num_perm:
            msg = f"expected signatures of shape (n, {self.num_perm}), got {signatures.shape}"
            raise ValueError(msg)
        n = signatures.shape[0]
        keys = np.empty((n, self.bands), dtype=np.uint64)
        step = max(1, _KEY_CHUNK // (self.bands * self.rows))
        for lo in range(0, n, step):
            keys[lo : lo + step] = self._keys(signatures[lo : lo + step])
        return keys

    def keys_of(self, signature: npt.NDArray[np.uint32]) -> U64Array:
        """Band keys of one signature (a query's: fewer steps than :meth:`keys`).

        Args:
            signature: ``(num_perm,)`` ``uint32`` values.

        Returns:
            ``(bands,)`` keys.
        """
        keys: U64Array = self._keys(signature[None, :])[0]
        return keys

    def _keys(self, signatures: npt.NDArray[np.uint32]) -> U64Array:
        n = signatures.shape[0]
        used = signatures[:, : self.bands * self.rows].reshape(n, self.bands, self.rows)
        # each band: the sum of its values times fixed odd constants (mod 2**64), over
        # the prefix and over the whole band, salted by the band number, then avalanched
        both = used.astype(np.uint64) @ self._sum_weights  # (n, bands, 2)
        both += self._band_salts
        mixed = _finalize(both)
        keys: U64Array = (mixed[:, :, 0] >> self._prefix_shift) << self._full_shift
        keys |= mixed[:, :, 1] >> self._full_drop
        keys |= self._band_field
        return keys

    def prefix_range(self, keys: U64Array) -> tuple[U64Array, U64Array]:
        """The key range ``[lo, hi)`` of the sets sharing each key's band prefix.

        Args:
            keys: Band keys.

        Returns:
            ``(lo, hi)`` arrays of the shape of ``keys``.
        """
        low_mask = np.uint64((1 << self.full_bits) - 1)
        lo = keys & ~low_mask
        return lo, lo + low_mask + np.uint64(1)

    def describe(self) -> dict[str, int]:
        """JSON-able parameters (stored with saved and shared indexes).

        Returns:
            ``{"num_perm", "bands", "rows", "prefix_rows"}``.
        """
        return {
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "prefix_rows": self.prefix_rows,
        }
