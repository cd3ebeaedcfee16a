"""Redis URLs: parsed strictly, passed on percent-encoded, shown without secrets.

``redis://[[user]:password@]host[:port][/db][?option=value&...]`` (``rediss://``
the same over TLS) and ``unix://[[user]:password@]/path/to/socket[?db=N&...]``.

Passwords are often pasted unencoded, so the userinfo may hold any character,
``@``, ``/``, ``#``, ``?`` and ``:`` included: it ends at the first ``@`` after
which the rest of the URL reads as a host (or, for ``unix://``, a path). A
query value may hold ``#`` and ``@`` too (Redis URLs have no fragment). The URL
handed to redis-py is rebuilt with every user name, password and query value
percent-encoded, so redis-py (which decodes them) gets the intended values.

What is shown in messages (:func:`redact_url`) never holds a password: the
password and every query value but a numeric ``db`` become ``***``, and a URL
that does not parse is cut before its first ``:``, ``@``, ``/``, ``?`` or ``#``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from langchain_niche.errors import InvalidParameterError, RedisUrlError, preview

__all__ = [
    "RedisUrl",
    "check_index_name",
    "check_redis_url",
    "parse_redis_url",
    "redact_url",
]

SCHEMES = ("redis", "rediss", "unix")
_HOST_PORT_DB = re.compile(
    r"(?P<host>\[[0-9A-Za-z:.%]+\]|[A-Za-z0-9._~-]+)"
    r"(?::(?P<port>[0-9]*))?"
    r"(?P<path>/[0-9]*)?"
    r"(?:\?(?P<query>.*))?",
    re.S,
)
_SOCKET_PATH = re.compile(r"(?P<path>/[^?]*)(?:\?(?P<query>.*))?", re.S)
_MAX_PORT = 65535
OPTIONS = frozenset(
    {
        "db", "username", "password", "client_name", "protocol", "health_check_interval",
        "socket_keepalive", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile",
        "ssl_keyfile", "ssl_password", "ssl_check_hostname", "ssl_ciphers", "ssl_min_version",
        "ssl_validate_ocsp", "ssl_validate_ocsp_stapled",
    }
)  # fmt: skip
"""URL options passed on to redis-py."""
OWN_OPTIONS = {
    "socket_timeout": "redis_timeout",
    "socket_connect_timeout": "redis_timeout",
    "timeout": "redis_timeout",
    "retry_on_timeout": "redis_timeout",
    "retry_on_error": "redis_timeout",
    "max_connections": "redis_max_connections",
}
"""URL options the selector sets itself (from the setting named)."""


@dataclass(frozen=True)
class RedisUrl:
    """A parsed Redis URL (see the module docstring)."""

    scheme: str
    username: str | None
    password: str | None
    host: str
    """Host name, IPv4 address or bracketed IPv6 address (``""`` for ``unix://``)."""
    port: int | None
    path: str
    """``""``, ``"/"`` or ``"/DB"``; the socket's path for ``unix://``."""
    query: tuple[tuple[str, str | None], ...]
    """Options in order (``None``: an option without ``=``)."""

    @property
    def connect_url(self) -> str:
        """The URL for redis-py, every secret and value percent-encoded."""
        userinfo = ""
        if self.username is not None or self.password is not None:
            userinfo = quote(self.username or "", safe="")
            if self.password is not None:
                userinfo += ":" + quote(self.password, safe="")
            userinfo += "@"
        query = "&".join(
            quote(name, safe="")
            if value is None
            else f"{quote(name, safe='')}={quote(value, safe='')}"
            for name, value in self.query
        )
        return f"{self.scheme}://{userinfo}{self._location()}" + (f"?{query}" if query else "")

    @property
    def safe(self) -> str:
        """The URL without secrets, for messages."""
        userinfo = ""
        if self.password is not None:
            userinfo = f"{self.username or ''}:***@"
        elif self.username is not None:
            userinfo = "***@"  # a lone userinfo may be a password
        options = []
        for name, value in self.query:
            if value is None:
                options.append("***")
            elif name == "db" and value.isdigit():
                options.append(f"db={value}")
            else:
                options.append(f"{quote(name, safe='')}=***")
        query = "&".join(options)
        return f"{self.scheme}://{userinfo}{self._location()}" + (f"?{query}" if query else "")

    def _location(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.host}{port}{quote(self.path, safe='/')}"


def _query(text: str | None) -> tuple[tuple[str, str | None], ...]:
    if not text:
        return ()
    pairs: list[tuple[str, str | None]] = []
    for item in text.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        pairs.append((unquote(name), unquote(value) if sep else None))
    return tuple(pairs)


def _cut(url: str) -> str:
    """What of an unparsable URL may be shown: up to its first ``: @ / ? #`` after the scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<not a URL>"
    lead = re.split(r"[:@/?#]", rest, maxsplit=1)[0]
    tail = "..." if len(lead) < len(rest) else ""
    return f"{scheme[:10]}://{lead[:100]}{tail}"


def _candidate(scheme: str, rest: str, at: int) -> RedisUrl | None:
    """The URL read with its userinfo ending at ``rest[at]`` (``-1``: none), if it fits the grammar."""
    grammar = _SOCKET_PATH if scheme == "unix" else _HOST_PORT_DB
    match = grammar.fullmatch(rest[at + 1 :])
    if match is None:
        return None
    username: str | None = None
    password: str | None = None
    if at >= 0:
        name, colon, secret = rest[:at].partition(":")
        if colon:
            username, password = unquote(name) or None, unquote(secret)
        else:  # 'redis://name@host': redis-py reads a user name (shown masked)
            username = unquote(name)
    groups = match.groupdict()
    port = groups.get("port")
    return RedisUrl(
        scheme=scheme,
        username=username,
        password=password,
        host=groups.get("host") or "",
        port=int(port) if port else (0 if port == "" else None),
        path=groups.get("path") or "",
        query=_query(groups.get("query")),
    )


def _problem(url: RedisUrl) -> str | None:
    """What is wrong with a URL that fits the grammar (``None``: nothing)."""
    if url.port is not None and not 1 <= url.port <= _MAX_PORT:
        return f"the port must be 1-{_MAX_PORT}, got {url.port}"
    for name, _ in url.query:
        if name in OWN_OPTIONS:
            return f"set {OWN_OPTIONS[name]}=... instead of the URL option {name!r}"
        if name not in OPTIONS:
            shown = repr(name) if name.isidentifier() else "an option"  # may be part of a secret
            return f"unknown option {shown} (known: {', '.join(sorted(OPTIONS))})"
    return None


def parse_redis_url(url: str) -> RedisUrl:
    """Parse a Redis URL (see the module docstring).

    Args:
        url: The URL.

    Returns:
        Its parts.

    Raises:
        ValueError: The URL is malformed; the message shows it without secrets.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        msg = f"expected a redis://, rediss:// or unix:// URL, got {_cut(url)!r}"
        raise ValueError(msg)
    scheme = scheme.lower()
    # the userinfo ends at the first '@' after which the rest reads as a valid location
    fitting: RedisUrl | None = None
    for at in [-1, *(i for i, c in enumerate(rest) if c == "@")]:
        candidate = _candidate(scheme, rest, at)
        if candidate is not None:
            if _problem(candidate) is None:
                return candidate
            fitting = candidate  # the last one hides the most: the safest to show
    if fitting is not None:
        msg = f"Redis URL {fitting.safe!r}: {_problem(fitting)}"
        raise ValueError(msg)
    shape = (
        "unix://[[user]:password@]/path/to/socket[?db=N]"
        if scheme == "unix"
        else "redis://[[user]:password@]host[:port][/db][?option=value]"
    )
    msg = f"not a valid Redis URL ({shape}): {_cut(url)!r}"
    raise ValueError(msg)


def redact_url(url: str) -> str:
    """The URL without its secrets (for messages and logs); never raises.

    The password and query values (except a numeric ``db``) become ``***``; a
    URL that does not parse is shown only up to its first ``:``, ``@``, ``/``,
    ``?`` or ``#`` after the scheme.

    Args:
        url: A URL.

    Returns:
        The URL without its secrets.
    """
    try:
        return parse_redis_url(url).safe
    except ValueError:
        return _cut(url)


def check_index_name(value: Any) -> None:
    """Check an ``index_name``: 1-200 ASCII letters, digits or ``-_.:``."""
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= 200
        and all(c.isalnum() or c in "-_.:" for c in value)
        and value.isascii()
    )
    if not ok:
        msg = (
            "index_name must be 1-200 ASCII letters, digits or '-_.:' characters, "
            f"got {preview(value)}"
        )
        raise InvalidParameterError(msg, name="index_name", value=value)


def check_redis_url(value: Any) -> None:
    """Check a ``redis_url`` (``None`` or a parseable URL); errors never show a password."""
    if value is None:
        return
    if not isinstance(value, str):  # its repr could hold a password: only the type is shown
        msg = f"redis_url must be None or a redis://, rediss:// or unix:// URL, got a {type(value).__name__}"
        raise InvalidParameterError(msg, name="redis_url", value=type(value).__name__)
    try:
        parse_redis_url(value)
    except ValueError as exc:
        msg = f"redis_url: {exc}"
        raise RedisUrlError(msg, url=redact_url(value)) from None
