"""Crafted and corrupted saved-index files, for fault-injection tests.

Every helper works on the bytes or the members of a file written by a selector's
``save``: bit flips, truncation and splicing (what storage and transfers do),
members rewritten with their checksums recomputed (what a careless or hostile
tool does), ``.npy`` headers that lie about their shape, and zip bombs whose
members expand to gigabytes (built in milliseconds, without compressing
gigabytes: the compressed stream is one flushed block repeated).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "crafted_npy",
    "flip_bits",
    "npy_bytes",
    "read_members",
    "rewrite_index",
    "shuffled_rows",
    "splice",
    "truncate",
    "write_zip_bomb",
]


# -- byte-level damage -------------------------------------------------------------------
def flip_bits(data: bytes, flips: Sequence[tuple[int, int]]) -> bytes:
    """Flip bits: each ``(position, mask)`` XORs ``mask`` (1-255) into a byte (position modulo length)."""
    out = bytearray(data)
    for position, mask in flips:
        out[position % len(out)] ^= mask & 0xFF or 1
    return bytes(out)


def truncate(data: bytes, length: int) -> bytes:
    """The first ``length`` bytes (modulo the length)."""
    return data[: length % len(data)]


def splice(data: bytes, other: bytes, at: int, start: int, length: int) -> bytes:
    """Overwrite ``data[at : at + length]`` with ``other[start : start + length]`` (positions modulo lengths)."""
    at %= len(data)
    start %= len(other)
    piece = other[start : start + length]
    return data[:at] + piece + data[at + len(piece) :]


# -- member-level edits --------------------------------------------------------------------
def read_members(path: Path) -> dict[str, bytes]:
    """Every member of a saved index, by name."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def npy_bytes(array: npt.NDArray[Any], *, allow_pickle: bool = False) -> bytes:
    """``array`` as the bytes of a ``.npy`` file."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def rewrite_index(
    source: Path,
    target: Path,
    *,
    members: Mapping[str, bytes | None] | None = None,
    manifest: Mapping[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    resign: bool = True,
) -> Path:
    """Copy a saved index, replacing (``bytes``) or dropping (``None``) members.

    Args:
        source: A file written by ``save``.
        target: Where to write the copy.
        members: New content per member name.
        manifest: Entries to merge into the manifest, or a function returning a new one.
        resign: Recompute the manifest's SHA-256 of every member, as a tool that
            knows the format would (``False``: keep the saved checksums). Done
            before ``manifest`` is applied, so an edit of ``sha256`` stays.

    Returns:
        ``target``.
    """
    content = read_members(source)
    for name, data in (members or {}).items():
        if data is None:
            content.pop(name, None)
        else:
            content[name] = data
    meta = json.loads(content["manifest.json"])
    if resign and "sha256" in meta:
        meta["sha256"] = {
            name: hashlib.sha256(data).hexdigest()
            for name, data in content.items()
            if name != "manifest.json"
        }
    if callable(manifest):
        meta = manifest(meta)
    elif manifest is not None:
        meta = {**meta, **manifest}
    content["manifest.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return target


def shuffled_rows(
    tokens: npt.NDArray[np.uint64], lens: npt.NDArray[np.int64], seed: int = 0
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """The rows of a ``tokens_<n>`` / ``lens_<n>`` pair in another order (same shapes)."""
    offsets = np.concatenate([[0], np.cumsum(lens)])
    order = np.random.default_rng(seed).permutation(lens.shape[0])
    rows = [tokens[offsets[r] : offsets[r + 1]] for r in order.tolist()]
    return np.concatenate(rows).astype(np.uint64), lens[order]


def crafted_npy(shape: tuple[int, ...], *, descr: str = "<u8", data: bytes = b"") -> bytes:
    """A ``.npy`` file whose header claims ``shape`` and ``descr`` but holds only ``data``."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    padded = header + b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(padded)) + padded + data


# -- zip bombs --------------------------------------------------------------------------------
def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)`` (zlib's algorithm)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _repeated_deflate(block: bytes, copies: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``block * copies`` and its CRC-32, without compressing it all."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == piece  # a full flush forgets the history: every copy compresses alike
    tail = compressor.flush(zlib.Z_FINISH)
    crc, size, block_crc = 0, 0, zlib.crc32(block)
    remaining = copies
    run_crc, run_len = block_crc, len(block)  # CRC of 2**i copies
    while remaining:
        if remaining & 1:
            crc = crc32_combine(crc, run_crc, run_len) if size else run_crc
            size += run_len
        run_crc = crc32_combine(run_crc, run_crc, run_len)
        run_len *= 2
        remaining >>= 1
    return piece * copies + tail, crc


def write_zip_bomb(
    target: Path,
    source: Path,
    *,
    member: str,
    size: int,
    line: bytes = b" ",
) -> Path:
    """Copy a saved index with one member replaced by ``size`` bytes of repeated ``line``.

    The zip directory is honest (sizes and CRC-32 are right): only reading the
    member reveals nothing is wrong, after decompressing ``size`` bytes. The
    compressed member is about ``size / 1000`` bytes.

    Args:
        target: Where to write the bomb.
        source: A file written by ``save`` (the other members are copied).
        member: ``"manifest.json"`` or ``"examples.jsonl"``.
        size: Uncompressed size (rounded down to whole blocks of 16 MiB).
        line: The repeated content (e.g. one valid record line).

    Returns:
        ``target``.
    """
    block = line * max(1, (1 << 24) // len(line))
    copies = max(1, size // len(block))
    stream, crc = _repeated_deflate(block, copies)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if info.filename != member:
                dst.writestr(info.filename, src.read(info.filename), zipfile.ZIP_DEFLATED)
                continue
            bomb = zipfile.ZipInfo(member, date_time=info.date_time)
            bomb.compress_type = zipfile.ZIP_DEFLATED
            bomb.file_size = len(block) * copies
            bomb.compress_size = len(stream)
            bomb.CRC = crc
            _write_raw_member(dst, bomb, stream)
    return target


def _write_raw_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, payload: bytes) -> None:
    """Append a member whose compressed bytes are given (sizes and CRC set in ``info``)."""
    assert zf.fp is not None
    zip64 = info.file_size > 0xFFFFFFFF or info.compress_size > 0xFFFFFFFF
    info.header_offset = zf.fp.tell()
    info.flag_bits = 0x800
    zf.fp.write(info.FileHeader(zip64))
    zf.fp.write(payload)
    zf.start_dir = zf.fp.tell()  # type: ignore[attr-defined]
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    zf._didModify = True  # type: ignore[attr-defined]
