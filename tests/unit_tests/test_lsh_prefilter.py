"""The sketch pre-filter: exact nibble counts, its binomial guarantee, and what it keeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import langchain_niche.minhash.prefilter as lsh_prefilter
from langchain_niche import MinHasher
from langchain_niche.minhash.prefilter import MISS_PROBABILITY, SKETCH_BYTES, Prefilter


def _binomial_below(count: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(count))


@pytest.mark.parametrize("num_perm", [128, 64, 7, 256])
@pytest.mark.parametrize("numpy_popcount", [True, False])
def test_agreements_count_equal_low_nibbles(
    num_perm: int, numpy_popcount: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not numpy_popcount:  # the numpy < 2 path
        monkeypatch.setattr(lsh_prefilter, "_bitwise_count", None)
    prefilter = Prefilter(num_perm, 0.5)
    rng = np.random.default_rng(num_perm)
    signatures = rng.integers(0, 2**32, (300, num_perm), dtype=np.uint64).astype(np.uint32)
    signatures[::3, : num_perm // 2] = signatures[0, : num_perm // 2]  # many equal values
    sketches = prefilter.sketch(signatures)
    assert sketches.shape == (300, SKETCH_BYTES)
    query = prefilter.sketch_of(signatures[0])
    np.testing.assert_array_equal(query, sketches[0])
    used = prefilter.values
    expected = ((signatures[:, :used] & 15) == (signatures[0, :used] & 15)).sum(axis=1)
    np.testing.assert_array_equal(prefilter.mismatches(query, sketches), used - expected)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8, 0.95])
def test_cut_is_the_largest_with_the_binomial_bound(threshold: float) -> None:
    prefilter = Prefilter(128, threshold)
    p = threshold + (1 - threshold) / 16
    assert _binomial_below(prefilter.cut, 128, p) <= MISS_PROBABILITY
    assert _binomial_below(prefilter.cut + 1, 128, p) > MISS_PROBABILITY


def _pairs_at(similarity_parts: tuple[int, int], count: int, seed: int) -> np.ndarray:
    """Signatures of ``count`` pairs of sets with exactly the given Jaccard similarity.

    ``(shared, own)``: both sets hold ``shared`` common ids and ``own`` ids of their
    own, so the similarity is ``shared / (shared + 2 * own)``.
    """
    shared, own = similarity_parts
    rng = np.random.default_rng(seed)
    hasher = MinHasher(128, 1)
    ids = rng.integers(0, 2**63, (count, shared + 2 * own), dtype=np.uint64)
    first = ids[:, : shared + own]
    second = np.concatenate([ids[:, :shared], ids[:, shared + own :]], axis=1)
    rows = np.concatenate([first, second]).reshape(-1)
    lens = np.full(2 * count, shared + own, dtype=np.int64)
    return hasher.signatures_of_rows(rows, lens).reshape(2, count, 128)


def test_neighbours_at_lsh_threshold_are_kept_statistically() -> None:
    """The documented guarantee, checked on 4,000 pairs at exactly lsh_threshold."""
    prefilter = Prefilter(128, 0.5)
    at_threshold = _pairs_at((20, 10), 4000, seed=11)  # Jaccard 20 / 40 = 0.5
    kept = [
        prefilter.mismatches(prefilter.sketch_of(a), prefilter.sketch(b[None, :]))[0]
        <= prefilter.values - prefilter.cut
        for a, b in zip(at_threshold[0], at_threshold[1], strict=True)
    ]
    dropped = len(kept) - sum(kept)
    assert dropped <= 2  # expected at most 4000 * 1e-4 = 0.4
    # and it is a filter: unrelated-looking texts (Jaccard 0.1) are mostly below the cut
    far = _pairs_at((4, 18), 1000, seed=12)  # 4 / 40 = 0.1
    below = [
        prefilter.mismatches(prefilter.sketch_of(a), prefilter.sketch(b[None, :]))[0]
        > prefilter.values - prefilter.cut
        for a, b in zip(far[0], far[1], strict=True)
    ]
    assert sum(below) > 0.95 * len(below)


def test_survivors_keep_ties_and_the_cut_rule() -> None:
    prefilter = Prefilter(128, 0.99)  # a high cut: at most a few mismatches pass it
    loose = prefilter.values - prefilter.cut
    assert 0 < loose < 10
    mismatches = np.array([50, 10, 10, 30, 10, 70, loose], dtype=np.uint64)
    # the 2nd best level is 10: every candidate with 10 or fewer mismatches stays
    assert prefilter.survivors(mismatches, 2).tolist() == [1, 2, 4, 6]
    assert prefilter.survivors(mismatches, 7).tolist() == list(range(7))
    assert prefilter.survivors(mismatches, 1).tolist() == [6]
    many_good = np.array([0, 1, 2, 40, 3], dtype=np.uint64)  # all but one pass the cut
    assert prefilter.survivors(many_good, 1).tolist() == [0, 1, 2, 4]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 128), min_size=1, max_size=80),
    st.integers(1, 20),
    st.randoms(use_true_random=False),
)
def test_property_survivors_do_not_depend_on_order(
    counts: list[int], keep: int, rng: object
) -> None:
    prefilter = Prefilter(128, 0.5)
    mismatches = np.array(counts, dtype=np.uint64)
    kept = set(prefilter.survivors(mismatches, keep).tolist())
    order = list(range(len(counts)))
    rng.shuffle(order)  # type: ignore[attr-defined]
    shuffled = prefilter.survivors(mismatches[order], keep)
    assert {order[i] for i in shuffled.tolist()} == kept
    assert len(kept) >= min(keep, len(counts))
    worst_kept = max(counts[i] for i in kept)
    assert all(counts[i] > worst_kept for i in set(range(len(counts))) - kept)
