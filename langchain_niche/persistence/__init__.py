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

import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy.typing as npt

from langchain_niche.errors import NicheError
from langchain_niche.persistence._format import (
    _MANIFEST,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_COMPARED_KEY_SETS,
    MAX_COMPRESSION_RATIO,
    MAX_MANIFEST_BYTES,
    MAX_MEMBERS,
)
from langchain_niche.persistence.reading import IndexReader
from langchain_niche.persistence.records import example_json
from langchain_niche.persistence.writing import write_index_file

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_COMPARED_KEY_SETS",
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

_T = TypeVar("_T")


@dataclass(frozen=True)
class SavedIndex:
    """The content of a saved index file."""

    manifest: dict[str, Any]
    records: list[tuple[str, dict[str, Any]]]
    arrays: dict[str, npt.NDArray[Any]] = field(default_factory=dict)


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
