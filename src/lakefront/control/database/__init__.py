"""The database pair (RDS Multi-AZ role): a primary and a standby MariaDB, and the failover monitor.

Two nodes live under var/: db-1 (var/mariadb, db.port) and db-2 (var/mariadb-2, db.standby_port).

- Replication: GTID, semi-synchronous with the wait point AFTER_SYNC (lossless: a commit becomes
  visible and is acknowledged only after the standby has it in its relay log). Semi-sync waiting is
  enabled on the primary only once a standby is replicating. db.standby_loss decides what a commit
  does while the standby is away (see settings.py); the monitor never promotes a standby that was
  not in sync at the last status check.
- Every node starts read-only (servers/mariadb.py): a node that restarts, old primaries included,
  is fenced until the monitor promotes it. The application user has no privilege that overrides
  read_only; the monitor's heartbeat goes through that same user, so it is refused by a fenced node.

One module per concept, wired here by `DatabaseCluster`, the only thing `up` talks to:

    nodes.py      the two nodes (a MariaDBServer and its Replication each)
    roles.py      who is primary (var/db-roles.json), what is published (var/run/db-endpoints.json,
                  which every app instance follows without a restart), the role changes so far
    heartbeat.py  the probe: a write through the primary, and the failures counted against it
    standby.py    attaching a standby (replicated, or rebuilt from a dump when it holds transactions
                  the primary lacks: servers/replication.py:diverged) and restarting dead nodes
    failover.py   failover and planned switchover
    monitor.py    the thread that probes, fails over, recovers and observes
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lakefront.control.database.failover import ClusterError, RoleChanges
from lakefront.control.database.heartbeat import Heartbeat
from lakefront.control.database.monitor import Monitor
from lakefront.control.database.nodes import REPL_USER, repl_password
from lakefront.control.database.roles import FailoverEvent, Roles
from lakefront.control.database.standby import Standby
from lakefront.servers.base import HOST
from lakefront.settings import Settings

__all__ = ["ClusterError", "DatabaseCluster", "FailoverEvent"]

log = logging.getLogger("lakefront.control")


class DatabaseCluster:
    def __init__(self, settings: Settings, *, on_change: Callable[[], None] | None = None) -> None:
        """`on_change` is called (from the monitor's and the nodes' threads) when roles or events change."""
        self.settings = settings
        self.roles = Roles(settings, on_change)
        self.nodes = self.roles.nodes
        self.heartbeat = Heartbeat(self.roles)
        self.standby_keeper = Standby(self.roles, self.heartbeat)
        self.changes = RoleChanges(self.roles, self.heartbeat, self.standby_keeper)
        self.monitor = Monitor(self.roles, self.heartbeat, self.standby_keeper, self.changes)

    def start(self) -> None:
        """Start both nodes, make the primary writable and the standby replicate, publish, monitor."""
        s = self.settings
        for node in self.nodes.values():
            node.server.initialize()
            node.server.start(s.log_dir / f"mariadb-{node.name}.log")
        for node in self.nodes.values():
            node.server.wait_ready()
        roles = self.roles
        primary = self.nodes[roles.primary]
        primary.server.ensure_database(s.db.name, s.db.user, s.db.password.get_secret_value())
        primary.repl.ensure_replication_user(REPL_USER, repl_password(s))
        primary.repl.promote()
        roles.save()
        roles.publish()
        log.info("database: %s is the primary on %s:%d", roles.primary, HOST, primary.port)
        self.standby_keeper.rejoin(self.nodes[roles.standby])
        self.monitor.start()

    def stop(self) -> None:
        self.monitor.stop()
        for node in self.nodes.values():
            try:
                node.server.stop()
            except Exception as exc:  # stopping must go on for the other node
                log.warning("database: %s did not stop cleanly: %s", node.name, exc)
        self.standby_keeper.shutdown()

    def request_switchover(self, request_id: str | None = None) -> str:
        """Queue a planned switchover for the monitor thread; returns its id."""
        return self.monitor.request_switchover(request_id)

    def switchover(self, request_id: str | None = None) -> FailoverEvent:
        """Planned: swap primary and standby with no lost and no failed write."""
        return self.changes.switchover(request_id)

    def failover(self, reason: str) -> FailoverEvent | None:
        """The primary is lost: promote the standby. Refused (returns None) when that could lose commits."""
        return self.changes.failover(reason)

    def describe(self) -> dict[str, Any]:
        roles = self.roles
        nodes = []
        for node in self.nodes.values():
            status = self.monitor.last_status.get(node.name, {})
            nodes.append({"name": node.name, "port": node.port, "pid": node.server.pid, "restarts": node.restarts,
                          "role": "primary" if node.name == roles.primary else "standby",
                          "alive": node.alive(), "rejoining": node.busy or node.needs_rejoin,
                          "read_only": status.get("read_only")})
        return {"primary": roles.primary, "standby": roles.standby, "readers": list(roles.readers),
                "generation": roles.generation, "standby_loss": self.settings.db.standby_loss,
                "semi_sync_timeout_ms": roles.semi_sync_timeout_ms, "standby_in_sync": roles.standby_in_sync,
                "nodes": nodes, "failovers": [e.as_dict() for e in roles.events],
                "failover_refused": roles.refused}
