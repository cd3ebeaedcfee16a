"""Writing a saved index: one atomic zip of manifest, JSON lines and ``.npy`` arrays."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche._atomic import atomic_path
from langchain_niche.errors import IndexFormatError
from langchain_niche.persistence._format import (
    _ARRAY_NAME,
    _EXAMPLES,
    _MANIFEST,
    _WRITE_BATCH,
    FORMAT_NAME,
    FORMAT_VERSION,
)
from langchain_niche.persistence.records import encode_record

__all__ = ["write_index_file"]


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
                    batch.append(encode_record(example_id, example))
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
