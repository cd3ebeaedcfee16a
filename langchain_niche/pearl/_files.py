"""Versioned JSON files for action sets and demonstrations (atomic writes, no pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from langchain_niche._atomic import atomic_writer
from langchain_niche.pearl.errors import SavedFileError

__all__ = ["read_json_file", "write_json_file"]


def write_json_file(
    path: str | os.PathLike[str], *, kind: str, version: int, payload: dict[str, Any]
) -> Path:
    """Write ``{"format": kind, "version": version, **payload}`` atomically.

    Args:
        path: Destination file (parent directories are created).
        kind: Format name, checked when reading.
        version: Format version, checked when reading.
        payload: JSON-able content.

    Returns:
        The path written.
    """
    target = Path(path)
    text = json.dumps(
        {"format": kind, "version": version, **payload},
        ensure_ascii=False,
        indent=2,
        allow_nan=False,
    )
    with atomic_writer(target) as handle:
        handle.write(text + "\n")
    return target


def read_json_file(path: str | os.PathLike[str], *, kind: str, version: int) -> dict[str, Any]:
    """Read a file written by :func:`write_json_file` and check its format and version.

    Args:
        path: The file.
        kind: Expected format name.
        version: Highest supported version.

    Returns:
        The decoded object.

    Raises:
        SavedFileError: Not JSON, another format, or a newer version.
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"{source} is not JSON: {exc}"
        raise SavedFileError(msg, path=str(source)) from exc
    if not isinstance(data, dict) or data.get("format") != kind:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        msg = f"{source} is not a {kind!r} file (format: {found!r})"
        raise SavedFileError(msg, path=str(source))
    found_version = data.get("version")
    if not isinstance(found_version, int) or not 1 <= found_version <= version:
        msg = f"{source} has version {found_version!r}; this langchain-niche reads versions 1..{version}"
        raise SavedFileError(msg, path=str(source))
    return data
