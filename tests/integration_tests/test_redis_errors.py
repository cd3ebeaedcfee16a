"""Redis errors are typed and name the key or URL; credentials never appear in them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_niche import (
    IndexFormatError,
    MinHashExampleSelector,
    StoreUnavailableError,
)
from tests.support.redis_server import RedisServer

EXAMPLES = [{"q": "alpha beta gamma"}, {"q": "alpha beta delta"}, {"q": "epsilon zeta"}]


def selector(url: str, name: str, **kwargs: Any) -> MinHashExampleSelector:
    kwargs.setdefault("input_keys", ["q"])
    return MinHashExampleSelector(redis_url=url, index_name=name, redis_timeout=2, **kwargs)


def key(name: str, suffix: str) -> str:
    return f"niche:{{{name}}}:{suffix}"


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    import redis  # noqa: PLC0415

    with redis.Redis.from_url(redis_url) as raw:
        yield raw


def filled(redis_url: str, index_name: str) -> MinHashExampleSelector:
    s = selector(redis_url, index_name)
    s.add_examples(EXAMPLES)
    return s


def everything(s: MinHashExampleSelector) -> Callable[[], Any]:
    def run() -> None:
        s.add_examples([{"q": "alpha beta eta"}])
        s.search({"q": "alpha beta gamma"})
        s.audit()
        s.remove_example("0")

    return run


@pytest.mark.parametrize(
    ("suffix", "garbage"),
    [
        ("next", ("hset", "a", "b")),
        ("doc", ("set", "x")),
        ("tok", ("set", "x")),
        ("id", ("set", "x")),
        ("fields", ("set", "x")),
        ("id", ("rpush", "x")),
    ],
)
def test_a_key_of_another_type_is_an_index_format_error_naming_it(
    redis_url: str, index_name: str, client: Any, suffix: str, garbage: tuple[str, ...]
) -> None:
    s = filled(redis_url, index_name)
    client.delete(key(index_name, suffix))
    getattr(client, garbage[0])(key(index_name, suffix), *garbage[1:])
    before = content(client, index_name)
    with pytest.raises(IndexFormatError, match=f"key '{key(index_name, suffix)}'"):
        everything(s)()
    # the failed write changed nothing (types are checked before writing)
    assert content(client, index_name) == before


def content(client: Any, name: str) -> dict[bytes, bytes]:
    """Every key of an index but the row counter (rows reserved before a failure are gaps)."""
    return {
        k: client.dump(k)
        for k in client.scan_iter(key(name, "*"))
        if k != key(name, "next").encode()
    }


def test_a_config_or_shard_of_another_type(redis_url: str, index_name: str, client: Any) -> None:
    s = filled(redis_url, index_name)
    shards = sorted(client.scan_iter(key(index_name, "p:*")))
    client.delete(shards[0])
    client.set(shards[0], "x")

    def search_all() -> None:
        for example in EXAMPLES:  # one of them reads the shard
            s.search(example)

    with pytest.raises(IndexFormatError, match=f"key '{shards[0].decode()}'"):
        search_all()
    with pytest.raises(IndexFormatError, match=f"key '{shards[0].decode()}'"):
        s.add_examples(EXAMPLES)
    client.delete(key(index_name, "config"))
    client.hset(key(index_name, "config"), "a", "b")
    with pytest.raises(IndexFormatError, match=f"key '{key(index_name, 'config')}'"):
        selector(redis_url, index_name)


def test_garbage_values_are_index_format_errors_naming_the_key(
    redis_url: str, index_name: str, client: Any
) -> None:
    s = filled(redis_url, index_name)
    client.hset(key(index_name, "tok"), "0", b"1234567")  # odd-length token blob
    tok = f"key '{key(index_name, 'tok')}'"
    with pytest.raises(IndexFormatError, match=f"{tok}.*row 0"):
        s.search({"q": "alpha beta gamma"})
    with pytest.raises(IndexFormatError, match=tok):
        s.audit()
    with pytest.raises(IndexFormatError, match=tok):
        s.remove_example("0")
    other = f"{index_name}-b"
    t = filled(redis_url, other)
    client.hset(key(other, "id"), "1", "not a row")
    with pytest.raises(IndexFormatError, match=f"key '{key(other, 'id')}'.*'not a row'"):
        t.remove_example("1")
    assert "id '1' does not point to row 1" in t.audit()["problems"]
    client.hset(key(other, "doc"), "x7", json.dumps({"id": "z", "example": {"q": "z"}}))
    with pytest.raises(IndexFormatError, match=f"key '{key(other, 'doc')}'.*'x7'"):
        _ = t.ids


def test_a_posting_of_the_wrong_size_in_a_bucket(
    redis_url: str, index_name: str, client: Any
) -> None:
    s = filled(redis_url, index_name)
    for bucket in client.scan_iter(key(index_name, "p:*")):
        for field, rows in client.hgetall(bucket).items():
            client.hset(bucket, field, rows + b"\x00")  # not whole 4-byte rows
    problem = r"key 'niche:\{.*\}:p:[0-9a-f]+'.*5 bytes, not a multiple of 4"
    with pytest.raises(IndexFormatError, match=problem):
        s.search({"q": "alpha beta gamma"})
    with pytest.raises(IndexFormatError, match=problem):
        s.add_examples([{"q": "alpha beta gamma"}])  # the posting it would extend
    with pytest.raises(IndexFormatError, match=problem):
        s.remove_example("0")
    assert len(s) == 3  # the failed write and removal changed nothing
    assert any("posting of 5 bytes" in p for p in s.audit()["problems"])


def test_an_index_of_the_previous_format_is_refused_with_how_to_rebuild(
    redis_url: str, index_name: str, client: Any
) -> None:
    """An index written by the sorted-set layout (version 1) is never read."""
    config = {"format": "langchain-niche-minhash-redis", "version": 1, "index": {}}
    client.set(key(index_name, "config"), json.dumps({**config, "input_keys": ["q"]}))
    client.zadd(key(index_name, "lsh:0001"), {b"\x00" * 12: 0})
    client.hset(key(index_name, "doc"), "0", json.dumps({"id": "0", "example": {"q": "a"}}))
    for kwargs in ({}, {"input_keys": ["q"]}):
        with pytest.raises(IndexFormatError, match=r"format version 1; .*reads version 2") as info:
            selector(redis_url, index_name, **kwargs)
        assert "langchain_niche build" in str(info.value)
        assert "--redis-url" in str(info.value)
    assert client.get(key(index_name, "config")) is not None  # left as it was


@pytest.mark.parametrize("value", [2**32 - 2, -10, "abc", 2**63])
def test_a_row_counter_out_of_range_or_not_a_number(
    redis_url: str, index_name: str, client: Any, value: Any
) -> None:
    s = selector(redis_url, index_name)
    client.set(key(index_name, "next"), str(value))
    with pytest.raises(IndexFormatError, match=f"key '{key(index_name, 'next')}'"):
        s.add_examples(EXAMPLES)
    assert len(s) == 0


@pytest.mark.parametrize(
    ("stored", "setting"),
    [
        ({"num_perm": "x"}, "num_perm"),
        ({"lsh_weights": 5}, "lsh_weights"),
        ({"lsh_threshold": 7}, "lsh_threshold"),
        ({"seed": -1}, "seed"),
        ({"ngram_range": [1]}, "ngram_range"),
        ({"analyzer": "morse"}, "analyzer"),
    ],
)
def test_invalid_stored_settings_name_the_config_key(
    redis_url: str, index_name: str, client: Any, stored: dict[str, Any], setting: str
) -> None:
    config = {
        "format": "langchain-niche-minhash-redis",
        "version": 2,
        "bucket_bits": 10,
        "index": stored,
    }
    client.set(key(index_name, "config"), json.dumps({**config, "input_keys": ["q"]}))
    with pytest.raises(IndexFormatError, match=f"key '{key(index_name, 'config')}'.*{setting}"):
        MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    client.set(key(index_name, "config"), json.dumps({**config, "input_keys": "q"}))
    with pytest.raises(IndexFormatError, match="input_keys"):
        MinHashExampleSelector(redis_url=redis_url, index_name=index_name)


def test_a_database_out_of_range_names_the_url(redis_server: RedisServer) -> None:
    url = f"redis://:S3cret@127.0.0.1:{redis_server.port}/99"
    with pytest.raises(StoreUnavailableError, match="/99") as info:
        selector(url, "x")
    assert "S3cret" not in str(info.value)


@pytest.fixture(scope="module")
def guarded(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A redis-server requiring a password full of URL delimiters."""
    with RedisServer(password="S3cr#t@p/ss?:x") as server:
        yield server


@pytest.mark.parametrize("form", ["userinfo", "user and password", "query"])
def test_unencoded_delimiters_in_a_password_work(guarded: RedisServer, form: str) -> None:
    secret = guarded.password
    assert secret is not None
    location = f"127.0.0.1:{guarded.port}/0"
    url = {
        "userinfo": f"redis://:{secret}@{location}",
        "user and password": f"redis://default:{secret}@{location}",
        "query": f"redis://{location}?password={secret}",
    }[form]
    s = selector(url, f"pw-{form.replace(' ', '-')}")
    s.add_examples(EXAMPLES)
    assert s.search({"q": "alpha beta gamma"})[0].example == EXAMPLES[0]
    wrong = url.replace(secret, "Wr0ng#p@ss/x")
    with pytest.raises(StoreUnavailableError, match="credentials") as info:
        selector(wrong, "pw")
    assert "Wr0ng" not in str(info.value)
    assert "Wr0ng" not in repr(info.value)
    assert "Wr0ng" not in info.value.url
