"""The sort-based numpy helpers return what numpy.unique returns."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from langchain_niche._arrays import unique_counts, unique_inverse, unique_sorted


@given(st.lists(st.integers(-(2**40), 2**40), max_size=200))
def test_unique_sorted(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert unique_sorted(array).tolist() == np.unique(array).tolist()


@given(st.lists(st.integers(0, 2**63), max_size=200))
def test_unique_inverse(values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    distinct, inverse = unique_inverse(array)
    assert distinct.tolist() == sorted(set(values))
    assert distinct[inverse].tolist() == values


@given(st.lists(st.integers(0, 50), max_size=200))
def test_unique_counts(values: list[int]) -> None:
    array = np.array(values, dtype=np.int32)
    distinct, counts = np.unique(array, return_counts=True)
    got, got_counts = unique_counts(array)
    assert got.tolist() == distinct.tolist()
    assert got_counts.tolist() == counts.tolist()
