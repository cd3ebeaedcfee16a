"""The Redis backend's Lua scripts are package data, loaded with importlib.resources."""

from __future__ import annotations

from importlib.resources import files

from langchain_niche.minhash.redis.lua import SCRIPT_NAMES, scripts


def test_every_script_is_a_package_data_file_after_the_common_helpers() -> None:
    folder = files("langchain_niche.minhash.redis").joinpath("scripts")
    common = folder.joinpath("common.lua").read_text("utf-8")
    assert "local function fail(key, problem)" in common
    loaded = scripts()
    assert set(loaded) == set(SCRIPT_NAMES) == {"insert", "lookup", "fetch", "remove"}
    for name, source in loaded.items():
        own = folder.joinpath(f"{name}.lua").read_text("utf-8")
        assert source == common + own
        assert "return" in own
