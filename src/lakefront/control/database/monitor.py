"""The failover monitor: one thread that, every db.probe_interval_s, writes the heartbeat through the primary
and fails over after db.probe_failures consecutive failures, queues the recovery of dead nodes, runs the
switchovers asked for, and about once a second observes each node's roles and semi-sync state (for
`lakefront status` and for the guard that never promotes a standby that was not in sync).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from lakefront.control.database.failover import ClusterError, RoleChanges
from lakefront.control.database.heartbeat import Heartbeat
from lakefront.control.database.roles import Roles
from lakefront.control.database.standby import Standby
from lakefront.servers.mariadb import MariaDBError

log = logging.getLogger("lakefront.control")


class Monitor:
    def __init__(self, roles: Roles, heartbeat: Heartbeat, standby: Standby, changes: RoleChanges) -> None:
        self.roles, self.heartbeat, self.standby, self.changes = roles, heartbeat, standby, changes
        self.last_status: dict[str, dict[str, Any]] = {}
        """Each node's last role_status()."""
        self._last_read_only: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._switchover_requests: list[str] = []
        self._status_every = max(1, int(1.0 / roles.settings.db.probe_interval_s))
        self._ticks = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="db-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.heartbeat.close()

    def request_switchover(self, request_id: str | None = None) -> str:
        """Queue a planned switchover for the monitor thread; returns its id."""
        request = request_id or uuid.uuid4().hex[:12]
        self._switchover_requests.append(request)
        return request

    def _run(self) -> None:
        interval = self.roles.settings.db.probe_interval_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._tick()
            except Exception:
                log.exception("database monitor: unexpected error")
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _tick(self) -> None:
        if self._switchover_requests:
            request = self._switchover_requests.pop(0)
            try:
                self.changes.switchover(request)
            except ClusterError as exc:
                log.error("database: switchover %s refused: %s", request, exc)
        self._ticks += 1
        beat, limit = self.heartbeat, self.roles.settings.db.probe_failures
        if beat.probe():
            beat.failures = 0
        else:
            if beat.failures == 0:
                beat.first_failure = time.time()
            beat.failures += 1
            if beat.failures >= limit:
                beat.failures = 0
                self.changes.failover(f"{limit} failed probes of {self.roles.primary}")
        self._restart_dead()
        if self._ticks % self._status_every == 0:
            self._observe()

    def _observe(self) -> None:
        """Roles, replication and semi-sync status of each live node (for status and the sync guard)."""
        roles = self.roles
        for node in roles.nodes.values():
            if not node.alive() or node.busy:
                continue
            try:
                self.last_status[node.name] = node.repl.role_status()
            except MariaDBError:
                continue
        primary = self.last_status.get(roles.primary, {})
        standby = roles.nodes[roles.standby]
        replicating = bool(roles.readers) and standby.alive() and not standby.needs_rejoin
        # In sync: the primary's commits currently wait for the standby (semi-sync ON).
        in_sync = replicating and primary.get("semi_sync_master_status") is True
        read_only = {name: status.get("read_only") for name, status in self.last_status.items()}
        if (in_sync, read_only) != (roles.standby_in_sync, self._last_read_only):
            roles.standby_in_sync, self._last_read_only = in_sync, read_only
            roles.changed()  # status reads the saved state: keep it current

    def _restart_dead(self) -> None:
        """Queue recovery of dead nodes and of a standby that has not rejoined (on the nodes worker)."""
        for node in self.roles.nodes.values():
            if node.busy:
                continue
            if node.name == self.roles.primary:
                if node.alive() or not self.roles.restart_in_place:
                    continue  # the probes decide: a dead primary is failed over, not restarted
            elif node.alive() and not node.needs_rejoin:
                continue
            node.busy = True
            self.standby.recover_later(node)
