"""The on-disk format of saved indexes: a zip of JSON, JSON lines and ``.npy`` arrays.

A saved index is one zip file holding

* ``manifest.json``: ``{"format": "langchain-niche-index", "version": 1,
  "kind": <class name>, "count": <examples>, "config": {...}, "arrays": [...],
  "sha256": {<member>: <hex digest>}, ...}``;
* ``examples.jsonl``: one ``{"id": ..., "example": {...}}`` object per line, in
  insertion order;
* optionally ``<name>.npy`` arrays written with ``numpy.save(allow_pickle=False)``.

Nothing is ever unpickled: JSON is parsed with :mod:`json` and arrays are read
by parsing the ``.npy`` header and viewing the bytes (object dtypes refused).
Files are written to a temporary file in the target directory and moved into
place, so a crash never leaves a half-written index behind. Examples must survive
a JSON round trip unchanged (so tuples, ``Decimal``, ``NaN`` or non-string dict
keys are refused when saving): what is loaded is exactly what was saved.

Reading is bounded and checked (:class:`IndexReader`):

* before anything is decompressed, the zip directory is checked: at most
  :data:`MAX_MEMBERS` members, no duplicate names, only the members the manifest
  announces, stored or deflated (not encrypted), each inside the file, and each
  declaring at most :data:`MAX_COMPRESSION_RATIO` times its compressed size (the
  writer's deflate level 1 never exceeds about 230); the manifest declares at
  most :data:`MAX_MANIFEST_BYTES`;
* a load so never decompresses more than ``MAX_COMPRESSION_RATIO`` times the
  file's size (plus 64 KiB per member), and each member is read with a hard cap
  of its declared size (the zip CRC-32 then checks it);
* arrays are read against the exact shape the manifest implies (number of
  examples, bands, sketch width), so a header claiming 10**12 rows is refused
  before any allocation;
* every member's SHA-256 recorded in the manifest is checked, which catches a
  member replaced or edited after saving (e.g. a shuffled ``tokens_0.npy``).
  Files without checksums (written before they existed) are still read.

Every problem raises :class:`~langchain_niche.errors.IndexFormatError` naming the
file, the member and what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from langchain_niche._atomic import atomic_path
from langchain_niche.errors import IndexFormatError, InvalidExampleError, NicheError, preview

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_COMPRESSION_RATIO",
    "MAX_MANIFEST_BYTES",
    "MAX_MEMBERS",
    "IndexReader",
    "SavedIndex",
    "build_from_config",
    "example_json",
    "read_index_file",
    "saved_setting_names",
    "write_index_file",
]

FORMAT_NAME = "langchain-niche-index"
FORMAT_VERSION = 1
MAX_COMPRESSION_RATIO = 256
"""Most a member may expand (declared size / compressed size) beyond 64 KiB."""
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""Largest ``manifest.json`` read (settings, stop words, checksums)."""
MAX_MEMBERS = 4096
"""Most members a saved index may have."""
MAX_COMPARED_KEY_SETS = 1024
"""Most sets of compared fields a saved index may hold an index for."""

_MANIFEST = "manifest.json"
_EXAMPLES = "examples.jsonl"
_RATIO_FREE_BYTES = 64 * 1024  # members this small may have any compression ratio
_CHUNK = 1 << 20
_WRITE_BATCH = 1024  # records encoded and compressed at a time
_NPY_HEADER_MAX = 10_000  # numpy's own default limit for np.load
_NPY_PREFIX_MAX = 12  # magic (6) + version (2) + header length (2 or 4)
_MIN_RECORD_BYTES = len('{"id":"","example":{}}\n')
_ARRAY_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# What reading a corrupt member can raise, besides IndexFormatError.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,  # encrypted member
    ValueError,  # json, unicode, npy header
    OSError,
    KeyError,
    TypeError,
    struct.error,
    OverflowError,
    SyntaxError,  # npy header
    tokenize.TokenError,  # npy header (numpy's Python 2 fallback parser)
)

_T = TypeVar("_T")


@dataclass(frozen=True)
class SavedIndex:
    """The content of a saved index file."""

    manifest: dict[str, Any]
    records: list[tuple[str, dict[str, Any]]]
    arrays: dict[str, npt.NDArray[Any]] = field(default_factory=dict)


def example_json(example: Mapping[str, Any], *, what: str) -> str:
    """Encode an example as JSON, refusing anything JSON would not give back unchanged.

    Args:
        example: The example.
        what: How to name the example in errors (e.g. ``"example 'a1'"``).

    Returns:
        The JSON text (UTF-8 characters kept as they are).

    Raises:
        InvalidExampleError: The example holds values JSON cannot represent
            exactly (tuples, non-string keys, ``NaN``, arbitrary objects).
    """
    try:
        encoded = json.dumps(example, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"{what} cannot be saved as JSON: {exc} (example: {preview(example)})"
        raise InvalidExampleError(msg) from exc
    if json.loads(encoded) != example:
        msg = (
            f"{what} would not survive a JSON round trip unchanged "
            f"(tuples, non-string keys?): {preview(example)}"
        )
        raise InvalidExampleError(msg)
    return encoded


def _encode_record(example_id: str, example: Mapping[str, Any]) -> str:
    body = example_json(example, what=f"example {example_id!r}")
    return f'{{"id": {json.dumps(example_id, ensure_ascii=False)}, "example": {body}}}'


def write_index_file(
    path: str | os.PathLike[str],
    *,
    kind: str,
    config: Mapping[str, Any],
    records: Iterable[tuple[str, Mapping[str, Any]]],
    arrays: Mapping[str, npt.NDArray[Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an index file atomically.

    Args:
        path: Destination file.
        kind: The class that wrote it (checked on load).
        config: JSON-able settings needed to rebuild or check the index.
        records: ``(id, example)`` pairs in insertion order.
        arrays: Named numeric arrays (no object dtypes).
        extra: More JSON-able manifest entries.

    Returns:
        The path written.

    Raises:
        InvalidExampleError: An example is not exactly representable as JSON.
        IndexFormatError: An array has an object dtype or an invalid name.
    """
    target = Path(path)
    count = 0
    checksums: dict[str, str] = {}
    with atomic_path(target) as tmp_name:  # noqa: SIM117 - umask permissions, fsync, rename
        with zipfile.ZipFile(
            tmp_name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        ) as zf:
            digest = hashlib.sha256()
            with zf.open(_EXAMPLES, "w", force_zip64=True) as raw:
                batch: list[str] = []
                for example_id, example in records:
                    batch.append(_encode_record(example_id, example))
                    count += 1
                    if len(batch) == _WRITE_BATCH:
                        _write_lines(raw, batch, digest)
                        batch = []
                _write_lines(raw, batch, digest)
            checksums[_EXAMPLES] = digest.hexdigest()
            for name, array in (arrays or {}).items():
                if array.dtype.hasobject:
                    msg = f"array {name!r} has an object dtype; only numeric arrays are saved"
                    raise IndexFormatError(msg)
                if not _ARRAY_NAME.fullmatch(name):
                    msg = f"array name {name!r} must be 1-64 ASCII letters, digits or '_'"
                    raise IndexFormatError(msg)
                buf = io.BytesIO()
                np.save(buf, array, allow_pickle=False)
                data = buf.getvalue()
                checksums[f"{name}.npy"] = hashlib.sha256(data).hexdigest()
                zf.writestr(f"{name}.npy", data)
            manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "kind": kind,
                "count": count,
                "config": dict(config),
                "arrays": sorted(arrays or {}),
                **dict(extra or {}),
                "sha256": checksums,
            }
            zf.writestr(
                _MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, allow_nan=False)
            )
    return target


def _write_lines(raw: Any, lines: list[str], digest: Any) -> None:
    if lines:
        data = ("\n".join(lines) + "\n").encode("utf-8")
        raw.write(data)
        digest.update(data)


def _reject_constant(name: str) -> Any:
    msg = f"JSON constant {name} is not allowed"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = f"JSON number {text} is out of range"
        raise ValueError(msg)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string that is not valid Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class IndexReader:
    """Reads a saved index with every size bounded and every member checked.

    Open it as a context manager; the manifest is read and checked on entry,
    examples and arrays when asked for (arrays against the exact shape the caller
    expects, so nothing larger is ever decompressed).

    Example:
        ```python
        with IndexReader("index.niche.zip", kind="JaccardExampleSelector") as reader:
            records = reader.records()
            seq = reader.array("seq", kinds="iu", shape=(len(records),))
        ```
    """

    def __init__(self, path: str | os.PathLike[str], *, kind: str) -> None:
        """Open a file and check its directory and manifest.

        Args:
            path: The file.
            kind: The class expected to have written it.

        Raises:
            IndexFormatError: The file is not a readable index of this kind.
            FileNotFoundError: The file does not exist.
        """
        self.source = Path(path)
        size = self.source.stat().st_size
        with self._guard("the zip directory"):
            self._zf = zipfile.ZipFile(self.source)
        try:
            self._infos = self._check_directory(size)
            self.manifest: dict[str, Any] = self._read_manifest(kind)
            self._check_members()
        except BaseException:
            self._zf.close()
            raise

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._zf.close()

    def error(self, problem: str, member: str | None = None) -> IndexFormatError:
        """An :class:`IndexFormatError` naming the file (and member).

        Args:
            problem: What is wrong.
            member: The member at fault, if one is.

        Returns:
            The error (to raise).
        """
        where = f"{self.source}" if member is None else f"{self.source}: {member}"
        return IndexFormatError(f"{where}: {problem}")

    @contextmanager
    def _guard(self, member: str) -> Iterator[None]:
        try:
            yield
        except IndexFormatError:
            raise
        except FileNotFoundError:
            raise
        except RecursionError as exc:
            msg = f"{self.source}: {member}: nested too deeply"
            raise IndexFormatError(msg) from exc
        except _READ_ERRORS as exc:
            msg = (
                f"{self.source}: {member}: not a readable langchain-niche index: "
                f"{type(exc).__name__}: {exc}"
            )
            raise IndexFormatError(msg) from exc

    # -- the zip directory ----------------------------------------------------------
    def _check_directory(self, size: int) -> dict[str, zipfile.ZipInfo]:
        infos = self._zf.infolist()
        if len(infos) > MAX_MEMBERS:
            msg = f"{len(infos)} members, more than the {MAX_MEMBERS} an index may have"
            raise self.error(msg)
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if name in by_name:
                msg = "appears twice in the zip directory"
                raise self.error(msg, name)
            by_name[name] = info
            if info.flag_bits & 0x1:
                msg = "is encrypted"
                raise self.error(msg, name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                msg = f"uses compression method {info.compress_type}; only stored or deflated members are read"
                raise self.error(msg, name)
            if info.compress_size < 0 or info.header_offset < 0 or info.file_size < 0:
                msg = "has negative sizes in the zip directory"
                raise self.error(msg, name)
            if info.header_offset + info.compress_size > size:
                msg = (
                    f"claims {info.compress_size} compressed bytes at offset "
                    f"{info.header_offset}, past the end of the {size}-byte file"
                )
                raise self.error(msg, name)
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                msg = f"is stored uncompressed but declares {info.file_size} bytes for {info.compress_size}"
                raise self.error(msg, name)
            if (
                info.file_size > _RATIO_FREE_BYTES
                and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size
            ):
                msg = (
                    f"declares {info.file_size} bytes from {info.compress_size} compressed "
                    f"(ratio {info.file_size / max(info.compress_size, 1):.0f}, at most "
                    f"{MAX_COMPRESSION_RATIO} is read): a zip bomb or a corrupt directory"
                )
                raise self.error(msg, name)
        return by_name

    def _check_members(self) -> None:
        expected = {_MANIFEST, _EXAMPLES, *(f"{a}.npy" for a in self.manifest["arrays"])}
        present = set(self._infos)
        if present - expected:
            name = sorted(present - expected)[0]
            msg = "is not announced by manifest.json"
            raise self.error(msg, name)
        if expected - present:
            name = sorted(expected - present)[0]
            msg = "is announced by manifest.json but missing"
            raise self.error(msg, name)
        examples = self._infos[_EXAMPLES]
        count = self.manifest["count"]
        if count and count * _MIN_RECORD_BYTES - 1 > examples.file_size:
            msg = f"announces {count} examples, more than its {examples.file_size} bytes can hold"
            raise self.error(msg, _MANIFEST)

    # -- members --------------------------------------------------------------------
    def _read_member(self, name: str, limit: int) -> bytearray:
        """A member's bytes, read with a hard cap and checked against its checksum."""
        info = self._infos[name]
        if info.file_size > limit:
            msg = f"declares {info.file_size} bytes, more than the {limit} it may have"
            raise self.error(msg, name)
        out = bytearray(info.file_size)  # filled in place: the peak is the member's size
        digest = hashlib.sha256()
        with self._guard(name), self._zf.open(info) as raw:
            pos = 0
            while pos < info.file_size:
                chunk = raw.read(min(_CHUNK, info.file_size - pos))
                if not chunk:
                    break
                out[pos : pos + len(chunk)] = chunk
                digest.update(chunk)
                pos += len(chunk)
            if pos != info.file_size or raw.read(1):
                msg = f"holds {pos} bytes or more, its zip directory entry says {info.file_size}"
                raise self.error(msg, name)
        self._verify(name, digest)
        return out

    def _verify(self, name: str, digest: Any) -> None:
        if name == _MANIFEST:
            return  # the zip CRC-32 checks it; it cannot hold its own digest
        expected = self.manifest.get("sha256", {}).get(name)
        if expected is not None and digest.hexdigest() != expected:
            msg = (
                "does not match its SHA-256 in manifest.json (the member was changed after saving)"
            )
            raise self.error(msg, name)

    def _read_manifest(self, kind: str) -> dict[str, Any]:
        if _MANIFEST not in self._infos:
            msg = f"is not a langchain-niche index (no {_MANIFEST})"
            raise self.error(msg)
        data = self._read_member(_MANIFEST, MAX_MANIFEST_BYTES)
        with self._guard(_MANIFEST):
            manifest = _loads(data.decode("utf-8"))
        self._check_manifest(manifest, kind)
        return manifest  # type: ignore[no-any-return]

    def _check_manifest(self, manifest: Any, kind: str) -> None:
        source = self.source
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            msg = f"{source} is not a langchain-niche index (no {FORMAT_NAME!r} manifest)"
            raise IndexFormatError(msg)
        if manifest.get("version") != FORMAT_VERSION or isinstance(manifest.get("version"), bool):
            msg = f"{source} has format version {manifest.get('version')!r}; this release reads version {FORMAT_VERSION}"
            raise IndexFormatError(msg)
        if manifest.get("kind") != kind:
            msg = f"{source} holds a {manifest.get('kind')!r} index, not a {kind!r} one"
            raise IndexFormatError(msg)
        count = manifest.get("count")
        if not isinstance(manifest.get("config"), dict) or not _is_count(count):
            msg = f"{source}: manifest lacks 'config' or a 'count' >= 0 (got {preview(count)})"
            raise IndexFormatError(msg)
        arrays = manifest.get("arrays")
        if (
            not isinstance(arrays, list)
            or not all(isinstance(a, str) and _ARRAY_NAME.fullmatch(a) for a in arrays)
            or len(set(arrays)) != len(arrays)
        ):
            msg = f"{source}: manifest 'arrays' must be a list of distinct names, got {preview(arrays)}"
            raise IndexFormatError(msg)
        checksums = manifest.get("sha256", {})
        if not isinstance(checksums, dict) or not all(
            isinstance(v, str) and _SHA256.fullmatch(v) for v in checksums.values()
        ):
            msg = f"{source}: manifest 'sha256' must map member names to hex digests"
            raise IndexFormatError(msg)

    # -- what loaders ask for -------------------------------------------------------
    def config(self, allowed: Collection[str]) -> dict[str, Any]:
        """The saved settings, refusing any name a selector does not save.

        Args:
            allowed: The setting names the selector class saves.

        Returns:
            A copy of the ``config`` entry.

        Raises:
            IndexFormatError: An unknown setting is present.
        """
        config = dict(self.manifest["config"])
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            msg = f"unknown setting {unknown[0]!r} in 'config' (a selector saves {sorted(allowed)})"
            raise self.error(msg, _MANIFEST)
        return config

    def integer(self, name: str, *, default: int, minimum: int = 0) -> int:
        """An integer manifest entry in ``[minimum, 2**62]``.

        Args:
            name: The entry.
            default: Its value when absent.
            minimum: Smallest value allowed.

        Returns:
            The value.

        Raises:
            IndexFormatError: It is not such an integer.
        """
        value = self.manifest.get(name, default)
        if not _is_count(value) or not minimum <= value <= 2**62:
            msg = f"{name!r} must be an integer in [{minimum}, 2**62], got {preview(value)}"
            raise self.error(msg, _MANIFEST)
        return int(value)

    def compared_keys(self) -> list[tuple[str, ...]]:
        """The sets of compared fields an index was built for (``compared_keys``).

        Returns:
            Distinct tuples of field names, in saved order.

        Raises:
            IndexFormatError: The entry is malformed.
        """
        value = self.manifest.get("compared_keys", [])
        ok = (
            isinstance(value, list)
            and len(value) <= MAX_COMPARED_KEY_SETS
            and all(
                isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys)
                for keys in value
            )
        )
        out = [tuple(keys) for keys in value] if ok else []
        if not ok or len(set(out)) != len(out):
            msg = (
                f"'compared_keys' must be at most {MAX_COMPARED_KEY_SETS} distinct non-empty "
                f"lists of field names, got {preview(value)}"
            )
            raise self.error(msg, _MANIFEST)
        return out

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``(id, example)`` records of ``examples.jsonl``, checked.

        Returns:
            The records in insertion order.

        Raises:
            IndexFormatError: A line is not a record, an id repeats, a text is not
                valid Unicode, or the count differs from the manifest's.
        """
        count = self.manifest["count"]
        records: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        digest = hashlib.sha256()
        decode = _DECODER.decode
        line_no = 0
        try:
            for line_no, line in enumerate(self._lines(_EXAMPLES, digest), start=1):
                if line_no > count:
                    msg = f"has more lines than the {count} examples manifest.json announces"
                    raise self.error(msg, _EXAMPLES)
                record = decode(line.decode("utf-8"))
                if (
                    type(record) is not dict
                    or len(record) != 2
                    or type(record.get("id")) is not str
                    or not record["id"]
                    or type(record.get("example")) is not dict
                ):
                    msg = "is not an {id, example} record"
                    raise self.error(msg, f"{_EXAMPLES} line {line_no}")
                example_id = record["id"]
                if _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(record):
                    msg = "holds a lone surrogate (not valid Unicode text)"
                    raise self.error(msg, f"{_EXAMPLES} line {line_no}")
                if example_id in seen:
                    msg = f"repeats the id {example_id!r}"
                    raise self.error(msg, f"{_EXAMPLES} line {line_no}")
                seen.add(example_id)
                records.append((example_id, record["example"]))
        except IndexFormatError:
            raise
        except RecursionError as exc:
            msg = f"{self.source}: {_EXAMPLES} line {line_no}: nested too deeply"
            raise IndexFormatError(msg) from exc
        except _READ_ERRORS as exc:
            msg = (
                f"{self.source}: {_EXAMPLES} line {line_no}: not a readable langchain-niche "
                f"index: {type(exc).__name__}: {exc}"
            )
            raise IndexFormatError(msg) from exc
        if len(records) != count:
            msg = f"manifest announces {count} examples, found {len(records)}"
            raise self.error(msg, _EXAMPLES)
        self._verify(_EXAMPLES, digest)
        return records

    def _lines(self, name: str, digest: Any) -> Iterator[bytes]:
        """The lines of a member, streamed without their newlines; hashed into ``digest``."""
        info = self._infos[name]
        parts: list[bytes] = []  # the line read so far (a long line spans chunks)
        total = 0
        with self._guard(name), self._zf.open(info) as raw:
            while True:
                chunk = raw.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > info.file_size:
                    msg = f"holds more than the {info.file_size} bytes its zip directory entry says"
                    raise self.error(msg, name)
                digest.update(chunk)
                lines = chunk.split(b"\n")
                if len(lines) == 1:
                    parts.append(chunk)
                    continue
                parts.append(lines[0])
                yield b"".join(parts)
                yield from lines[1:-1]
                parts = [lines[-1]]
        if any(parts):
            yield b"".join(parts)

    def array(self, name: str, *, kinds: str, shape: tuple[int, ...] | None) -> npt.NDArray[Any]:
        """A saved array of an expected kind and shape, never larger than that shape.

        Args:
            name: The array's name (``<name>.npy``).
            kinds: Allowed dtype kinds (``"u"``, ``"iu"``...), items of at most 8 bytes.
            shape: The exact shape expected (``None``: any, bounded by the member's
                declared size).

        Returns:
            The array (native byte order, writable).

        Raises:
            IndexFormatError: The array is missing, not a plain ``.npy`` array of
                that kind and shape, or its bytes do not match its header.
        """
        member = f"{name}.npy"
        if name not in self.manifest["arrays"]:
            msg = "is missing (not listed in manifest.json)"
            raise self.error(msg, member)
        limit = self._infos[member].file_size
        if shape is not None:
            limit = _NPY_PREFIX_MAX + _NPY_HEADER_MAX + 8 * math.prod(shape)
        data = self._read_member(member, limit)
        with self._guard(member), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = io.BytesIO(bytes(data[: _NPY_PREFIX_MAX + _NPY_HEADER_MAX]))
            version = np.lib.format.read_magic(header)
            if version == (1, 0):
                found_shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                    header, max_header_size=_NPY_HEADER_MAX
                )
            elif version == (2, 0):
                found_shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                    header, max_header_size=_NPY_HEADER_MAX
                )
            else:
                msg = f"has .npy format version {version}; 1.0 and 2.0 are read"
                raise self.error(msg, member)
            offset = header.tell()
        if (
            dtype.hasobject
            or dtype.fields is not None
            or dtype.subdtype is not None
            or dtype.kind not in kinds
            or dtype.itemsize > 8
        ):
            msg = f"has dtype {dtype}, expected a plain array of kind {kinds!r}"
            raise self.error(msg, member)
        if shape is not None and tuple(found_shape) != shape:
            msg = f"has shape {tuple(found_shape)}, expected {shape}"
            raise self.error(msg, member)
        if any(n < 0 for n in found_shape):
            msg = f"has a negative shape {tuple(found_shape)}"
            raise self.error(msg, member)
        count = math.prod(found_shape)
        if len(data) - offset != count * dtype.itemsize:
            msg = (
                f"holds {len(data) - offset} data bytes, its header ({dtype}, "
                f"{tuple(found_shape)}) needs {count * dtype.itemsize}"
            )
            raise self.error(msg, member)
        array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(
            found_shape, order="F" if fortran else "C"
        )
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        return array

    def member_size(self, member: str) -> int:
        """The uncompressed size a member declares (0 when absent).

        Args:
            member: The member's name.

        Returns:
            Its declared size in bytes.
        """
        info = self._infos.get(member)
        return 0 if info is None else int(info.file_size)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def build_from_config(
    reader: IndexReader,
    factory: Callable[..., _T],
    config: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> _T:
    """Construct a selector from saved settings, then with the caller's overrides.

    A saved setting the selector refuses is the file's fault
    (:class:`IndexFormatError`); an override it refuses is the caller's, and its
    error is raised as it is.

    Args:
        reader: The open file (for error messages).
        factory: The selector class.
        config: The saved settings.
        overrides: The caller's settings.

    Returns:
        The selector.

    Raises:
        IndexFormatError: A saved setting is invalid.
    """
    try:
        built = factory(**config)
    except (NicheError, ValueError, TypeError, OverflowError) as exc:
        msg = f"invalid saved settings: {exc}"
        raise reader.error(msg, _MANIFEST) from exc
    if not overrides:
        return built
    return factory(**{**config, **overrides})


def saved_setting_names(model: type, *, exclude: Collection[str] = ()) -> frozenset[str]:
    """The settings a selector class may find in a file's ``config``.

    Args:
        model: The selector (a pydantic model class).
        exclude: Fields never saved (callables, prompts, connection settings).

    Returns:
        Its field names but the excluded ones and any ``redis_*`` field.
    """
    fields: Mapping[str, Any] = getattr(model, "model_fields", {})
    return frozenset(
        name for name in fields if name not in exclude and not name.startswith("redis_")
    )


def read_index_file(path: str | os.PathLike[str], *, kind: str) -> SavedIndex:
    """Read and check an index file written by :func:`write_index_file`.

    Arrays are read with any shape their (bounded) members hold; selectors use
    :class:`IndexReader` to check each against the shape it must have.

    Args:
        path: The file.
        kind: The class expected to have written it.

    Returns:
        Manifest, records and arrays.

    Raises:
        IndexFormatError: The file is not a langchain-niche index of this kind,
            is of an unknown version, or is corrupt.
        FileNotFoundError: The file does not exist.
    """
    with IndexReader(path, kind=kind) as reader:
        records = reader.records()
        arrays = {
            name: reader.array(name, kinds="biuf", shape=None) for name in reader.manifest["arrays"]
        }
        return SavedIndex(reader.manifest, records, arrays)
