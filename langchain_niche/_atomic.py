"""Atomic file writes: a temporary file in the target's directory, fsync, rename.

A reader (or a process killed mid-write, or Ctrl-C) sees either the previous
contents or the complete new ones, never a truncated file. The new file gets
the permissions an ordinary ``open(path, "w")`` would give it (``0o666`` minus
the umask), not ``tempfile.mkstemp``'s ``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_writer", "default_file_mode"]


def _current_umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide, not thread-safe)
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` minus the umask.

    Returns:
        The permission bits.
    """
    return 0o666 & ~_current_umask()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file lives in ``path``'s directory (so the rename cannot cross
    file systems), is removed on any failure or interruption, and is given
    :func:`default_file_mode` and fsynced before the rename.

    Args:
        path: The destination.

    Yields:
        The temporary file's path (it exists, empty).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The name is chosen before the file exists, so an interrupt (Ctrl-C) at any
    # point after its creation still removes it.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    ours = True
    try:
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # another writer's file (odds 2**-64): never remove it
            ours = False
            raise
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.chmod(default_file_mode())
        tmp.replace(target)
    except BaseException:
        if ours:
            tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """Open a text stream whose contents replace ``path`` atomically when it closes.

    Args:
        path: The destination.
        encoding: Text encoding.

    Yields:
        A writable text stream (flushed and fsynced before the rename).
    """
    with atomic_path(path) as tmp, tmp.open("w", encoding=encoding, newline="\n") as stream:
        yield stream
