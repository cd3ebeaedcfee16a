"""Banding: datasketch's (b, r), stable sortable keys, prefix ranges."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import InvalidParameterError, optimal_bands
from langchain_niche.minhash.banding import Banding

GRID = [(t / 20, n) for t in range(1, 20, 2) for n in (16, 64, 128)]


@pytest.mark.parametrize(("threshold", "num_perm"), GRID)
def test_optimal_bands_equal_datasketch(threshold: float, num_perm: int) -> None:
    assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


@pytest.mark.parametrize("weights", [(0.2, 0.8), (0.7, 0.3)])
def test_optimal_bands_with_weights_equal_datasketch(weights: tuple[float, float]) -> None:
    assert optimal_bands(0.6, 128, weights) == _optimal_param(0.6, 128, *weights)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"threshold": 1.5, "num_perm": 128}, "lsh_threshold"),
        ({"threshold": -0.1, "num_perm": 128}, "lsh_threshold"),
        ({"threshold": 0.5, "num_perm": 1}, "num_perm"),
        ({"threshold": 0.5, "num_perm": 128, "weights": (0.5, 0.6)}, "lsh_weights"),
        ({"threshold": 0.5, "num_perm": 128, "weights": (1.0,)}, "lsh_weights"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(InvalidParameterError, match=name) as info:
        optimal_bands(**kwargs)  # type: ignore[arg-type]
    assert info.value.name == name


def test_banding_checks_its_shape() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 bands"):
        Banding(num_perm=8, bands=1, rows=8)
    with pytest.raises(InvalidParameterError, match="num_perm"):
        Banding(num_perm=8, bands=3, rows=3)


def _signatures(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**32, size=(n, 128), dtype=np.uint64).astype(np.uint32)


def test_keys_follow_band_equality() -> None:
    banding = Banding.for_threshold(0.5, 128)
    assert (banding.bands, banding.rows, banding.prefix_rows) == (25, 5, 3)
    rng = np.random.default_rng(0)
    sigs = _signatures(rng, 3)
    sigs[1, :5] = sigs[0, :5]  # same band 0
    sigs[2, :3] = sigs[0, :3]  # same prefix of band 0 only
    keys = banding.keys(sigs)
    assert keys.shape == (3, 25)
    assert keys.dtype == np.uint64
    assert keys[0, 0] == keys[1, 0]
    assert keys[0, 0] != keys[2, 0]
    lo, hi = banding.prefix_range(keys[0])
    assert lo[0] <= keys[2, 0] < hi[0]
    assert not (lo[1] <= keys[2, 1] < hi[1])
    # the band number is in the top bits: keys of band j sort before keys of band j + 1
    top = keys >> np.uint64(64 - banding.band_bits)
    np.testing.assert_array_equal(top, np.broadcast_to(np.arange(25, dtype=np.uint64), (3, 25)))
    # deterministic across calls (no per-process salt)
    np.testing.assert_array_equal(banding.keys(sigs), keys)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.2, 0.5, 0.8, 0.95]))
def test_property_prefix_range_contains_key(seed: int, threshold: float) -> None:
    banding = Banding.for_threshold(threshold, 128)
    keys = banding.keys(_signatures(np.random.default_rng(seed), 4))
    lo, hi = banding.prefix_range(keys)
    assert (lo <= keys).all()
    assert (keys < hi).all()  # never wraps past 2**64


def test_probability_is_the_s_curve() -> None:
    banding = Banding(num_perm=128, bands=25, rows=5)
    assert banding.probability(0.5) == pytest.approx(1 - (1 - 0.5**5) ** 25)
    assert banding.probability(0.5, prefix=True) == pytest.approx(1 - (1 - 0.5**3) ** 25)


@pytest.mark.parametrize(
    ("bands", "rows", "pinned"),
    [
        (32, 4, (0x9595E0FF4DCC3E, 0x45C022A109FCD53, 0x7FE1373B530A7989)),
        (25, 5, (0x7245E73A78D8BE3, 0xC3D9B402E9650E0, 0xC3A22698993B2CB5)),
    ],
)
def test_keys_are_pinned(bands: int, rows: int, pinned: tuple[int, int, int]) -> None:
    """Saved indexes and Redis indexes store these keys: they must never change."""
    signature = (np.arange(128, dtype=np.uint64) * 2654435761 % 2**32).astype(np.uint32)
    banding = Banding(num_perm=128, bands=bands, rows=rows)
    keys = banding.keys(signature[None, :])[0]
    assert tuple(int(k) for k in keys[[0, 1, -1]]) == pinned
    np.testing.assert_array_equal(banding.keys_of(signature), keys)
