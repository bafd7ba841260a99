"""Redis (the ElastiCache role) from Debian's packages: start, wait, stop, and faults for tests.

No persistence, in var/ as in tests: the cache only ever holds copies of database rows (cache-aside,
every reader tolerates a miss), so an empty cache after a restart is correct, merely slower; an
RDB or AOF file would only add disk writes and stale entries that outlive their invalidation.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakefront.servers.procs import crash, port_open, spawn, terminate, wait_until_ready

if TYPE_CHECKING:
    from lakefront.settings import Settings

log = logging.getLogger("lakefront.servers")

HOST = "127.0.0.1"
_SEARCH_DIRS = (Path("/usr/bin"), Path("/usr/sbin"), Path("/usr/local/bin"))


class RedisError(RuntimeError):
    """Redis could not be found or started; the message is one line."""


def redis_binary() -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    for directory in _SEARCH_DIRS:
        if (directory / "redis-server").is_file():
            return directory / "redis-server"
    raise RedisError("redis-server not found on PATH or /usr/bin; install it with: apt-get install redis-server")


@dataclass
class RedisServer:
    """A Redis server working in `dir`, listening on 127.0.0.1:`port` only."""

    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def argv(self) -> list[str]:
        return [str(redis_binary()), "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", str(self.dir.resolve())]

    def start(self, log_path: Path | None = None) -> None:
        """Start redis-server (tied to this process's life); returns at once, see wait_ready()."""
        if self.running:
            raise RedisError(f"redis on port {self.port} is already running (pid {self.pid})")
        if port_open(HOST, self.port, timeout=0.2):
            raise RedisError(f"port {self.port} on {HOST} is already in use; choose another port")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv(), log_path=log_path or self.dir / "redis.log")
        log.info("redis started on %s:%d (pid %d)", HOST, self.port, self.proc.pid)

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Block until PING is answered; returns the seconds waited."""
        import redis

        def ping() -> bool:
            with redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
                return bool(client.ping())

        waited = wait_until_ready(self.proc, ping, what=f"redis on port {self.port}", error=RedisError,
                                  timeout=timeout, interval=0.02, retry_on=(redis.RedisError,))
        log.info("redis on %s:%d ready after %.2fs", HOST, self.port, waited)
        return waited

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; resumes a paused server first so it sees the SIGTERM."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        killed = terminate(proc, timeout)
        log.info("redis on port %d stopped (pid %d%s)", self.port, proc.pid, ", killed" if killed else "")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        crash(proc)
        log.info("redis on port %d killed (pid %d)", self.port, proc.pid)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered, like an overloaded cache node."""
        self._signal(signal.SIGSTOP)
        log.info("redis on port %d paused", self.port)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        log.info("redis on port %d resumed", self.port)

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running or self.proc is None:
            raise RedisError(f"redis on port {self.port} is not running")
        self.proc.send_signal(signum)


def managed_redis(settings: Settings, *, timeout: float = 15.0) -> RedisServer:
    """The services profile's cache under var/redis on settings.cache.port, started and answering PING."""
    server = RedisServer(dir=settings.var_dir / "redis", port=settings.cache.port)
    server.start(settings.log_dir / "redis.log")
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server
