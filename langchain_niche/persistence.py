"""The on-disk format of saved indexes: a zip of JSON, JSON lines and ``.npy`` arrays.

A saved index is one zip file holding

* ``manifest.json``: ``{"format": "langchain-niche-index", "version": 1,
  "kind": <class name>, "config": {...}, ...}``;
* ``examples.jsonl``: one ``{"id": ..., "example": {...}}`` object per line, in
  insertion order;
* optionally ``<name>.npy`` arrays written with ``numpy.save(allow_pickle=False)``.

Nothing is ever unpickled: JSON is parsed with :mod:`json` and arrays are read
with ``numpy.load(allow_pickle=False)``. Files are written to a temporary file in
the target directory and moved into place, so a crash never leaves a half-written
index behind. Examples must survive a JSON round trip unchanged (so tuples,
``Decimal``, ``NaN`` or non-string dict keys are refused when saving): what is
loaded is exactly what was saved.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche._atomic import atomic_path
from langchain_niche.errors import IndexFormatError, InvalidExampleError, preview

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SavedIndex",
    "example_json",
    "read_index_file",
    "write_index_file",
]

FORMAT_NAME = "langchain-niche-index"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_EXAMPLES = "examples.jsonl"


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
        IndexFormatError: An array has an object dtype.
    """
    target = Path(path)
    count = 0
    with atomic_path(target) as tmp_name:  # noqa: SIM117 - umask permissions, fsync, rename
        with zipfile.ZipFile(
            tmp_name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        ) as zf:
            with zf.open(_EXAMPLES, "w", force_zip64=True) as raw:
                writer = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                for example_id, example in records:
                    writer.write(_encode_record(example_id, example))
                    writer.write("\n")
                    count += 1
                writer.flush()
                writer.detach()
            for name, array in (arrays or {}).items():
                if array.dtype.hasobject:
                    msg = f"array {name!r} has an object dtype; only numeric arrays are saved"
                    raise IndexFormatError(msg)
                buf = io.BytesIO()
                np.save(buf, array, allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
            manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "kind": kind,
                "count": count,
                "config": dict(config),
                "arrays": sorted(arrays or {}),
                **dict(extra or {}),
            }
            zf.writestr(
                _MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, allow_nan=False)
            )
    return target


def read_index_file(path: str | os.PathLike[str], *, kind: str) -> SavedIndex:
    """Read and check an index file written by :func:`write_index_file`.

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
    source = Path(path)
    try:
        with zipfile.ZipFile(source) as zf:
            manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
            _check_manifest(manifest, source, kind)
            records: list[tuple[str, dict[str, Any]]] = []
            with zf.open(_EXAMPLES) as raw:
                for line_no, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), start=1):
                    record = json.loads(line)
                    if (
                        not isinstance(record, dict)
                        or not isinstance(record.get("id"), str)
                        or not isinstance(record.get("example"), dict)
                    ):
                        msg = f"{source}: examples.jsonl line {line_no} is not an {{id, example}} record"
                        raise IndexFormatError(msg)
                    records.append((record["id"], record["example"]))
            if len(records) != manifest["count"]:
                msg = f"{source}: manifest announces {manifest['count']} examples, found {len(records)}"
                raise IndexFormatError(msg)
            arrays = {}
            for name in manifest["arrays"]:
                with zf.open(f"{name}.npy") as raw:
                    arrays[name] = np.load(io.BytesIO(raw.read()), allow_pickle=False)
    except IndexFormatError:
        raise
    except FileNotFoundError:
        raise
    except (
        zipfile.BadZipFile,
        KeyError,
        json.JSONDecodeError,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        msg = f"{source} is not a readable langchain-niche index: {type(exc).__name__}: {exc}"
        raise IndexFormatError(msg) from exc
    return SavedIndex(manifest, records, arrays)


def _check_manifest(manifest: Any, source: Path, kind: str) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        msg = f"{source} is not a langchain-niche index (no {FORMAT_NAME!r} manifest)"
        raise IndexFormatError(msg)
    if manifest.get("version") != FORMAT_VERSION:
        msg = f"{source} has format version {manifest.get('version')!r}; this release reads version {FORMAT_VERSION}"
        raise IndexFormatError(msg)
    if manifest.get("kind") != kind:
        msg = f"{source} holds a {manifest.get('kind')!r} index, not a {kind!r} one"
        raise IndexFormatError(msg)
    if not isinstance(manifest.get("count"), int) or not isinstance(manifest.get("config"), dict):
        msg = f"{source}: manifest lacks 'count' or 'config'"
        raise IndexFormatError(msg)
    if not isinstance(manifest.get("arrays"), list) or not all(
        isinstance(a, str) for a in manifest["arrays"]
    ):
        msg = f"{source}: manifest 'arrays' must be a list of names"
        raise IndexFormatError(msg)
