"""Throwaway redis-servers on free 127.0.0.1 ports, and the faults the Redis tests inject.

* :class:`RedisServer`: a real ``redis-server``; with ``appendonly=True`` it
  keeps an append-only file (``appendfsync always``), so it can be killed
  (:meth:`~RedisServer.kill`, ``SIGKILL``) and restarted on the same port
  (:meth:`~RedisServer.restart`) with the writes acknowledged before the kill.
* :func:`busy_server`: another client keeps the server busy with a Lua script
  (Redis serves nobody else meanwhile; commands sent meanwhile run afterwards,
  even when their client has given up).
* :func:`pause_clients`: ``CLIENT PAUSE`` from another client.
* :class:`SilentServer`: a TCP server that accepts connections and never
  answers (counts the connections it accepted).
* :func:`start_writer`: a separate process writing examples (to ``SIGKILL``
  mid-write), see :mod:`tests.support.minhash_writer`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

__all__ = [
    "RedisServer",
    "SilentServer",
    "busy_server",
    "free_port",
    "pause_clients",
    "start_writer",
]

ROOT = Path(__file__).resolve().parents[2]

# Keeps Redis busy for ARGV[1] seconds (measured with TIME, which advances inside scripts).
_BUSY_LUA = """
local t = redis.call('TIME')
local start = tonumber(t[1]) + tonumber(t[2]) / 1e6
while true do
  local n = redis.call('TIME')
  if tonumber(n[1]) + tonumber(n[2]) / 1e6 - start >= tonumber(ARGV[1]) then return 1 end
end
"""


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _resp(*args: str) -> bytes:
    """A command in the Redis protocol (RESP arrays of bulk strings)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _command(port: int, *args: str, timeout: float = 5.0, password: str | None = None) -> bytes:
    """Send one command on a fresh connection (after ``AUTH``) and return the raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if password is not None:
            sock.sendall(_resp("AUTH", password))
            if not sock.recv(64).startswith(b"+OK"):
                msg = "AUTH failed"
                raise RuntimeError(msg)
        sock.sendall(_resp(*args))
        return sock.recv(4096)


def _answers(port: int, within: float) -> bool:
    """Whether the server answers a PING within ``within`` seconds (``NOAUTH`` counts)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=within) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """Starts ``redis-server`` and stops it on exit.

    Args:
        binary: The ``redis-server`` executable (default: found on ``PATH``).
        appendonly: Keep an append-only file, synced at every write
            (``appendfsync always``), in the server's directory, so that the
            server can be killed and restarted without losing acknowledged writes.
        password: Require this password (``requirepass``); :attr:`url` stays
            without it.

    Example:
        ```python
        with RedisServer(appendonly=True) as server:
            server.url  # 'redis://127.0.0.1:PORT/0'
            server.kill()  # SIGKILL
            server.restart()  # same port, same data
        ```
    """

    def __init__(
        self, binary: str | None = None, *, appendonly: bool = False, password: str | None = None
    ) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            msg = "redis-server not found (Debian: apt-get install redis-server)"
            raise FileNotFoundError(msg)
        self.binary = found
        self.appendonly = appendonly
        self.password = password
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _launch(self) -> bool:
        assert self._dir is not None
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"]
            if self.appendonly
            else ["--appendonly", "no"]
        )
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                *persistence,
                *(["--requirepass", self.password] if self.password is not None else []),
                "--dir", self._dir.name,
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._process.poll() is None:
            if _answers(self.port, 0.2):
                return True
            time.sleep(0.05)
        return False

    def start(self) -> None:
        """Start the server and wait until it accepts connections (10 s at most)."""
        self._dir = tempfile.TemporaryDirectory(prefix="niche-redis-")
        for _attempt in range(5):
            self.port = free_port()
            if self._launch():
                return
            self.stop()  # port taken meanwhile, or a slow start: try another port
        msg = f"redis-server ({self.binary}) did not start"
        raise RuntimeError(msg)

    def kill(self) -> None:
        """Kill the server with ``SIGKILL`` (no shutdown, no final save)."""
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()

    def restart(self) -> None:
        """Start the server again on the same port and directory (after :meth:`kill`)."""
        if self._process is not None:
            msg = "the server is running"
            raise RuntimeError(msg)
        if not self._launch():
            msg = f"redis-server did not restart on port {self.port}"
            raise RuntimeError(msg)

    def command(self, *args: str) -> bytes:
        """Send one command from a separate connection; returns the raw reply."""
        return _command(self.port, *args, password=self.password)

    def stop(self) -> None:
        """Stop the server."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stderr is not None:
            process.stderr.close()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def busy_server(port: int, seconds: float) -> Iterator[None]:
    """Keep a Redis server busy for ``seconds`` with a Lua script sent by another client.

    Returns once the server has stopped answering (the script is running); the
    ``with`` block ends after the script has finished.

    Args:
        port: The server's port on 127.0.0.1.
        seconds: How long the script runs (keep it under Redis's 5 s
            ``busy-reply-threshold``, after which others get ``BUSY`` errors).

    Raises:
        RuntimeError: The server kept answering (the script did not start).
    """
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reply = _command(port, "EVAL", _BUSY_LUA, "0", str(seconds), timeout=seconds + 30)
            if not reply.startswith(b":1"):
                errors.append(RuntimeError(f"busy script failed: {reply!r}"))
        except OSError as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    # the script runs once the server stops answering (twice in a row: not a slow reply)
    while _answers(port, 0.1) or _answers(port, 0.1):
        if done.is_set() or time.monotonic() > deadline:
            msg = f"the busy script did not start: {errors}"
            raise RuntimeError(msg)
    try:
        yield
    finally:
        thread.join(timeout=seconds + 30)
        if errors:
            raise errors[0]


def pause_clients(port: int, seconds: float, mode: str = "ALL") -> None:
    """``CLIENT PAUSE`` every other client for ``seconds`` (``mode``: ``ALL`` or ``WRITE``).

    Unlike a busy script, a command whose client gives up meanwhile is never run.
    """
    reply = _command(port, "CLIENT", "PAUSE", str(int(seconds * 1000)), mode)
    if not reply.startswith(b"+OK"):
        msg = f"CLIENT PAUSE failed: {reply!r}"
        raise RuntimeError(msg)


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers.

    Attributes:
        port: Its port.
        accepted: Number of connections accepted so far.

    Example:
        ```python
        with SilentServer() as silent:
            f"redis://127.0.0.1:{silent.port}/0"
        ```
    """

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        return len(self._connections)

    def _accept(self) -> None:
        self._server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                self._connections.append(self._server.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._connections:
            conn.close()
        self._server.close()


def start_writer(
    url: str, index: str, start: int, count: int, prefix: str, batch: int
) -> subprocess.Popen[str]:
    """Start a process writing examples (see :mod:`tests.support.minhash_writer`).

    It prints ``wrote N`` after each atomic step of ``batch`` examples; read
    ``process.stdout`` to kill it mid-write.
    """
    command = [
        sys.executable, "-m", "tests.support.minhash_writer",
        url, index, str(start), str(count), prefix, str(batch),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
