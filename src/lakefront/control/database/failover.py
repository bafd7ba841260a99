"""Role changes: failover when the primary is lost, and a planned switchover (`lakefront failover`).

- Failover: publish "no writer" (app instances hold new transactions), fence or kill the old primary,
  let the standby apply everything it received, promote it, publish it as the writer. Refused, and the
  old primary restarted in place instead, when the standby is not replicating or was not in sync at the
  last status check (promoting it could lose acknowledged commits).
- Switchover (like RDS "reboot with failover"): publish "no writer", let in-flight transactions finish,
  fence the primary, wait until the standby has every GTID of it, promote, publish, and attach the old
  primary as the standby. No checkout fails: new transactions wait for the new writer (data/routing.py).
"""

from __future__ import annotations

import logging
import time
import uuid

from lakefront.control.database.heartbeat import Heartbeat
from lakefront.control.database.nodes import DbNode
from lakefront.control.database.roles import FailoverEvent, Roles, gtid_json, iso
from lakefront.control.database.standby import Standby
from lakefront.control.supervisor import now_iso

log = logging.getLogger("lakefront.control")

DRAIN_S = 0.3  # planned switchover: how long in-flight transactions get to finish before the fence


class ClusterError(RuntimeError):
    """The pair cannot do what was asked; one line."""


class RoleChanges:
    def __init__(self, roles: Roles, heartbeat: Heartbeat, standby: Standby) -> None:
        self.roles = roles
        self.heartbeat = heartbeat
        self.standby = standby

    def failover(self, reason: str) -> FailoverEvent | None:
        """The primary is lost: promote the standby. Refused (returns None) when that could lose commits."""
        roles = self.roles
        if not roles.lock.acquire(blocking=False):
            log.warning("database: primary %s lost (%s) during another role change; waiting", roles.primary, reason)
            return None
        try:
            old, new = roles.nodes[roles.primary], roles.nodes[roles.standby]
            detected = time.time()
            if not new.alive() or new.needs_rejoin or new.busy or not roles.readers:
                log.error("database: primary %s lost (%s) but %s is not a replicating standby; restarting %s "
                          "in place instead", old.name, reason, new.name, old.name)
                old.kill()
                roles.restart_in_place = True
                return None
            if roles.standby_in_sync is False and roles.settings.db.standby_loss == "continue":
                log.error("database: primary %s lost (%s) while %s was not in sync: promoting it could lose "
                          "acknowledged commits; restarting %s in place instead", old.name, reason, new.name,
                          old.name)
                old.kill()
                roles.restart_in_place = True
                return None
            started = self.heartbeat.first_failure or detected
            event = FailoverEvent(id=uuid.uuid4().hex[:12], kind="failover", reason=reason, old_primary=old.name,
                                  new_primary=new.name, started_at=iso(started))
            log.warning("database: failing over from %s to %s (%s)", old.name, new.name, reason)
            roles.readers = []
            roles.publish(writer=False)
            # Fence: a frozen primary could wake up and take writes; we own its process, so kill it
            # (STONITH). It restarts read-only and rejoins as the standby.
            if not old.repl.fence():
                log.info("database: %s unreachable; killing its process to be sure", old.name)
            old.kill()
            self._promote(new, event, started)
            old.needs_rejoin = True
            return event
        finally:
            roles.lock.release()

    def _promote(self, new: DbNode, event: FailoverEvent, started: float) -> None:
        # Apply everything the standby received (acknowledged commits are in its relay log), then promote.
        received = new.repl.received_gtid()
        if received and not new.repl.wait_for_gtid(received, timeout=30):
            log.error("database: %s did not apply its relay log within 30 s; promoting anyway", new.name)
        new.repl.promote()
        roles = self.roles
        roles.primary = new.name
        roles.save()
        self.heartbeat.reset()
        event.promoted_gtid = gtid_json(new.repl.gtid_binlog_state())
        event.promoted_at = now_iso()
        event.duration_s = round(time.time() - started, 3)
        roles.record(event)
        roles.publish()
        log.warning("database: %s promoted to primary in %.2fs (%s)", new.name, event.duration_s, event.kind)
        roles.changed()

    def switchover(self, request_id: str | None = None) -> FailoverEvent:
        """Planned: swap primary and standby with no lost and no failed write."""
        roles = self.roles
        new = roles.nodes[roles.standby]
        if not new.alive() or new.needs_rejoin or new.busy or not roles.readers:
            raise ClusterError(f"{new.name} is not a replicating standby (yet); nothing to switch over to")
        with roles.lock:
            old, new = roles.nodes[roles.primary], roles.nodes[roles.standby]
            started = time.time()
            event = FailoverEvent(id=request_id or uuid.uuid4().hex[:12], kind="switchover",
                                  reason="requested (lakefront failover)", old_primary=old.name,
                                  new_primary=new.name, started_at=iso(started))
            log.info("database: switching over from %s to %s", old.name, new.name)
            roles.readers = []
            roles.publish(writer=False)  # new transactions wait for the new writer
            time.sleep(DRAIN_S)  # in-flight ones (a checkout is milliseconds) finish on the old primary
            if not old.repl.fence():
                raise ClusterError(f"{old.name} became unreachable during the switchover")
            target = old.repl.role_status().get("gtid_binlog_pos") or ""
            if target and not new.repl.wait_for_gtid(str(target), timeout=30):
                old.repl.promote()
                roles.readers = [new.name]
                roles.publish()
                raise ClusterError(f"{new.name} did not catch up with {old.name} within 30 s; switchover abandoned")
            self._promote(new, event, started)
            old.busy = True
            try:
                self.standby.rejoin_on_worker(old)
            finally:
                old.busy = False
            return event
