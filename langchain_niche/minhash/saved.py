"""Restore the in-memory MinHash backend from a saved index file, checking every array.

The file format is :mod:`langchain_niche.persistence`'s; besides its checksums, a
sample of examples is re-encoded and compared with the saved arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import InvalidExampleError, MissingKeyError
from langchain_niche.minhash.encoding import LshEncoder
from langchain_niche.persistence import IndexReader

if TYPE_CHECKING:
    from langchain_niche.minhash.memory import MemoryLshStorage

__all__ = ["restore_saved"]

_SPOT_CHECK_ROWS = 64  # examples re-encoded on load to check the saved arrays


def restore_saved(reader: IndexReader, storage: MemoryLshStorage) -> None:
    """Fill an empty in-memory storage from an open file, checking every array."""
    compared = storage.restore_records(reader)
    examples = [example for _, example in storage.store.iter_live()]
    n = len(examples)
    encoder = storage.encoder
    bands = encoder.banding.bands
    width = None if encoder.prefilter is None else encoder.prefilter.width
    for i, keys in enumerate(compared):
        lens = reader.array(f"lens_{i}", kinds="iu", shape=(n,)).astype(np.int64)
        room = reader.member_size(f"tokens_{i}.npy")  # at least one byte per token id
        if n and (int(lens.min()) < 0 or float(lens.sum(dtype=np.float64)) > room):
            msg = f"has negative row sizes or more token ids than tokens_{i}.npy can hold"
            raise reader.error(msg, f"lens_{i}.npy")
        tokens = reader.array(f"tokens_{i}", kinds="u", shape=(int(lens.sum()),))
        band_keys = reader.array(f"band_keys_{i}", kinds="u", shape=(n * bands,))
        band_rows = reader.array(f"band_rows_{i}", kinds="iu", shape=(n * bands,))
        if n and (int(band_rows.min()) < 0 or int(band_rows.max()) >= n):
            msg = f"has rows outside [0, {n})"
            raise reader.error(msg, f"band_rows_{i}.npy")
        if n and not bool(np.all(np.bincount(band_rows, minlength=n) == bands)):
            msg = f"does not give each of the {n} examples exactly {bands} band keys"
            raise reader.error(msg, f"band_rows_{i}.npy")
        if band_keys.shape[0] > 1 and bool(np.any(band_keys[1:] < band_keys[:-1])):
            msg = "is not sorted"
            raise reader.error(msg, f"band_keys_{i}.npy")
        sketches = None
        if width is not None and f"sketches_{i}" in reader.manifest["arrays"]:
            sketches = reader.array(f"sketches_{i}", kinds="u", shape=(n, width))
        arrays = (tokens, lens, band_keys, band_rows)
        _spot_check(reader, encoder, examples, keys=keys, i=i, arrays=arrays, sketches=sketches)
        tokens = tokens.astype(np.uint64, copy=False)
        band_keys = band_keys.astype(np.uint64, copy=False)
        if sketches is not None:
            sketches = sketches.astype(np.uint8, copy=False)
        try:
            storage.restore_index(keys, tokens, lens, band_keys, band_rows, sketches=sketches)
        except ValueError as exc:
            msg = f"inconsistent index arrays: {exc}"
            raise reader.error(msg, f"tokens_{i}.npy") from exc


def _sample_rows(n: int) -> npt.NDArray[np.int64]:
    """Evenly spaced rows (first and last included) for the consistency spot check."""
    return np.unique(np.linspace(0, n - 1, num=min(n, _SPOT_CHECK_ROWS)).astype(np.int64))


def _spot_check(
    reader: IndexReader,
    encoder: LshEncoder,
    examples: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    i: int,
    arrays: tuple[npt.NDArray[Any], ...],
    sketches: npt.NDArray[Any] | None,
) -> None:
    """Re-encode a sample of examples and compare with the saved arrays.

    Arrays that were shuffled, swapped with another file's, or do not belong to
    their examples are caught here even when the file's checksums were rewritten
    (a change confined to rows outside the sample is not: checksums catch those
    unless rewritten, and the index then selects by what its arrays say).
    """
    tokens, lens, band_keys, band_rows = arrays
    n = len(examples)
    if n == 0:
        return
    rows = _sample_rows(n)
    try:
        encoded = encoder.encode_examples([examples[r] for r in rows.tolist()], keys)
    except (MissingKeyError, InvalidExampleError) as exc:
        msg = f"cannot index the saved fields {list(keys)}: {exc}"
        raise reader.error(msg, "examples.jsonl") from exc
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    got = np.concatenate([[0], np.cumsum(encoded.lens)])
    in_sample = np.zeros(n, dtype=np.bool_)
    in_sample[rows] = True
    pick = np.flatnonzero(in_sample[band_rows])
    order = np.lexsort((band_keys[pick], band_rows[pick]))
    saved_keys = band_keys[pick][order].reshape(rows.shape[0], -1)
    for j, row in enumerate(rows.tolist()):
        saved = np.sort(tokens[offsets[row] : offsets[row + 1]])
        expected = np.sort(encoded.tokens[got[j] : got[j + 1]])
        if saved.shape != expected.shape or not np.array_equal(saved, expected):
            msg = f"token ids of example {row} do not match its text in examples.jsonl"
            raise reader.error(msg, f"tokens_{i}.npy")
        if not np.array_equal(saved_keys[j], np.sort(encoded.keys[j])):
            msg = f"band keys of example {row} do not match its text in examples.jsonl"
            raise reader.error(msg, f"band_keys_{i}.npy")
    if (
        sketches is not None
        and encoded.sketches is not None
        and not np.array_equal(sketches[rows], encoded.sketches)
    ):
        msg = "pre-filter sketches do not match the examples in examples.jsonl"
        raise reader.error(msg, f"sketches_{i}.npy")
