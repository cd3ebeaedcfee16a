"""Redis URLs: strict parsing, unencoded delimiters in passwords, no secret in any message."""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from langchain_niche import (
    InvalidParameterError,
    MinHashExampleSelector,
    RedisUrlError,
    StoreUnavailableError,
)
from langchain_niche.minhash.redis.url import RedisUrl, parse_redis_url, redact_url

pytest.importorskip("redis")

SPECIAL_PASSWORDS = ["p#ss:word", "p@ss@word", "pa/ss/word", "p?ss", "a b=c", "x]y[z"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://:p@ss@host/1", "redis://:***@host/1"),
        ("redis://u:p/w#x?y@[::1]:7000/2?db=2", "redis://u:***@[::1]:7000/2?db=2"),
        ("redis://host/0?password=p@ss#w&db=3", "redis://host/0?password=***&db=3"),
        ("redis://name@host", "redis://***@host"),
        ("unix://u:p@w@/run/redis.sock?db=1", "unix://u:***@/run/redis.sock?db=1"),
        ("redis://u:p#w@host:99999/0", "redis://u..."),  # not parsable: cut
        ("no url at all p@ss", "<not a URL>"),
    ],
)
def test_redacted_urls(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:0/0",
        "redis://127.0.0.1:port/0",
        "redis://[::1/0",
        "redis://[::1]x:6379/0",
        "redis://127.0.0.1:6379/zero",
        "redis://",
        "http://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/0?foo=1",
        "redis://127.0.0.1:6379/0?socket_timeout=100",
    ],
)
def test_a_malformed_url_is_an_invalid_parameter_naming_it(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="redis_url") as info:
        MinHashExampleSelector(redis_url=url, input_keys=["q"])
    assert info.value.name == "redis_url"
    # issue 10 names StoreUnavailableError for a malformed URL: it is both
    assert isinstance(info.value, RedisUrlError)
    assert isinstance(info.value, StoreUnavailableError)
    assert info.value.url == info.value.value
    assert url.split("://", maxsplit=1)[0] in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = _closed_port()  # connection refused: fails fast, on loopback
URL_SHAPES = [
    "redis://user:{pw}@127.0.0.1:{port}/0",
    "redis://:{pw}@127.0.0.1:{port}/0",
    "rediss://user:{pw}@127.0.0.1:{port}/0",
    "redis://127.0.0.1:{port}/0?password={pw}",
    "redis://127.0.0.1:{port}/0?db=0&password={pw}&socket_timeout=1",
    "redis://user:{pw}@127.0.0.1:99999/0",
    "redis://user:{pw}@[::1:{port}/0",
    "redis://user:{pw}@127.0.0.1:{port}/x",
    "redis://user:{pw}",
    "redis://{pw}@127.0.0.1:{port}/0",
    "unix://user:{pw}@/nonexistent/redis.sock",
    "{pw}",
]


def parsed_or_problem(url: str) -> tuple[RedisUrl | None, str]:
    try:
        return parse_redis_url(url), ""
    except ValueError as exc:
        return None, str(exc)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tail=st.text(
        alphabet=st.sampled_from("abcXYZ019#@/?:%&=+!$'()*,;[] ~-._"), min_size=0, max_size=12
    ),
    shape=st.sampled_from(URL_SHAPES),
)
def test_no_password_ever_appears_in_an_error_or_a_redacted_url(tail: str, shape: str) -> None:
    password = "S3cr" + tail  # a marker the rest of any message cannot contain
    url = shape.format(pw=password, port=CLOSED)
    assume(password not in shape.format(pw="", port=CLOSED))
    # 'redis://S3cr:x@host' reads user 'S3cr' (shown) and password 'x' (masked)
    assume(not (shape.startswith("redis://{pw}@") and ":" in tail))
    assert password not in redact_url(url)
    parsed, problem = parsed_or_problem(url)
    assert password not in problem
    if parsed is not None:
        assert password not in parsed.safe
        # a password like 'S3cr@h?x' makes 'h' the host: nothing to connect to here
        assume(parsed.host in ("127.0.0.1", ""))
    with pytest.raises((StoreUnavailableError, InvalidParameterError)) as info:
        MinHashExampleSelector(redis_url=url, input_keys=["q"], redis_timeout=1)
    error = info.value
    for shown in (
        str(error),
        repr(error),
        str(getattr(error, "url", "")),
        str(getattr(error, "value", "")),
    ):
        assert password not in shown


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_a_password_reaches_redis_py_as_written(password: str) -> None:
    # redis-py decodes user names, passwords and options: they are passed encoded
    from redis.connection import parse_url  # noqa: PLC0415

    for url in (
        f"redis://user:{password}@host:6379/2",
        f"redis://host:6379/2?password={password}",
    ):
        options = parse_url(parse_redis_url(url).connect_url)
        assert options["password"] == password
        assert options["host"] == "host"
        assert options["db"] == 2
    assert parse_redis_url("redis://:p%40ss@host").password == "p@ss"  # encoded stays valid
