"""MinHash signatures equal datasketch's, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.minhash import _fmix
from hypothesis import given, settings
from hypothesis import strategies as st

import langchain_niche.minhash.sketches as sketches
from langchain_niche import InvalidParameterError, MinHasher
from langchain_niche.minhash.sketches import EMPTY_HASH, fmix32
from langchain_niche.text import TokenBatch


def datasketch_values(tokens: set[str], num_perm: int = 128, seed: int = 1) -> np.ndarray:
    minhash = MinHash(num_perm=num_perm, seed=seed)
    minhash.update_batch([t.encode("utf-8") for t in tokens])
    return minhash.hashvalues


SETS = [
    {"new", "york", "city"},
    {"a"},
    set(),
    {"东", "京", "🚀", "café", "naïve"},
    {f"w{i}" for i in range(300)},
]


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 7), (2, 0), (256, 2**32 - 1)])
def test_signatures_equal_datasketch(num_perm: int, seed: int) -> None:
    signatures = MinHasher(num_perm, seed).signatures(TokenBatch.from_sets(SETS))
    assert signatures.dtype == np.uint32
    assert signatures.shape == (len(SETS), num_perm)
    for row, tokens in zip(signatures, SETS, strict=True):
        np.testing.assert_array_equal(row, datasketch_values(tokens, num_perm, seed))


def test_permutations_equal_datasketch() -> None:
    a, b = MinHasher(128, 3).permutations
    reference = MinHash(num_perm=128, seed=3).permutations
    np.testing.assert_array_equal(a, reference[0])
    np.testing.assert_array_equal(b, reference[1])


def test_empty_set_is_datasketch_empty() -> None:
    signature = MinHasher(16).signatures(TokenBatch.from_sets([set()]))[0]
    assert (signature == EMPTY_HASH).all()
    assert MinHash(num_perm=16).is_empty()
    np.testing.assert_array_equal(signature, MinHash(num_perm=16).hashvalues)


def test_fmix32_equals_datasketch() -> None:
    values = np.array([0, 1, 2**31, 2**32 - 1, 123456789], dtype=np.uint32)
    np.testing.assert_array_equal(fmix32(values), _fmix(values.copy(), 32))


token = st.text(min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    sets=st.lists(st.sets(token, max_size=40), min_size=1, max_size=12),
    num_perm=st.integers(2, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_bulk_equals_datasketch(sets: list[set[str]], num_perm: int, seed: int) -> None:
    signatures = MinHasher(num_perm, seed).signatures(TokenBatch.from_sets(sets))
    for row, tokens in zip(signatures, sets, strict=True):
        np.testing.assert_array_equal(row, datasketch_values(tokens, num_perm, seed))


def test_large_vocabulary_path_gives_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    sets = [{f"t{x}" for x in rng.integers(0, 5000, rng.integers(0, 30))} for _ in range(400)]
    batch = TokenBatch.from_sets(sets)
    expected = MinHasher(32).signatures(batch)
    monkeypatch.setattr(sketches, "_TABLE_BYTES", 4096)  # forces per-group permutation tables
    monkeypatch.setattr(sketches, "_BLOCK_SETS", 16)
    np.testing.assert_array_equal(MinHasher(32).signatures(batch), expected)
    for row, tokens in zip(expected[:50], sets[:50], strict=True):
        np.testing.assert_array_equal(row, datasketch_values(tokens, 32))


def test_signatures_of_rows_and_signature_of() -> None:
    batch = TokenBatch.from_sets(SETS)
    hasher = MinHasher(64)
    np.testing.assert_array_equal(
        hasher.signatures_of_rows(batch.flat, batch.lens), hasher.signatures(batch)
    )
    np.testing.assert_array_equal(
        hasher.signature_of(np.unique(TokenBatch.from_sets([SETS[0]]).flat)),
        datasketch_values(SETS[0], 64),
    )


def test_estimate_equals_datasketch_jaccard() -> None:
    a, b = {"a", "b", "c", "d"}, {"c", "d", "e"}
    hasher = MinHasher(128)
    sigs = hasher.signatures(TokenBatch.from_sets([a, b]))
    ma, mb = MinHash(), MinHash()
    ma.update_batch([t.encode() for t in a])
    mb.update_batch([t.encode() for t in b])
    assert MinHasher.estimate(sigs[0], sigs[1:])[0] == ma.jaccard(mb)


@pytest.mark.parametrize("bad", [1, 0, 1025, 12.0, True, "128"])
def test_num_perm_is_checked(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="num_perm"):
        MinHasher(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, None])
def test_seed_is_checked(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="seed"):
        MinHasher(128, bad)  # type: ignore[arg-type]


def test_signature_of_mixed_equals_signature_of() -> None:
    hasher = MinHasher(128, 3)
    tokens = np.array([5, 2**40 + 7, 2**63 + 11, 123456789], dtype=np.uint64)
    np.testing.assert_array_equal(
        hasher.signature_of_mixed(hasher.mix(tokens)), hasher.signature_of(tokens)
    )
