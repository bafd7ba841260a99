"""The data tier's servers in the services profile (the RDS, ElastiCache and S3 roles), run under var/, and the
Spark standalone cluster (the EMR role's cluster) when process.spark_cluster asks for one.

A server is started only when the settings give no endpoint for its role (`managed_servers()`);
given an endpoint (RDS, ElastiCache, S3 on AWS), `up` uses it and starts nothing. A managed server
that dies is restarted on its own data directory, as a managed service restarts a failed node. A restart
that fails (its port taken, its disk full, a datadir it refuses) is reported (log, `lakefront status`) and
tried again with exponential backoff, not fatal to `up`: the clients already tolerate the server's absence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakefront.data.endpoints import writer_url
from lakefront.servers import managed
from lakefront.servers.managed import ManagedServer
from lakefront.servers.redis_cluster import RedisCluster
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")

SERVERS = managed.ROLES
"""Topology component id -> the server `up` runs for it."""


@dataclass
class Managed:
    name: str
    component: str
    server: ManagedServer
    restarts: int = 0
    failures: int = 0
    """Failed restarts in a row (0 once one succeeds)."""
    last_error: str | None = None
    retry_at: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component, "pid": self.server.pid,
                "port": self.server.port, "restarts": self.restarts, "failed_restarts": self.failures,
                "last_error": self.last_error}


RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


def endpoint(settings: Settings, component: str) -> str:
    """Where the role's endpoint is, managed or given, without secrets."""
    if component == "database":
        from sqlalchemy.engine import make_url

        return make_url(writer_url(settings)).render_as_string(hide_password=True)
    if component == "cache":
        if settings.cache_backend == "redis":
            return settings.redis_url
        return str(settings.cache_path) if settings.cache_backend == "embedded" else "no cache"
    if component == "emr":
        return settings.spark_master
    return settings.s3_endpoint or str(settings.objects_root)


class DataServers:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.servers: dict[str, Managed] = {}
        self._clock = clock
        self.cache_requests: list[dict[str, Any]] = []
        """`lakefront cache add-node/remove-node` requests, in order, with their outcome."""
        self._reshard = threading.Lock()

    @property
    def cache_cluster(self) -> RedisCluster | None:
        entry = self.servers.get("cache")
        return entry.server if entry is not None and isinstance(entry.server, RedisCluster) else None

    def change_cache(self, request: dict[str, Any], on_change: Any) -> None:
        """Run one add-node/remove-node request in a thread of its own (slots move for tens of seconds while
        the supervisor keeps ticking); its outcome goes into `cache_requests` and `on_change()` saves it."""
        entry: dict[str, Any] = {"id": str(request.get("id", ""))[:40], "op": request.get("op"), "finished": False,
                                 "step": "moving slots"}
        self.cache_requests.append(entry)
        self.cache_requests[:] = self.cache_requests[-20:]

        def run() -> None:
            started = time.monotonic()
            cluster = self.cache_cluster
            try:
                if cluster is None:
                    raise ValueError("this system runs no cache cluster")
                with self._reshard:  # one reshard at a time
                    if entry["op"] == "add-node":
                        entry["ports"] = cluster.add_node(replica=bool(request.get("replica", True)))
                    elif entry["op"] == "remove-node":
                        port = request.get("port")
                        entry["ports"] = cluster.remove_node(int(port) if port is not None else None)
                    else:
                        raise ValueError(f"unknown cache request {entry['op']!r}")
                log.info("cache: %s done: nodes %s in %.1fs", entry["op"], entry["ports"], time.monotonic() - started)
            except Exception as exc:  # a request must never take the system down
                entry["error"] = f"{type(exc).__name__}: {exc}"
                log.error("cache: %s failed: %s", entry["op"], entry["error"])
            entry["duration_s"] = round(time.monotonic() - started, 2)
            entry["finished"] = True
            on_change()

        on_change()
        threading.Thread(target=run, name="cache-reshard", daemon=True).start()

    def start(self, component: str) -> None:
        name = SERVERS[component]
        if name not in self.settings.managed_servers():
            log.info("%s: using the endpoint from the settings: %s", component, endpoint(self.settings, component))
            return
        server = managed.start(self.settings, component)
        self.servers[component] = Managed(name, component, server)
        log.info("%s: %s ready on %s:%d (pid %s)", component, name, server.host, server.port, server.pid)

    def tick(self) -> bool:
        """Restart any managed server that died, or retry one whose restart failed once its backoff has passed;
        True when something changed."""
        changed = False
        for component, entry in self.servers.items():
            if entry.server.running or self._clock() < entry.retry_at:
                continue
            if component == "cache" and self._reshard.locked():
                continue  # (a reshard stops the nodes it removes: not a failure)
            if entry.failures == 0:
                log.warning("%s: %s (pid %s) exited; restarting it on its data directory", component, entry.name,
                            entry.server.pid)
            try:
                managed.restart(self.settings, entry.server)
            except Exception as exc:  # any failure: report it and try again later, never stop `up`
                entry.failures += 1
                entry.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                wait = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (entry.failures - 1))
                entry.retry_at = self._clock() + wait
                log.error("%s: %s restart failed (%d in a row), next try in %.0fs: %s", component, entry.name,
                          entry.failures, wait, entry.last_error)
                changed = True
                continue
            entry.restarts += 1
            entry.failures, entry.last_error, entry.retry_at = 0, None, 0.0
            log.info("%s: %s back on %s:%d (pid %s)", component, entry.name, entry.server.host, entry.server.port,
                     entry.server.pid)
            changed = True
        return changed

    def describe(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.servers.values()]

    def describe_cache(self) -> dict[str, Any] | None:
        cluster = self.cache_cluster
        if cluster is None:
            return None
        return {"ports": [n.port for n in cluster.nodes], "requests": self.cache_requests}

    def stop(self) -> None:
        for entry in reversed(list(self.servers.values())):
            try:
                entry.server.stop()
                log.info("%s: %s stopped", entry.component, entry.name)
            except Exception as exc:  # stopping must go on for the others
                log.warning("%s: %s did not stop cleanly: %s", entry.component, entry.name, exc)
        self.servers.clear()
