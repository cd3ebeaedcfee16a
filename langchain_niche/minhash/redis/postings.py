"""The band entries of a Redis MinHash index as postings: one small hash per bucket.

A band key (:class:`~langchain_niche.minhash.banding.Banding`: band number, prefix
hash, full hash) is split at bit ``band_bits + bucket_bits``: the high part names
the *bucket*, a hash ``p:BBBBB`` (``BBBBB`` the bucket number in hex, fixed
width), and the key's bytes after the whole bytes the bucket fixes are the
*field*; the field's value is the *posting*, the rows sharing the band key
(4-byte big-endian each, in the order they were added). So a band lookup is one
``HGET``, and the entries sharing a band key cost 4 bytes per row.

``bucket_bits`` (the top bits of the band's prefix hash that pick its bucket) is
fixed when the index is created (``redis_bucket_bits``, default :data:`BUCKET_BITS`
per shard) and stored in ``config``: about 200 distinct band keys per bucket at
``200,000 * 2**(bucket_bits - 10)`` examples per shard, under Redis's default
``hash-max-listpack-entries`` (512), so most buckets stay in the compact listpack
encoding (see :data:`BUCKET_BITS` for what happens beyond). Every range
of the lower-threshold probe (a band prefix) lies in one bucket; the probe reads
that bucket's field names and keeps those in the range (``probe_args``).

This module only computes names and bytes (no I/O); the scripts in ``scripts/``
read and write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_counts
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.minhash.banding import Banding

__all__ = ["BUCKET_BITS", "MAX_BUCKET_BITS", "Postings", "check_bucket_bits"]

U64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]

BUCKET_BITS = 10
"""Bucket bits of every shard of a new index unless ``redis_bucket_bits`` says otherwise:
1,024 buckets per band, about 200 band keys per bucket at 200,000 examples in the
shard. Memory per example stays about 1.2 KB while a bucket holds up to about 200
band keys (examples per shard / ``2**bucket_bits``) and grows to 2.3 KB as buckets
turn into hashtables (``benchmarks/redis_bucket_fill.py``: 1,397 B at 400,000
examples with 10 bits, 2,324 B at 1.6 million); so choose about
``10 + log2(examples per shard / 200,000)`` bits (13 for 1.6 million)."""
MAX_BUCKET_BITS = 16
"""Most bucket bits (``redis_bucket_bits``): 65,536 buckets per band and shard."""


def check_bucket_bits(value: Any) -> None:
    """Check ``redis_bucket_bits``: ``None`` or an integer from 0 to :data:`MAX_BUCKET_BITS`.

    Raises:
        InvalidParameterError: Anything else (names the value).
    """
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_BUCKET_BITS:
        msg = f"redis_bucket_bits must be None or an integer from 0 to {MAX_BUCKET_BITS}, got {preview(value)}"
        raise InvalidParameterError(msg, name="redis_bucket_bits", value=value)


@dataclass(frozen=True)
class Postings:
    """Bucket names and field bytes of band keys (see the module docstring).

    Attributes:
        banding: The index's banding (where the prefix hash is in a key).
        bucket_bits: Prefix-hash bits in the bucket number.
    """

    banding: Banding
    bucket_bits: int

    @property
    def width(self) -> int:
        """Hex digits of a bucket number."""
        return -(-(self.banding.band_bits + self.bucket_bits) // 4)

    @property
    def strip(self) -> int:
        """Leading key bytes every field of a bucket shares (left out of the field)."""
        return (self.banding.band_bits + self.bucket_bits) // 8

    @property
    def field_size(self) -> int:
        """Bytes of a field."""
        return 8 - self.strip

    @property
    def _prefix_end(self) -> int:
        """Bits of a key a probe range fixes (band number and prefix hash)."""
        return self.banding.band_bits + self.banding.prefix_bits

    @property
    def head(self) -> int:
        """Leading field bytes equal in every key of a probe range."""
        return self._prefix_end // 8 - self.strip

    def buckets(self, keys: U64Array) -> U64Array:
        """The bucket number of each band key."""
        shifted: U64Array = keys >> np.uint64(64 - self.banding.band_bits - self.bucket_bits)
        return shifted

    def names(self, buckets: U64Array) -> bytes:
        """Bucket numbers as ``width`` lowercase hex digits each, concatenated."""
        digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
        out = np.empty((buckets.shape[0], self.width), dtype=np.uint8)
        for i in range(self.width):
            shift = np.uint64(4 * (self.width - 1 - i))
            out[:, i] = digits[(buckets >> shift) & np.uint64(15)]
        return out.tobytes()

    def fields(self, keys: U64Array) -> bytes:
        """The field of each band key, concatenated (``field_size`` bytes each)."""
        raw = keys.astype(">u8").view(np.uint8).reshape(-1, 8)
        return raw[:, self.strip :].tobytes()

    def entries(self, keys: U64Array) -> bytes:
        """Each key's bucket name then field, concatenated (lookups and removals)."""
        n = keys.shape[0]
        both = np.empty((n, self.width + self.field_size), dtype=np.uint8)
        both[:, : self.width] = np.frombuffer(self.names(self.buckets(keys)), np.uint8).reshape(
            n, self.width
        )
        both[:, self.width :] = np.frombuffer(self.fields(keys), np.uint8).reshape(
            n, self.field_size
        )
        return both.tobytes()

    def probe_args(self, keys: U64Array) -> bytes:
        """Each key's bucket name, then the fields of its prefix range's first and last key.

        A field is in the range when its first :attr:`head` bytes equal the
        first key's and its next byte is between theirs (the probe script).
        """
        lo, hi = self.banding.prefix_range(keys)
        n = keys.shape[0]
        size = self.field_size
        out = np.empty((n, self.width + 2 * size), dtype=np.uint8)
        out[:, : self.width] = np.frombuffer(self.names(self.buckets(lo)), np.uint8).reshape(
            n, self.width
        )
        out[:, self.width : self.width + size] = np.frombuffer(self.fields(lo), np.uint8).reshape(
            n, size
        )
        last = hi - np.uint64(1)
        out[:, self.width + size :] = np.frombuffer(self.fields(last), np.uint8).reshape(n, size)
        return out.tobytes()

    def insert_args(self, keys: U64Array, rows: IntArray) -> list[bytes]:
        """The band entries of rows as the insert script takes them.

        Args:
            keys: ``(n, bands)`` band keys.
            rows: The ``n`` rows.

        Returns:
            ``[buckets, fields per bucket, fields, rows per field, rows]``: bucket
            names (``width`` hex digits each), the number of distinct fields of
            each bucket (``uint32`` LE), the fields bucket after bucket, the
            number of rows of each field (``uint32`` LE) and the rows (4-byte
            big-endian), field after field, ascending within a field.
        """
        flat = keys.reshape(-1)
        owners = np.repeat(rows, keys.shape[1] if keys.ndim == 2 else 1)
        order = np.lexsort((owners, flat))
        flat, owners = flat[order], owners[order]
        distinct, per_field = unique_counts(flat)
        buckets = self.buckets(distinct)
        used, per_bucket = unique_counts(buckets)
        return [
            self.names(used),
            per_bucket.astype("<u4").tobytes(),
            self.fields(distinct),
            per_field.astype("<u4").tobytes(),
            owners.astype(">u4").tobytes(),
        ]
