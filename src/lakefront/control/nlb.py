"""The Network Load Balancer role: a stable TCP endpoint for the database writer (what an RDS cluster's writer
endpoint is) that follows failover. HAProxy (servers/haproxy.py) listens on nlb.port; its backend has one
server per database node, and only the current primary is in state ready.

It follows the control plane, not its own health checks: `follow()` is called with every endpoints document
the failover monitor publishes (control/database/roles.py), synchronously, before the monitor goes on.

- Writer gone (a failover or switchover begins: "writer": null): every node goes into maintenance and its
  sessions are cut, before the old primary is fenced; new clients are refused until a writer is published.
- New writer published: the other nodes stay in maintenance; the new one is set ready (its address updated
  first if it moved). So the old primary is in maintenance before the new one takes a connection, and a
  restarted old primary (read-only, rejoining as the standby) never gets one.
- Same writer published again (the standby rejoined): nothing changes, no session is cut.

Changes go through HAProxy's runtime API, never a reload: a reload leaves the old process serving its
established sessions (to the old primary) until they end, and restarts the health checks. A HAProxy that
dies is restarted by `tick()` with a config that already names the current writer.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from lakefront.control.database import DatabaseCluster
from lakefront.data.endpoints import Endpoints
from lakefront.servers.base import HOST
from lakefront.servers.haproxy import HAProxyError, HAProxyServer, Target
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")


class WriterEndpoint:
    """HAProxy in front of the database nodes, kept pointing at the published writer."""

    def __init__(self, server: HAProxyServer) -> None:
        self.server = server
        self.restarts = 0
        self.changes = 0
        """Times the writer it points at changed (including to none)."""
        self.last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def writer(self) -> str | None:
        return self.server.writer

    def start(self) -> None:
        """Start HAProxy pointing at the current writer and wait until its runtime API answers."""
        with self._lock:
            self.server.start_ready(self.server.log_path)
        log.info("nlb: writer endpoint %s:%d -> %s", self.server.host, self.server.port, self.writer or "none")

    def follow(self, endpoints: Endpoints) -> None:
        """Point the endpoint at `endpoints.writer` (None: at nothing). Never raises: a failure is logged and
        the next publish or tick() applies the state again."""
        writer = endpoints.writer
        with self._lock:
            if writer is not None:
                published = Target(writer.node, writer.host, writer.port)
                if writer.node not in {t.name for t in self.server.targets}:
                    # Not a node of the pair (it cannot be, with the managed pair): safer to point at nothing.
                    log.error("nlb: writer %s is not a node behind the endpoint; pointing at none", writer.node)
                    writer = None
                else:  # its address as published (set_ready moves it if it changed)
                    self.server.targets = [published if t.name == published.name else t for t in self.server.targets]
            before, self.server.writer = self.server.writer, writer.node if writer else None
            if before != self.server.writer:
                self.changes += 1
                log.info("nlb: writer endpoint %s -> %s (endpoints %d)", before or "none",
                         self.server.writer or "none", endpoints.generation)
            self._apply()

    def _apply(self) -> bool:
        """Make HAProxy's state match `writer`: every other node in maintenance first, then the writer ready."""
        if not self.server.running:
            return False  # its next start renders the current writer
        try:
            servers = self.server.servers()
            for name, row in servers.items():
                if name != self.server.writer and not row["status"].startswith("MAINT"):
                    self.server.set_maint(name)
                    log.info("nlb: %s in maintenance, its sessions cut", name)
            if self.server.writer is not None:
                target = next(t for t in self.server.targets if t.name == self.server.writer)
                current = servers.get(target.name)
                if current is None:
                    raise HAProxyError(f"{target.name} is not in the running config")
                if current["status"].startswith("MAINT") or current["addr"] != f"{target.host}:{target.port}":
                    self.server.set_ready(target.name, target.host, target.port)
                    log.info("nlb: %s ready at %s:%d", target.name, target.host, target.port)
            self.last_error = None
            return True
        except (HAProxyError, OSError, KeyError, StopIteration) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("nlb: could not point the writer endpoint at %s: %s", self.server.writer or "none",
                      self.last_error)
            return False

    def tick(self) -> bool:
        """Restart a HAProxy that died (its config names the current writer), and apply the state again if the
        last change failed; True when something changed."""
        with self._lock:
            if self.server.running:
                if self.last_error is not None:
                    return self._apply()
                return False
            log.warning("nlb: haproxy (pid %s) exited; restarting it -> %s", self.server.pid,
                        self.server.writer or "none")
            try:
                self.server.restart()
            except HAProxyError as exc:
                self.last_error = str(exc)
                log.error("nlb: restart failed: %s", exc)
                return True
            self.restarts += 1
            self.last_error = None
            return True

    def stop(self) -> None:
        with self._lock:
            self.server.stop()

    def server_entry(self) -> dict[str, Any]:
        """Its line in the run state's list of servers (what `lakefront down` names)."""
        return {"name": "haproxy nlb", "component": "nlb", "pid": self.server.pid, "port": self.server.port,
                "restarts": self.restarts}

    def describe(self) -> dict[str, Any]:
        target = next((t for t in self.server.targets if t.name == self.server.writer), None)
        return {"host": self.server.host, "port": self.server.port, "pid": self.server.pid,
                "restarts": self.restarts, "writer": self.server.writer,
                "writer_address": f"{target.host}:{target.port}" if target else None, "changes": self.changes,
                "socket": str(self.server.socket_path), "last_error": self.last_error}


def nlb_for(settings: Settings, db: DatabaseCluster | None) -> WriterEndpoint:
    """The NLB `up` runs under var/run/haproxy (log: haproxy.log), not yet started: in front of the pair's
    nodes, following every writer it publishes from now on; or in front of the single managed node."""
    if db is not None:
        targets = [Target(name, HOST, node.port) for name, node in db.nodes.items()]
        writer: str | None = db.roles.primary
    else:
        targets, writer = [Target("db-1", HOST, settings.db.port)], "db-1"
    nlb = settings.nlb
    server = HAProxyServer(settings.run_dir / "haproxy", nlb.port, targets, writer=writer,
                           check_interval_ms=nlb.check_interval_ms, idle_timeout_s=nlb.idle_timeout_s,
                           host=settings.lb.host)
    server.log_path = settings.log_dir / "haproxy.log"
    endpoint = WriterEndpoint(server)
    if db is not None:
        db.roles.listeners.append(endpoint.follow)
    return endpoint


__all__ = ["WriterEndpoint", "nlb_for"]
