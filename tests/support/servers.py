"""Throwaway MariaDB and Redis servers for tests, independent of pytest.

Each runs on a free loopback port in a directory of its own and is fully torn down on exit:
processes gone, directories removed, no socket left behind. MariaDB datadirs are copies of one
template installed once per process (copying is several times faster than installing again).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from lakefront.servers.mariadb import MariaDBServer, install_datadir
from lakefront.servers.procs import free_port, free_port_run
from lakefront.servers.redis import RedisServer
from lakefront.servers.redis_cluster import RedisCluster
from lakefront.servers.replication import Replication

APP_USER = "app"
APP_PASSWORD = "app-secret"

_template_lock = threading.Lock()
_template_dir: Path | None = None
_server_ids = count(1)


def mariadb_template() -> Path:
    """A freshly installed datadir, made on first use and removed when the process exits."""
    global _template_dir
    with _template_lock:
        if _template_dir is None:
            parent = Path(tempfile.mkdtemp(prefix="lakefront-mariadb-template-"))
            atexit.register(shutil.rmtree, parent, True)
            install_datadir(parent / "data")
            _template_dir = parent / "data"
        return _template_dir


@dataclass
class MariaDBHandle:
    server: MariaDBServer
    user: str = APP_USER
    password: str = APP_PASSWORD
    _databases: set[str] = field(default_factory=set)
    _names: Iterator[int] = field(default_factory=lambda: count(1))

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, db: str = "lakefront") -> str:
        """SQLAlchemy URL of database `db` as the app user, creating the database on first use."""
        if db not in self._databases:
            self.server.ensure_database(db, self.user, self.password)
            self._databases.add(db)
        return self.server.url(db, self.user, self.password)

    def fresh_url(self, prefix: str = "t") -> str:
        """A URL of a database nobody has used yet: tests sharing one server stay apart."""
        return self.url(f"{prefix}_{os.getpid()}_{next(self._names)}")


@dataclass
class RedisHandle:
    server: RedisServer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def throwaway_mariadb(tmp_dir: Path | None = None, *, server_id: int | None = None,
                      writable: bool = True) -> Iterator[MariaDBHandle]:
    """A started, ready MariaDB in a new directory under `tmp_dir` (default: the system temp dir).

    Nodes start read-only (fenced by construction). A `writable` server is a standalone primary: promoted
    at once and configured to restart writable (fault tests stop and restart the session's server);
    writable=False gives a node as the control plane has it, for replication tests.
    """
    root = Path(tempfile.mkdtemp(prefix="mariadb-", dir=tmp_dir))
    server = MariaDBServer(root=root, port=free_port(), server_id=server_id or next(_server_ids),
                           read_only_at_start=not writable)
    try:
        server.initialize(template=mariadb_template())
        server.start(root / "mariadbd.out")
        server.wait_ready()
        if writable:
            Replication(server).promote()
        yield MariaDBHandle(server)
    finally:
        try:
            server.stop()
        finally:
            server.cleanup()
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_redis(tmp_dir: Path | None = None) -> Iterator[RedisHandle]:
    """A started Redis answering PING, in a new directory under `tmp_dir` (default: the system temp dir)."""
    root = Path(tempfile.mkdtemp(prefix="redis-", dir=tmp_dir))
    server = RedisServer(dir=root, port=free_port())
    try:
        server.start(root / "redis.log")
        server.wait_ready()
        yield RedisHandle(server)
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_redis_cluster(tmp_dir: Path | None = None, *, primaries: int = 3, replicas: int = 1,
                            node_timeout_ms: int = 2000) -> Iterator[RedisCluster]:
    """A created, healthy Redis Cluster (3 primaries + 3 replicas by default) on free loopback ports."""
    root = Path(tempfile.mkdtemp(prefix="redis-cluster-", dir=tmp_dir))
    cluster = RedisCluster(root, free_port_run(primaries * (1 + replicas) + 4), primaries, replicas, node_timeout_ms)
    try:
        cluster.start_ready(root)
        yield cluster
    finally:
        try:
            cluster.stop(timeout=5)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def flush_cluster(cluster: RedisCluster) -> None:
    """Empty every primary (FLUSHALL does not cross nodes). Each running node is asked its own role: one
    node's CLUSTER NODES can still call a node primary that a failover has just made a replica."""
    import redis

    for server in cluster.nodes:
        if not server.running:
            continue
        with redis.Redis(host=cluster.host, port=server.port) as client:
            if client.execute_command("ROLE")[0] in (b"master", "master"):
                client.flushall()


def listener_pids(port: int) -> set[int]:
    """Pids of the processes listening on TCP `port` (any address), read from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(parts[9])
    return {pid for pid in _pids() if inodes & _socket_inodes(pid)} if inodes else set()


def listen_addresses(port: int) -> set[str]:
    """Addresses (hex, as /proc shows them) on which something listens on TCP `port`."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                address, hex_port = parts[1].rsplit(":", 1)
                if parts[3] == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1 in /proc/net/tcp's little-endian hex


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes
