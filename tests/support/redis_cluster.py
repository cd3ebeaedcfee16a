"""A throwaway Redis Cluster (3 masters + 3 replicas) on free 127.0.0.1 ports, for tests.

``LocalRedisCluster`` starts Debian's ``redis-server`` six times, cluster-enabled,
each node in its own temporary directory, forms the cluster with
``redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`` and waits
until every node reports ``cluster_state:ok``, knows every other node and every
replica's link to its master is up (so a failover can happen at once). Helpers
kill a master, wait for its replica to take over, restart a node and move a
slot between masters, which is what the cluster tests need to provoke
failovers, ``MOVED`` and ``ASK``.

Only loopback is ever used: every server binds ``127.0.0.1``, and its cluster bus
port is chosen explicitly (``cluster-port``, Redis >= 7.0) instead of the
default ``port + 10000``, which may not exist above port 55535.

The name avoids confusion with ``redis.cluster.RedisCluster`` (the client).
Admin commands go through redis-py (``redis.Redis``) to one node at a time.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["ClusterError", "ClusterNodeProcess", "LocalRedisCluster"]

HOST = "127.0.0.1"
SLOTS = 16384
T = TypeVar("T")


class ClusterError(RuntimeError):
    """The local cluster could not be started or did not reach the expected state in time."""


def _free_port_pair() -> tuple[int, int]:
    """Two TCP ports (client and cluster bus) that were free on 127.0.0.1 a moment ago."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as b,
    ):
        a.bind((HOST, 0))
        b.bind((HOST, 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_for(
    what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something other than ``None``/``False`` (bounded)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
        except Exception as exc:
            last_error = exc
            value = None
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            msg = f"timed out after {timeout:.1f} s waiting for {what}{detail}"
            raise ClusterError(msg)
        time.sleep(interval)


@dataclass(eq=False)
class ClusterNodeProcess:
    """One ``redis-server`` of the cluster: its ports, directory and process."""

    index: int
    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "redis.log"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` (database 0, the only one a cluster has)."""
        return f"redis://{HOST}:{self.port}"

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: Any) -> Any:
        """A plain ``redis.Redis`` connected to this node only (for admin commands)."""
        import redis  # noqa: PLC0415

        kwargs.setdefault("socket_timeout", 5.0)
        kwargs.setdefault("socket_connect_timeout", 5.0)
        return redis.Redis(host=HOST, port=self.port, **kwargs)

    def node_id(self) -> str:
        """The node's cluster id (``CLUSTER MYID``)."""
        with self.client() as c:
            return str(c.execute_command("CLUSTER MYID").decode())

    def __repr__(self) -> str:
        state = "alive" if self.alive else "down"
        return f"<node {self.index} {self.address} {state}>"


class LocalRedisCluster:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, on loopback.

    Example:
        ```python
        with LocalRedisCluster() as cluster:
            client = redis.cluster.RedisCluster.from_url(cluster.urls[0])
            client.set("a", 1)
            old = cluster.kill_master(client.keyslot("a"))
            cluster.wait_failover(old)
        ```

    Args:
        masters: Master nodes (at least 3, as ``redis-cli --cluster create`` requires).
        replicas: Replicas per master.
        node_timeout_ms: ``cluster-node-timeout``: how long a master may be
            unreachable before its replica is promoted.
        start_timeout: Seconds to start every server and form the cluster.
        extra_args: More ``redis-server`` arguments for every node (e.g.
            ``["--hash-max-listpack-entries", "256"]``).
    """

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        *,
        node_timeout_ms: int = 1000,
        start_timeout: float = 30.0,
        extra_args: list[str] | None = None,
        redis_server: str | None = None,
        redis_cli: str | None = None,
    ) -> None:
        if masters < 3:
            msg = f"a Redis Cluster needs at least 3 masters, got {masters}"
            raise ValueError(msg)
        server = redis_server or shutil.which("redis-server")
        cli = redis_cli or shutil.which("redis-cli")
        if server is None or cli is None:
            missing = "redis-server" if server is None else "redis-cli"
            msg = f"{missing} not found (Debian: apt-get install redis-server redis-tools)"
            raise FileNotFoundError(msg)
        self.server_binary = server
        self.cli_binary = cli
        self.masters_wanted = masters
        self.replicas_wanted = replicas
        self.node_timeout_ms = node_timeout_ms
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args or [])
        self.nodes: list[ClusterNodeProcess] = []
        self.formation_seconds: float | None = None
        """Seconds from starting the first server to ``cluster_state:ok`` everywhere."""
        self._root: tempfile.TemporaryDirectory[str] | None = None

    # -- addresses ------------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """``redis://127.0.0.1:PORT`` of every node (any one of them is enough for a client)."""
        return [node.url for node in self.nodes]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every node, e.g. for ``redis.cluster.ClusterNode(*pair)``."""
        return [(HOST, node.port) for node in self.nodes]

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.cluster.RedisCluster`` knowing every node of this cluster."""
        from redis.cluster import ClusterNode, RedisCluster  # noqa: PLC0415

        nodes = [ClusterNode(host, port) for host, port in self.startup_nodes]
        return RedisCluster(startup_nodes=nodes, **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        """A ``redis.asyncio.cluster.RedisCluster`` knowing every node of this cluster."""
        from redis.asyncio.cluster import ClusterNode, RedisCluster  # noqa: PLC0415

        nodes = [ClusterNode(host, port) for host, port in self.startup_nodes]
        return RedisCluster(startup_nodes=nodes, **kwargs)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Start every server, form the cluster and wait until it is fully up.

        Raises:
            ClusterError: A server did not start or the cluster did not form within
                ``start_timeout`` seconds (every process started is stopped again).
        """
        started = time.monotonic()
        deadline = started + self.start_timeout
        self._root = tempfile.TemporaryDirectory(prefix="niche-cluster-")
        try:
            total = self.masters_wanted * (1 + self.replicas_wanted)
            for i in range(total):
                directory = Path(self._root.name) / f"node{i}"
                directory.mkdir()
                node = ClusterNodeProcess(index=i, port=0, bus_port=0, directory=directory)
                self.nodes.append(node)
                self._launch(node, new_ports=True, deadline=deadline)
            self._create(deadline)
            self.wait_healthy(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        self.formation_seconds = time.monotonic() - started

    def _args(self, node: ClusterNodeProcess) -> list[str]:
        return [
            self.server_binary,
            "--port", str(node.port),
            "--bind", HOST,
            "--cluster-enabled", "yes",
            "--cluster-port", str(node.bus_port),
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-replica-validity-factor", "0",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(node.directory),
            "--logfile", str(node.log),
            "--loglevel", "notice",
            *self.extra_args,
        ]  # fmt: skip

    def _launch(self, node: ClusterNodeProcess, *, new_ports: bool, deadline: float) -> None:
        """Start one server; with ``new_ports``, retry on other ports if they were taken."""
        attempts = 5 if new_ports else 1
        for _attempt in range(attempts):
            if new_ports:
                node.port, node.bus_port = _free_port_pair()
            node.process = subprocess.Popen(
                self._args(node),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=node.directory,
            )
            limit = min(deadline, time.monotonic() + 10)
            while time.monotonic() < limit and node.alive:
                if _ping(node.port):
                    return
                time.sleep(0.02)
            self._kill(node)  # port taken meanwhile (the server exits), or too slow
        msg = f"redis-server did not start on {node.address} (log: {self._log_tail(node)})"
        raise ClusterError(msg)

    def _create(self, deadline: float) -> None:
        command = [
            self.cli_binary,
            "--cluster", "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas", str(self.replicas_wanted),
            "--cluster-yes",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            msg = "redis-cli --cluster create did not finish in time"
            raise ClusterError(msg) from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            msg = f"redis-cli --cluster create failed ({result.returncode}): {output}"
            raise ClusterError(msg)

    def stop(self) -> None:
        """Kill every server (SIGKILL after a short SIGTERM grace) and remove the directories.

        Safe to call more than once and after a failed start.
        """
        errors: list[BaseException] = []
        for node in self.nodes:
            try:
                self._kill(node, grace=2.0)
            except BaseException as exc:
                errors.append(exc)
        self.nodes = []
        if self._root is not None:
            with contextlib.suppress(OSError):
                self._root.cleanup()
            self._root = None
        if errors:
            raise errors[0]

    @staticmethod
    def _kill(node: ClusterNodeProcess, grace: float = 0.0) -> None:
        process, node.process = node.process, None
        if process is None:
            return
        if process.poll() is None:
            if grace > 0:
                process.terminate()
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    process.kill()
            else:
                process.kill()
        process.wait(timeout=10)

    def __enter__(self) -> LocalRedisCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------
    def live_nodes(self) -> list[ClusterNodeProcess]:
        """Nodes whose process runs."""
        return [node for node in self.nodes if node.alive]

    def _node_by_port(self, port: int) -> ClusterNodeProcess:
        for node in self.nodes:
            if node.port == port:
                return node
        msg = f"no node of this cluster listens on port {port}"
        raise ClusterError(msg)

    def topology(self) -> list[dict[str, Any]]:
        """``CLUSTER NODES`` as seen by a live node: id, port, flags, master id, slots."""
        for node in self.live_nodes():
            try:
                return self._node_view(node)
            except Exception:
                continue
        msg = "no live node answered CLUSTER NODES"
        raise ClusterError(msg)

    def masters(self) -> list[ClusterNodeProcess]:
        """Nodes that are masters serving slots (live ones, per a live node's view)."""
        found = []
        for entry in self.topology():
            if "master" in entry["flags"] and "fail" not in entry["flags"] and entry["slots"]:
                node = self._node_by_port(entry["port"])
                if node.alive:
                    found.append(node)
        return found

    def replicas_of(self, master: ClusterNodeProcess) -> list[ClusterNodeProcess]:
        """Live replicas of ``master`` (per a live node's view)."""
        master_id = master.node_id() if master.alive else self._id_of_port(master.port)
        return [
            self._node_by_port(entry["port"])
            for entry in self.topology()
            if entry["master"] == master_id and self._node_by_port(entry["port"]).alive
        ]

    def _id_of_port(self, port: int) -> str:
        for entry in self.topology():
            if entry["port"] == port:
                return str(entry["id"])
        msg = f"port {port} is not in the cluster's node table"
        raise ClusterError(msg)

    def owner(self, slot: int) -> ClusterNodeProcess:
        """The live master serving ``slot`` now."""
        for entry in self.topology():
            if "master" in entry["flags"] and any(lo <= slot <= hi for lo, hi in entry["slots"]):
                return self._node_by_port(entry["port"])
        msg = f"no master serves slot {slot}"
        raise ClusterError(msg)

    def keyslot(self, key: str | bytes) -> int:
        """The hash slot of ``key`` (``CLUSTER KEYSLOT`` on a live node)."""
        with self.live_nodes()[0].client() as c:
            return int(c.execute_command("CLUSTER KEYSLOT", key))

    def _node_view(self, node: ClusterNodeProcess) -> list[dict[str, Any]]:
        """``CLUSTER NODES`` of one node (redis-py parses it into a dict by address)."""
        with node.client() as c:
            parsed = c.execute_command("CLUSTER NODES")
        return [_node_entry(address, entry) for address, entry in parsed.items()]

    def health_problem(self) -> str | None:
        """What keeps the cluster from being healthy now, or ``None`` when it is."""
        live = self.live_nodes()
        if not live:
            return "no node is running"
        views = set()
        for node in live:
            with node.client() as c:
                info = _parse_info(c.execute_command("CLUSTER INFO"))
                replication = c.info("replication")
            if info.get("cluster_state") != "ok":
                return f"{node!r}: cluster_state:{info.get('cluster_state')}"
            if int(info.get("cluster_slots_ok", 0)) != SLOTS:
                return f"{node!r}: cluster_slots_ok:{info.get('cluster_slots_ok')}"
            if int(info.get("cluster_known_nodes", 0)) < len(self.nodes):
                return f"{node!r}: cluster_known_nodes:{info.get('cluster_known_nodes')}"
            if replication.get("role") == "slave" and (
                replication.get("master_link_status") != "up"
                or replication.get("master_sync_in_progress")
            ):
                return f"{node!r}: replica link {replication.get('master_link_status')}"
            view = self._node_view(node)
            views.add(
                tuple(
                    sorted(
                        (entry["port"], tuple(entry["slots"]))
                        for entry in view
                        if "master" in entry["flags"] and entry["slots"]
                    )
                )
            )
        if len(views) != 1:
            return f"nodes disagree about the slot map ({len(views)} views)"
        return None

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every live node says ``cluster_state:ok``, all slots are served,
        replicas are in sync and every node sees the same slot map.

        Raises:
            ClusterError: Not within ``timeout`` seconds (naming what was still wrong).
        """
        last: list[str | None] = [None]

        def healthy() -> bool:
            last[0] = self.health_problem()
            return last[0] is None

        try:
            _wait_for("a healthy cluster", healthy, timeout)
        except ClusterError as exc:
            msg = f"{exc}; still: {last[0]}"
            raise ClusterError(msg) from None

    # -- faults ---------------------------------------------------------------------
    def _as_node(self, slot_or_node: int | ClusterNodeProcess) -> ClusterNodeProcess:
        if isinstance(slot_or_node, ClusterNodeProcess):
            return slot_or_node
        return self.owner(slot_or_node)

    def kill_master(
        self, slot_or_node: int | ClusterNodeProcess, *, hard: bool = False
    ) -> ClusterNodeProcess:
        """Stop the master serving a slot (or the given node) without saving anything.

        Args:
            slot_or_node: A hash slot (its master is killed) or a node.
            hard: ``SIGKILL`` the process instead of ``SHUTDOWN NOSAVE``.

        Returns:
            The killed node (pass it to :meth:`wait_failover` / :meth:`restart_node`).
        """
        node = self._as_node(slot_or_node)
        if node.process is None:
            msg = f"{node!r} is not running"
            raise ClusterError(msg)
        if hard:
            node.process.send_signal(signal.SIGKILL)
        else:
            with contextlib.suppress(Exception), node.client() as c:
                c.execute_command("SHUTDOWN", "NOSAVE")
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=10)
        node.process = None
        return node

    def wait_failover(self, old_master: ClusterNodeProcess, timeout: float = 30.0) -> float:
        """Wait until a replica of ``old_master`` (now dead) serves its slots, and the
        cluster is healthy again.

        Args:
            old_master: The node returned by :meth:`kill_master`.
            timeout: Seconds at most.

        Returns:
            Seconds waited.

        Raises:
            ClusterError: No replica took over within ``timeout``.
        """
        started = time.monotonic()
        old_port = old_master.port

        def promoted() -> bool:
            for entry in self.topology():
                if entry["port"] == old_port:
                    return "master" not in entry["flags"] or not entry["slots"]
            return False

        deadline = started + timeout
        _wait_for(f"a replica of {old_master.address} to take over", promoted, timeout)
        self.wait_healthy(timeout=max(0.1, deadline - time.monotonic()))
        return time.monotonic() - started

    def restart_node(self, node: ClusterNodeProcess, timeout: float = 30.0) -> None:
        """Start a stopped node again on its ports and directory (its ``nodes.conf`` is
        kept, so an old master rejoins as a replica of its promoted replica), then
        wait until the cluster is healthy.
        """
        if node.alive:
            msg = f"{node!r} is still running"
            raise ClusterError(msg)
        deadline = time.monotonic() + timeout
        self._launch(node, new_ports=False, deadline=deadline)
        self.wait_healthy(timeout=max(0.1, deadline - time.monotonic()))

    # -- resharding ---------------------------------------------------------------
    def begin_migration(self, slot: int, dest: ClusterNodeProcess) -> ClusterNodeProcess:
        """Mark ``slot`` IMPORTING on ``dest`` and MIGRATING on its owner (keys stay).

        From now on the owner answers ``ASK`` for keys of the slot it no longer has.

        Returns:
            The source master.
        """
        source = self.owner(slot)
        if source is dest:
            msg = f"slot {slot} is already served by {dest!r}"
            raise ClusterError(msg)
        dest_id, source_id = dest.node_id(), source.node_id()
        with dest.client() as c:
            c.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        with source.client() as c:
            c.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dest_id)
        return source

    def move_keys(
        self, slot: int, source: ClusterNodeProcess, dest: ClusterNodeProcess, count: int = 100
    ) -> int:
        """``MIGRATE`` at most ``count`` keys of ``slot`` from ``source`` to ``dest``.

        Returns:
            Keys moved (0 when the slot is empty on the source).
        """
        with source.client() as c:
            keys = c.execute_command("CLUSTER GETKEYSINSLOT", slot, count)
            if keys:
                c.execute_command("MIGRATE", HOST, dest.port, "", 0, 5000, "REPLACE", "KEYS", *keys)
        return len(keys)

    def finish_migration(self, slot: int, dest: ClusterNodeProcess) -> None:
        """Assign ``slot`` to ``dest`` on every live master (``CLUSTER SETSLOT NODE``)."""
        dest_id = dest.node_id()
        with dest.client() as c:
            c.execute_command("CLUSTER SETSLOT", slot, "NODE", dest_id)
        for node in self.masters():
            if node is dest:
                continue
            with node.client() as c:
                c.execute_command("CLUSTER SETSLOT", slot, "NODE", dest_id)

    def migrate_slot(
        self,
        slot: int,
        dest: ClusterNodeProcess,
        *,
        batch: int = 100,
        between_batches: Callable[[], object] | None = None,
    ) -> ClusterNodeProcess:
        """Move ``slot`` with all its keys to ``dest`` (SETSLOT IMPORTING/MIGRATING,
        MIGRATE in batches, SETSLOT NODE), calling ``between_batches`` after each
        batch (e.g. to read while the slot is half moved).

        Returns:
            The former owner.
        """
        source = self.begin_migration(slot, dest)
        while self.move_keys(slot, source, dest, batch):
            if between_batches is not None:
                between_batches()
        self.finish_migration(slot, dest)
        return source

    def reshard(
        self,
        source: ClusterNodeProcess,
        dest: ClusterNodeProcess,
        slots: int,
        timeout: float = 60.0,
    ) -> None:
        """Move ``slots`` slots from ``source`` to ``dest`` with ``redis-cli --cluster reshard``."""
        command = [
            self.cli_binary,
            "--cluster", "reshard", dest.address,
            "--cluster-from", source.node_id(),
            "--cluster-to", dest.node_id(),
            "--cluster-slots", str(slots),
            "--cluster-yes",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            msg = f"redis-cli --cluster reshard did not finish in {timeout} s"
            raise ClusterError(msg) from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            msg = f"redis-cli --cluster reshard failed ({result.returncode}): {output}"
            raise ClusterError(msg)

    def flushall(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.masters():
            with node.client() as c:
                c.flushall()

    @staticmethod
    def _log_tail(node: ClusterNodeProcess, lines: int = 5) -> str:
        try:
            text = node.log.read_text(errors="replace")
        except OSError:
            return "no log"
        return " | ".join(text.strip().splitlines()[-lines:])


def _parse_info(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):  # redis-py parses CLUSTER INFO already
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def _node_entry(address: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One node of redis-py's parsed ``CLUSTER NODES``: id, port, flags, master id, slots."""
    master = entry.get("master_id")
    return {
        "id": entry["node_id"],
        "port": int(address.split("@", 1)[0].rsplit(":", 1)[1]),
        "flags": set(str(entry["flags"]).split(",")),
        "master": master if master not in (None, "-") else None,
        "connected": bool(entry.get("connected")),
        "slots": [(int(r[0]), int(r[-1])) for r in entry.get("slots", [])],
    }
