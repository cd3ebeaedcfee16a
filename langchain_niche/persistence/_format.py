"""Format constants and bounds of saved index files (see :mod:`langchain_niche.persistence`)."""

from __future__ import annotations

import re
import struct
import tokenize
import zipfile
import zlib

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
