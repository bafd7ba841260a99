"""Redis (the ElastiCache role) from Debian's packages: start, wait, stop, and faults for tests.

No persistence, in var/ as in tests: the cache only ever holds copies of database rows (cache-aside,
every reader tolerates a miss), so an empty cache after a restart is correct, merely slower; an
RDB or AOF file would only add disk writes and stale entries that outlive their invalidation.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from lakefront.servers.base import HOST, Server, ServerError, system_binary

log = logging.getLogger("lakefront.servers")

_SEARCH_DIRS = (Path("/usr/bin"), Path("/usr/sbin"), Path("/usr/local/bin"))
CLUSTER_BUS_OFFSET = 10000
"""A cluster node talks to the others on its port + 10000 (Redis's fixed offset)."""


class RedisError(ServerError):
    """Redis could not be found or started; the message is one line."""


def redis_binary(name: str = "redis-server") -> Path:
    found = system_binary((name,), _SEARCH_DIRS)
    if found is not None:
        return found
    raise RedisError(f"{name} not found on PATH or /usr/bin; install it with: apt-get install redis-server")


@dataclass
class RedisServer(Server):
    """A Redis server working in `dir`, listening on 127.0.0.1:`port` only."""

    kind = "redis"
    error = RedisError
    ready_timeout_s = 15.0
    poll_s = 0.02

    dir: Path
    port: int
    cluster_node_timeout_ms: int | None = None
    """Set: a Redis Cluster node (servers/redis_cluster.py), its bus on port + 10000, its view of the
    cluster kept in dir/nodes.conf so that a restarted node rejoins with its identity."""

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,) if self.cluster_node_timeout_ms is None else (self.port, self.port + CLUSTER_BUS_OFFSET)

    def argv(self) -> list[str]:
        argv = [str(redis_binary()), "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", str(self.dir.resolve())]
        if self.cluster_node_timeout_ms is not None:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(self.cluster_node_timeout_ms),
                     # A primary marked failed leaves its slots uncovered until its replica is promoted;
                     # with the default (yes) every node then refuses every key (CLUSTERDOWN), so the
                     # whole cache went cold for a node's failure. The other nodes keep serving theirs.
                     "--cluster-require-full-coverage", "no",
                     # A replica's first copy starts at once, not after the default 5 s wait for more
                     # replicas to share one transfer (each primary has one): until it has its copy, a
                     # replica cannot take over from a dead primary.
                     "--repl-diskless-sync-delay", "0"]
        return argv

    def default_log_path(self) -> Path:
        return self.dir / "redis.log"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def ready(self) -> bool:
        """PING is answered."""
        import redis

        with redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.RedisError,)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered, like an overloaded cache node."""
        self._signal(signal.SIGSTOP)
        log.info("%s paused", self.label)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        log.info("%s resumed", self.label)

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running or self.proc is None:
            raise RedisError(f"{self.label} is not running")
        self.proc.send_signal(signum)
