"""Atomic writes leave the previous file and no temporary file behind, whenever they stop."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from langchain_niche._atomic import atomic_path, atomic_writer, default_file_mode


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_complete_write_replaces_the_file_with_the_default_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    with atomic_writer(out) as stream:
        stream.write("new\n")
    assert out.read_text() == "new\n"
    assert _names(tmp_path) == ["out.txt"]
    assert stat.S_IMODE(out.stat().st_mode) == default_file_mode()


def test_an_error_while_writing_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")

    def write_and_fail() -> None:
        with atomic_writer(out) as stream:
            stream.write("partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_and_fail()
    assert out.read_text() == "old\n"
    assert _names(tmp_path) == ["out.txt"]


def test_an_interrupt_right_after_the_temporary_file_is_created_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between creating the temporary file and the first write (a race seen in the CLI test)."""
    real_close = os.close
    calls = {"n": 0}

    def interrupted_close(fd: int) -> None:
        real_close(fd)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "close", interrupted_close)
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(out):
        pytest.fail("the body must not run")  # pragma: no cover
    assert calls["n"] == 1
    assert out.read_text() == "old\n"
    assert _names(tmp_path) == ["out.txt"]


def test_a_name_taken_by_another_writer_is_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "token_hex", lambda n: "f" * (2 * n))
    other = tmp_path / f".out.txt.{'f' * 16}.tmp"
    other.write_text("another writer's data")
    with pytest.raises(FileExistsError), atomic_path(tmp_path / "out.txt"):
        pytest.fail("the body must not run")  # pragma: no cover
    assert other.read_text() == "another writer's data"
