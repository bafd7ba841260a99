"""The servers `lakefront up` runs itself, kept under var/ between runs: where each lives and what it needs.

A data server runs only when the settings give no endpoint for its role (`Settings.managed_servers()`);
the balancer always runs. Each is a servers.base.Server: this module only places it (directory, ports,
log) and, after every start, gives clients what they need from it (`provision`). A new server is a
Server subclass in a module of its own plus a line here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakefront.servers.base import Server
from lakefront.servers.caddy import CaddyServer
from lakefront.servers.mariadb import MariaDBServer
from lakefront.servers.powerdns import PowerDNSServer
from lakefront.servers.redis import RedisServer
from lakefront.servers.redis_cluster import RedisCluster
from lakefront.servers.replication import Replication
from lakefront.servers.seaweedfs import SeaweedFSServer
from lakefront.servers.spark import SparkCluster
from lakefront.settings import Settings

ManagedServer = Server | SparkCluster | RedisCluster
"""A server `up` runs: one process, or a cluster (Spark, Redis: several Servers with the lifecycle of one)."""

ROLES = {"database": "mariadb", "cache": "redis", "object_store": "seaweedfs", "emr": "spark"}
"""Topology component -> the server that plays it under var/ (the name `managed_servers()` uses)."""

_READY_S = {"seaweedfs": 60.0, "spark": 90.0}
"""Longer than a throwaway server's default: var/ may hold a store that takes longer to load."""

NODE_DIRS = {"db-1": "mariadb", "db-2": "mariadb-2"}
"""The database pair's nodes under var/; db-1 keeps the single node's directory."""


def node_server(var_dir: Path, name: str, port: int, **kwargs: Any) -> MariaDBServer:
    """The MariaDB server of pair node `name` (db-1 or db-2) under `var_dir`, for the monitor, status and tests."""
    return MariaDBServer(var_dir / NODE_DIRS[name], port, server_id=int(name.removeprefix("db-")), **kwargs)


def server_for(settings: Settings, component: str) -> ManagedServer:
    """The server playing `component` under var/, ready to start (a MariaDB datadir is initialised)."""
    kind = ROLES[component]
    if kind == "spark":
        process = settings.process
        return SparkCluster(settings.var_dir / "spark", process.spark_port, process.spark_workers,
                            process.spark_worker_cores, process.spark_worker_memory)
    if kind == "mariadb":
        database = MariaDBServer(root=settings.var_dir / "mariadb", port=settings.db.port, server_id=1)
        database.initialize()
        return database
    if kind == "redis":
        cache = settings.cache
        if settings.cache_mode == "cluster":
            return RedisCluster(settings.var_dir / "redis-cluster", cache.port, cache.cluster_primaries,
                                cache.cluster_replicas, cache.cluster_node_timeout_ms)
        return RedisServer(dir=settings.var_dir / "redis", port=cache.port)
    objects = settings.objects
    return SeaweedFSServer(settings.var_dir / "seaweedfs", objects.s3_port, objects.access_key,
                           objects.secret_key.get_secret_value(), buckets=tuple(objects.buckets.values()),
                           region=objects.region)


def provision(settings: Settings, server: ManagedServer) -> None:
    """After every start, what clients need before they use it. SeaweedFS's buckets are made by its
    readiness probe; Redis needs nothing."""
    if isinstance(server, MariaDBServer):
        db = settings.db
        server.ensure_database(db.name, db.user, db.password.get_secret_value())
        # Nodes start read-only (fenced); the services profile has a single primary, writable at once.
        Replication(server).promote()


def start(settings: Settings, component: str, *, timeout: float | None = None) -> ManagedServer:
    """The server playing `component`, started, ready and provisioned; nothing is left running if it fails."""
    server = server_for(settings, component)
    kind = ROLES[component]
    if isinstance(server, SparkCluster | RedisCluster):  # one log per daemon or node, in the log directory
        server.start_ready(settings.log_dir, timeout or _READY_S.get(kind))
    else:
        server.start_ready(settings.log_dir / f"{kind}.log", timeout or _READY_S.get(kind))
    try:
        provision(settings, server)
    except BaseException:
        server.stop()
        raise
    return server


def restart(settings: Settings, server: ManagedServer) -> None:
    """Start a server that died again, on its own directory, and provision it again."""
    server.restart()
    provision(settings, server)


def balancer(settings: Settings, name: str = "lb-1", host: str | None = None) -> CaddyServer:
    """Balancer node `name`'s Caddy on `host` (default lb.host), its state under var/run/caddy (lb-1) or
    var/run/caddy-<name>, not yet started. Every node has the same admin port, on its own address."""
    work_dir = settings.run_dir / ("caddy" if name == "lb-1" else f"caddy-{name}")
    return CaddyServer(work_dir, host=host or settings.lb.host, admin_port=settings.lb.admin_port)


def dns_server(settings: Settings) -> PowerDNSServer:
    """The DNS server (Route 53 role) under var/run/pdns: the store's name answers the healthy balancer nodes."""
    dns = settings.dns
    return PowerDNSServer(settings.run_dir / "pdns", dns.port, dns.name, settings.lb.nodes, settings.lb.public_port,
                          ttl_s=dns.ttl_s, check_interval_s=dns.check_interval_s, policy=dns.policy,
                          weights=list(dns.weights), host=settings.lb.host)
