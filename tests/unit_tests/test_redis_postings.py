"""The postings layout of the Redis band entries: names and bytes (no server)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.redis.postings import Postings

BANDINGS = [
    Banding(num_perm=128, bands=32, rows=4),
    Banding(num_perm=128, bands=25, rows=5),
    Banding(num_perm=256, bands=128, rows=2),
    Banding(num_perm=16, bands=2, rows=8),
]

keys_64 = st.integers(min_value=0, max_value=2**64 - 1)


def _split(blob: bytes, size: int) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob), size)]


@pytest.mark.parametrize("banding", BANDINGS)
@pytest.mark.parametrize("bits", [0, 4, 10, 16])
@given(values=st.lists(keys_64, min_size=1, max_size=40))
def test_a_key_is_its_bucket_and_field(banding: Banding, bits: int, values: list[int]) -> None:
    postings = Postings(banding, bits)
    keys = np.array(values, dtype=np.uint64)
    entries = _split(postings.entries(keys), postings.width + postings.field_size)
    top = banding.band_bits + bits
    for value, entry in zip(values, entries, strict=True):
        bucket, field = entry[: postings.width], entry[postings.width :]
        assert int(bucket, 16) == value >> (64 - top)
        # the field is the key's bytes after those the bucket fixes: bucket + field = key
        assert field == value.to_bytes(8, "big")[postings.strip :]
        assert (value >> (64 - 8 * postings.strip)) == (
            int(bucket, 16) >> (top - 8 * postings.strip)
        )


@pytest.mark.parametrize("banding", BANDINGS)
@given(data=st.data())
def test_a_field_is_in_a_probe_range_exactly_when_its_key_shares_the_prefix(
    banding: Banding, data: st.DataObject
) -> None:
    """The probe script's test (head bytes equal, next byte between) is the prefix test."""
    postings = Postings(banding, data.draw(st.sampled_from([0, 3, 10])))
    query = data.draw(keys_64)
    low = (1 << banding.full_bits) - 1
    same = data.draw(st.integers(min_value=0, max_value=low)) | (query & ~low)
    other = data.draw(st.one_of(keys_64, st.just(same ^ (1 << banding.full_bits))))
    raw = postings.probe_args(np.array([query], dtype=np.uint64))
    bucket, size = raw[: postings.width], postings.field_size
    lo, hi = raw[postings.width : postings.width + size], raw[postings.width + size :]
    head = postings.head
    for key in (same, other):
        entry = postings.entries(np.array([key], dtype=np.uint64))
        if entry[: postings.width] != bucket:
            assert key >> banding.full_bits != query >> banding.full_bits
            continue
        field = entry[postings.width :]
        inside = field[:head] == lo[:head] and lo[head] <= field[head] <= hi[head]
        assert inside == (key >> banding.full_bits == query >> banding.full_bits)


@given(
    values=st.lists(st.integers(min_value=0, max_value=2**20 - 1), min_size=1, max_size=12),
    bands=st.integers(min_value=2, max_value=6),
)
def test_insert_arguments_hold_every_entry_once(values: list[int], bands: int) -> None:
    banding = Banding(num_perm=64, bands=bands, rows=4)
    postings = Postings(banding, 4)
    rng = np.random.default_rng(len(values))
    # few distinct keys, so rows share fields and buckets
    pool = rng.integers(0, 2**64 - 1, size=3, dtype=np.uint64, endpoint=True)
    keys = pool[rng.integers(0, 3, size=(len(values), bands))]
    rows = np.array(
        sorted(set(values)) + [2**20 + i for i in range(len(values) - len(set(values)))]
    )
    names, per_bucket, fields, per_field, packed = postings.insert_args(keys, rows)
    bucket_names = _split(names, postings.width)
    field_names = _split(fields, postings.field_size)
    field_counts = np.frombuffer(per_bucket, "<u4").tolist()
    row_counts = np.frombuffer(per_field, "<u4").tolist()
    all_rows = np.frombuffer(packed, ">u4").tolist()
    assert sum(field_counts) == len(field_names) == len(row_counts)
    got, f, at = [], 0, 0
    for bucket, count in zip(bucket_names, field_counts, strict=True):
        for field in field_names[f : f + count]:
            n = row_counts[f]
            in_field = all_rows[at : at + n]
            assert in_field == sorted(in_field)  # ascending within a field
            lead = int(bucket, 16) >> (banding.band_bits + 4 - 8 * postings.strip)
            full = int.from_bytes(lead.to_bytes(postings.strip, "big") + field, "big")
            got.extend((full, row) for row in in_field)
            f, at = f + 1, at + n
    expected = sorted(
        (int(k), int(r)) for r, row_keys in zip(rows, keys, strict=True) for k in row_keys
    )
    assert sorted(got) == expected


@pytest.mark.parametrize("value", [-1, 17, True, 2.0, "12"])
def test_bucket_bits_out_of_range_are_refused_naming_the_value(value: object) -> None:
    from langchain_niche import InvalidParameterError, MinHashExampleSelector  # noqa: PLC0415

    with pytest.raises(InvalidParameterError, match="redis_bucket_bits") as info:
        MinHashExampleSelector(redis_url="redis://127.0.0.1:1/0", redis_bucket_bits=value)
    assert repr(value) in str(info.value) or str(value) in str(info.value)
    assert info.value.name == "redis_bucket_bits"


def test_a_new_layout_takes_the_given_bucket_bits_or_ten() -> None:
    from langchain_niche.minhash.redis.config import Layout  # noqa: PLC0415

    assert Layout.new(1) == Layout(1, 10)
    assert Layout.new(3, None) == Layout(3, 10)
    assert Layout.new(3, 14) == Layout(3, 14)
    assert Layout.new(1, 0) == Layout(1, 0)
