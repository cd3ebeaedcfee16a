"""The Lua scripts of the Redis backend, shipped as package data (``scripts/*.lua``).

Each script is ``common.lua`` (error marking, type checks, sliced commands)
followed by its own file; the comments at the top of each file say what it
takes (``ARGV``) and returns.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["SCRIPT_NAMES", "scripts"]

SCRIPT_NAMES = ("insert", "lookup", "fetch", "remove")
"""The scripts the backend registers."""


def _read(name: str) -> str:
    return (
        files(__package__ or __name__)
        .joinpath("scripts")
        .joinpath(f"{name}.lua")
        .read_text("utf-8")
    )


@cache
def scripts() -> dict[str, str]:
    """The source of each script (``common.lua`` prepended), by name."""
    common = _read("common")
    return {name: common + _read(name) for name in SCRIPT_NAMES}
