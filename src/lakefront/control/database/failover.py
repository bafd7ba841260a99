"""Role changes: failover when the primary is lost, and a planned switchover (`lakefront failover`).

- Failover: publish "no writer" (app instances hold new transactions), fence or kill the old primary,
  let the standby apply everything it received (its SQL thread started if it was stopped), promote it,
  publish it as the writer. Refused, and the old primary restarted in place instead, when the standby is
  not replicating, was not in sync at the last status check, or does not apply its relay log within
  db.catch_up_timeout_s (promoting it could lose acknowledged commits). The refusal is kept in
  roles.refused (status shows it).
- Switchover (like RDS "reboot with failover"): publish "no writer", let in-flight transactions finish,
  fence the primary, wait until the standby has every GTID of it, promote, publish, and attach the old
  primary as the standby. No checkout fails: new transactions wait for the new writer (data/routing.py).
  A standby that does not catch up within db.catch_up_timeout_s abandons it: the old primary is made
  writable again, waiting for the standby's acknowledgements as before, and its reader published again.
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
from lakefront.servers.mariadb import MariaDBError

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
            if roles.restart_in_place and old.busy:
                # Refused already and being restarted: its probes fail until it is back, and trying again
                # would kill the restart. (A restart that failed is not busy: failing over is weighed again.)
                log.info("database: primary %s still restarting in place (%s)", old.name, reason)
                return None
            if not new.alive() or new.needs_rejoin or new.busy or not roles.readers:
                return self._refuse(old, f"{reason}, but {new.name} is not a replicating standby")
            if roles.standby_in_sync is False and roles.settings.db.standby_loss == "continue":
                return self._refuse(old, f"{reason} while {new.name} was not in sync: promoting it could lose "
                                         "acknowledged commits")
            started = self.heartbeat.first_failure or detected
            event = FailoverEvent(id=uuid.uuid4().hex[:12], kind="failover", reason=reason, old_primary=old.name,
                                  new_primary=new.name, started_at=iso(started))
            log.warning("database: failing over from %s to %s (%s)", old.name, new.name, reason)
            roles.readers = []
            roles.publish(writer=False)
            # Fence: a frozen primary could wake up and take writes; we own its process, so kill it
            # (STONITH). It restarts read-only and rejoins as the standby.
            try:
                if not old.repl.fence():
                    log.info("database: %s unreachable; killing its process to be sure", old.name)
            except MariaDBError as exc:  # e.g. read_only waited out lock_wait_timeout behind a stuck commit
                log.warning("database: %s could not be fenced (%s); killing it", old.name, exc)
            old.kill()
            # Acknowledged commits may be in the standby's relay log only: apply it all before RESET SLAVE ALL
            # (in promote) throws the relay log away.
            timeout = roles.settings.db.catch_up_timeout_s
            try:
                applied = self._apply_relay_log(new, timeout)
            except MariaDBError as exc:
                log.error("database: %s: %s", new.name, exc)
                applied = False
            if not applied:
                roles.readers = [new.name]
                return self._refuse(old, f"{reason}, and {new.name} did not apply its relay log within "
                                         f"{timeout:g} s: promoting it would lose acknowledged commits")
            self._promote(new, event, started)
            old.needs_rejoin = True
            return event
        finally:
            roles.lock.release()

    def _refuse(self, old: DbNode, why: str) -> FailoverEvent | None:
        """Failing over is refused: kill what is left of the old primary; the monitor restarts it in place.
        Returns None (no event), for failover() to return."""
        roles = self.roles
        log.error("database: primary %s lost: %s; restarting %s in place instead", old.name, why, old.name)
        old.kill()
        roles.restart_in_place = True
        roles.refused = {"at": now_iso(), "primary": old.name, "reason": why}
        roles.changed()
        return None

    @staticmethod
    def _apply_relay_log(new: DbNode, timeout: float) -> bool:
        """Make the standby apply everything it received (its SQL thread started if an operator stopped it);
        False when that does not finish within `timeout` seconds."""
        new.repl.start_applying()
        received = new.repl.received_gtid()
        return not received or new.repl.wait_for_gtid(received, timeout=timeout)

    def _promote(self, new: DbNode, event: FailoverEvent, started: float) -> None:
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
            timeout = roles.settings.db.catch_up_timeout_s
            new.repl.start_applying()
            if target and not new.repl.wait_for_gtid(str(target), timeout=timeout):
                # Undo the fence: writable again, and (fence() switched it off) waiting for the standby again.
                old.repl.promote()
                old.repl.set_semi_sync_master(True, roles.semi_sync_timeout_ms)
                roles.readers = [new.name]
                roles.publish()
                raise ClusterError(f"{new.name} did not catch up with {old.name} within {timeout:g} s; "
                                   "switchover abandoned")
            self._promote(new, event, started)
            old.busy = True
            try:
                self.standby.rejoin_on_worker(old)
            finally:
                old.busy = False
            return event
