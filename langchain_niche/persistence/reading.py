"""Reading a saved index with every size bounded and every member checked."""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import IndexFormatError, preview
from langchain_niche.persistence._format import (
    _ARRAY_NAME,
    _CHUNK,
    _EXAMPLES,
    _MANIFEST,
    _MIN_RECORD_BYTES,
    _NPY_HEADER_MAX,
    _NPY_PREFIX_MAX,
    _RATIO_FREE_BYTES,
    _READ_ERRORS,
    _SHA256,
    _SURROGATE_ESCAPE,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_COMPARED_KEY_SETS,
    MAX_COMPRESSION_RATIO,
    MAX_MANIFEST_BYTES,
    MAX_MEMBERS,
)
from langchain_niche.persistence.records import decode_json, has_lone_surrogate

__all__ = ["IndexReader"]


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
    def _guard(self, member: str | Callable[[], str]) -> Iterator[None]:
        """Turn a read error into an :class:`IndexFormatError` naming ``member``.

        ``member`` may be a function, called when an error occurs (e.g. to name
        the line being read).
        """
        try:
            yield
        except (IndexFormatError, FileNotFoundError):
            raise
        except (RecursionError, *_READ_ERRORS) as exc:
            where = f"{self.source}: {member if isinstance(member, str) else member()}"
            if isinstance(exc, RecursionError):
                msg = f"{where}: nested too deeply"
            else:
                msg = f"{where}: not a readable langchain-niche index: {type(exc).__name__}: {exc}"
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
            manifest = decode_json(data.decode("utf-8"))
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
        decode = decode_json
        line_no = 0
        with self._guard(lambda: f"{_EXAMPLES} line {line_no}"):
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
                if _SURROGATE_ESCAPE.search(line) and has_lone_surrogate(record):
                    msg = "holds a lone surrogate (not valid Unicode text)"
                    raise self.error(msg, f"{_EXAMPLES} line {line_no}")
                if example_id in seen:
                    msg = f"repeats the id {example_id!r}"
                    raise self.error(msg, f"{_EXAMPLES} line {line_no}")
                seen.add(example_id)
                records.append((example_id, record["example"]))
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
