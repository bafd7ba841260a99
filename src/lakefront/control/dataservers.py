"""The data tier's servers in the services profile (the RDS, ElastiCache and S3 roles), run under var/, and the
Spark standalone cluster (the EMR role's cluster) when process.spark_cluster asks for one.

A server is started only when the settings give no endpoint for its role (`managed_servers()`);
given an endpoint (RDS, ElastiCache, S3 on AWS), `up` uses it and starts nothing. A managed server
that dies is restarted on its own data directory, as a managed service restarts a failed node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")


def _mariadb(settings: Settings) -> Any:
    from lakefront.servers.mariadb import managed_mariadb

    return managed_mariadb(settings)


def _redis(settings: Settings) -> Any:
    from lakefront.servers.redis import managed_redis

    return managed_redis(settings)


def _seaweedfs(settings: Settings) -> Any:
    from lakefront.servers.seaweedfs import managed_seaweedfs

    return managed_seaweedfs(settings)


def _spark(settings: Settings) -> Any:
    from lakefront.servers.spark import managed_spark

    return managed_spark(settings)


# topology component id -> (server name, starter)
SERVERS: dict[str, tuple[str, Callable[[Settings], Any]]] = {
    "database": ("mariadb", _mariadb),
    "cache": ("redis", _redis),
    "object_store": ("seaweedfs", _seaweedfs),
    "emr": ("spark", _spark),
}


@dataclass
class Managed:
    name: str
    component: str
    server: Any
    port: int
    restarts: int = 0

    def alive(self) -> bool:
        running = getattr(self.server, "running", None)
        if isinstance(running, bool):  # a server of several processes (the Spark cluster) says for itself
            return running
        proc = getattr(self.server, "proc", None)
        return proc is not None and proc.poll() is None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component, "pid": self.server.pid, "port": self.port,
                "restarts": self.restarts}


def endpoint(settings: Settings, component: str) -> str:
    """Where the role's endpoint is, managed or given, without secrets."""
    if component == "database":
        from sqlalchemy.engine import make_url

        return make_url(settings.writer_url).render_as_string(hide_password=True)
    if component == "cache":
        if settings.cache_backend == "redis":
            return settings.redis_url
        return str(settings.cache_path) if settings.cache_backend == "embedded" else "no cache"
    if component == "emr":
        return settings.spark_master
    return settings.s3_endpoint or str(settings.objects_root)


class DataServers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.servers: dict[str, Managed] = {}

    def _port(self, component: str) -> int:
        return {"database": self.settings.db.port, "cache": self.settings.cache.port,
                "object_store": self.settings.objects.s3_port, "emr": self.settings.process.spark_port}[component]

    def start(self, component: str) -> None:
        name, starter = SERVERS[component]
        if name not in self.settings.managed_servers():
            log.info("%s: using the endpoint from the settings: %s", component, endpoint(self.settings, component))
            return
        server = starter(self.settings)
        self.servers[component] = Managed(name, component, server, self._port(component))
        log.info("%s: %s ready on 127.0.0.1:%d (pid %s)", component, name, self._port(component), server.pid)

    def tick(self) -> bool:
        """Restart any managed server that died; True when something changed."""
        changed = False
        for component, managed in self.servers.items():
            if managed.alive():
                continue
            log.warning("%s: %s (pid %s) exited; restarting it on its data directory", component, managed.name,
                        managed.server.pid)
            _, starter = SERVERS[component]
            managed.server = starter(self.settings)
            managed.restarts += 1
            log.info("%s: %s back on 127.0.0.1:%d (pid %s)", component, managed.name, managed.port,
                     managed.server.pid)
            changed = True
        return changed

    def describe(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.servers.values()]

    def stop(self) -> None:
        for managed in reversed(list(self.servers.values())):
            try:
                managed.server.stop()
                log.info("%s: %s stopped", managed.component, managed.name)
            except Exception as exc:  # stopping must go on for the others
                log.warning("%s: %s did not stop cleanly: %s", managed.component, managed.name, exc)
        self.servers.clear()
