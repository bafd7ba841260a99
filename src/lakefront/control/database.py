"""The database pair (RDS Multi-AZ role): a primary and a standby MariaDB, and the failover monitor.

Two nodes live under var/: db-1 (var/mariadb, db.port) and db-2 (var/mariadb-2, db.standby_port).
Which one is primary is persisted in var/db-roles.json, so a restart of `up` keeps the roles.

- Replication: GTID, semi-synchronous with the wait point AFTER_SYNC (lossless: a commit becomes
  visible and is acknowledged only after the standby has it in its relay log). Semi-sync waiting is
  enabled on the primary only once a standby is replicating. db.standby_loss decides what a commit
  does while the standby is away (see settings.py); the monitor never promotes a standby that was
  not in sync at the last status check.
- Every node starts read-only (servers/mariadb.py): a node that restarts, old primaries included,
  is fenced until the monitor promotes it. The application user has no privilege that overrides
  read_only; the monitor's heartbeat goes through that same user, so it is refused by a fenced node.
- Monitor: every db.probe_interval_s it rewrites the heartbeat row through the primary; after
  db.probe_failures consecutive failures it fails over: publish "no writer" (app instances hold new
  transactions), fence or kill the old primary, let the standby apply everything it received,
  promote it, publish it as the writer. Dead nodes are restarted (read-only) and rejoin as the
  standby: replication from the new primary when their history is a prefix of its history, a
  rebuild from a dump when they hold transactions it lacks (servers/mariadb.py:diverged).
- Planned switchover (`lakefront failover`, like RDS "reboot with failover"): publish "no writer",
  let in-flight transactions finish, fence the primary, wait until the standby has every GTID of
  it, promote, publish, and attach the old primary as the standby. No checkout fails: new
  transactions wait for the new writer (data/routing.py).
- Endpoints are published to var/run/db-endpoints.json (data/endpoints.py); every app instance
  follows it without a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakefront.control.supervisor import now_iso
from lakefront.data.endpoints import Endpoints, Node, write_endpoints
from lakefront.servers.base import HOST
from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBError, MariaDBServer
from lakefront.servers.replication import Replication, diverged
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")

REPL_USER = "repl"
WAIT_FOREVER_MS = 4_294_967_295  # rpl_semi_sync_master_timeout's maximum (about 49 days)
DRAIN_S = 0.3  # planned switchover: how long in-flight transactions get to finish before the fence
MAX_EVENTS = 20
REPLAY_LIMIT = 1000  # an empty standby replays up to this many transactions; beyond, it is rebuilt from a dump


class ClusterError(RuntimeError):
    """The pair cannot do what was asked; one line."""


@dataclass
class DbNode:
    name: str
    server: MariaDBServer
    restarts: int = 0
    busy: bool = False  # a restart or rejoin of this node is queued or running on the nodes worker
    needs_rejoin: bool = False
    repl: Replication = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.repl = Replication(self.server)

    @property
    def port(self) -> int:
        return self.server.port

    def alive(self) -> bool:
        return self.server.running

    def node(self) -> Node:
        return Node(self.name, HOST, self.port)


@dataclass
class FailoverEvent:
    id: str
    kind: str  # "failover" (primary lost) or "switchover" (planned)
    reason: str
    old_primary: str
    new_primary: str
    started_at: str
    promoted_at: str = ""
    duration_s: float = 0.0
    # gtid_binlog_state of the new primary at promotion: what it had of the old primary's history.
    promoted_gtid: dict[str, int] = field(default_factory=dict)
    old_primary_rejoined: str = ""  # "replicated", "rebuilt" or "" (not yet)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _gtid_json(state: dict[tuple[int, int], int]) -> dict[str, int]:
    return {f"{d}-{s}": seq for (d, s), seq in sorted(state.items())}


class DatabaseCluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        db = settings.db
        timeout = db.semi_sync_timeout_ms if db.standby_loss == "continue" else WAIT_FOREVER_MS
        ports = {"db-1": db.port, "db-2": settings.standby_port}
        self.nodes = {name: DbNode(name, node_server(settings.var_dir, name, port, semi_sync_timeout_ms=timeout))
                      for name, port in ports.items()}
        self.semi_sync_timeout_ms = timeout
        self.roles_file = settings.var_dir / "db-roles.json"
        self.endpoints_file: Path = settings.db_endpoints_file or settings.run_dir / "db-endpoints.json"
        self.primary = self._load_primary()
        self.generation = int(time.time() * 1000)  # grows across restarts of `up`
        self.readers: list[str] = []
        self.events: list[FailoverEvent] = []
        self.standby_in_sync: bool | None = None
        self.last_status: dict[str, dict[str, Any]] = {}
        self.on_change: Any = None  # called (from the monitor thread) when roles or events change
        self._failures = 0
        self._first_failure = 0.0
        self._restart_in_place = False
        self._last_read_only: dict[str, Any] = {}
        self._probe_conn: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Every node (re)start after start-up happens on this one long-lived thread: a child process
        # is tied to the *thread* that spawned it (PR_SET_PDEATHSIG), so a short-lived thread's
        # mariadbd would be killed the moment that thread ended.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-nodes")
        self._lock = threading.RLock()  # one role change at a time
        self._switchover_requests: list[str] = []
        self._status_every = max(1, int(1.0 / settings.db.probe_interval_s))
        self._ticks = 0

    # Roles.

    def _load_primary(self) -> str:
        try:
            name = json.loads(self.roles_file.read_text())["primary"]
            if name in self.nodes:
                return str(name)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return "db-1"

    def _save_roles(self) -> None:
        self.roles_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.roles_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"primary": self.primary, "updated_at": now_iso()}))
        tmp.replace(self.roles_file)

    @property
    def standby(self) -> str:
        return next(name for name in self.nodes if name != self.primary)

    def publish(self, *, writer: bool = True) -> None:
        self.generation += 1
        endpoints = Endpoints(
            generation=self.generation, writer=self.nodes[self.primary].node() if writer else None,
            readers=tuple(self.nodes[name].node() for name in self.readers), updated_at=now_iso())
        write_endpoints(self.endpoints_file, endpoints)
        log.info("database endpoints %d published: writer=%s readers=%s", self.generation,
                 self.primary if writer else "none (switching)", ",".join(self.readers) or "none")

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception as exc:  # reporting must not break the monitor
                log.warning("database: could not save state: %s", exc)

    # Start and stop.

    def start(self) -> None:
        """Start both nodes, make the primary writable and the standby replicate, publish, monitor."""
        s = self.settings
        for node in self.nodes.values():
            node.server.initialize()
            node.server.start(s.log_dir / f"mariadb-{node.name}.log")
        for node in self.nodes.values():
            node.server.wait_ready()
        primary = self.nodes[self.primary]
        primary.server.ensure_database(s.db.name, s.db.user, s.db.password.get_secret_value())
        primary.repl.ensure_replication_user(REPL_USER, self._repl_password())
        primary.repl.promote()
        self._save_roles()
        self.publish()
        log.info("database: %s is the primary on %s:%d", self.primary, HOST, primary.port)
        self._rejoin(self.nodes[self.standby])
        self._thread = threading.Thread(target=self._run, name="db-monitor", daemon=True)
        self._thread.start()

    def _repl_password(self) -> str:
        # Derived from the app's secret: stable across restarts, never in the settings file.
        import hashlib

        return hashlib.sha256(f"repl:{self.settings.db.password.get_secret_value()}".encode()).hexdigest()[:32]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._close_probe()
        for node in self.nodes.values():
            try:
                node.server.stop()
            except Exception as exc:  # stopping must go on for the other node
                log.warning("database: %s did not stop cleanly: %s", node.name, exc)
        self._worker.shutdown(wait=False, cancel_futures=True)

    # Standby attachment.

    def _rejoin(self, node: DbNode) -> None:
        """Make `node` the standby of the current primary: replicate, or rebuild if it diverged."""
        s = self.settings
        primary = self.nodes[self.primary]
        try:
            if not node.alive():
                node.needs_rejoin = True
                return
            theirs, ours = node.repl.gtid_binlog_state(), primary.repl.gtid_history()
            how = "replicated"
            if diverged(theirs, ours) or (not theirs and sum(ours.values()) > REPLAY_LIMIT):
                # Diverged: replicating on top would fork history. Empty beside a primary with history:
                # a dump is faster than replaying the primary's whole binlog (a new system replays it).
                log.warning("database: %s holds transactions %s lacks or is empty (%s vs %s); rebuilding it "
                            "from %s", node.name, primary.name, _gtid_json(theirs), _gtid_json(ours), primary.name)
                node.repl.rebuild_from(primary.server, repl_user=REPL_USER, repl_password=self._repl_password(),
                                         db_name=s.db.name, app_user=s.db.user,
                                         app_password=s.db.password.get_secret_value(), timeout=900)
                how = "rebuilt"
            else:
                node.repl.replicate_from(HOST, primary.port, REPL_USER, self._repl_password(),
                                           use_gtid="current_pos" if theirs else "slave_pos")
                node.repl.wait_replicating(timeout=30)
            primary.repl.set_semi_sync_master(True, self.semi_sync_timeout_ms)
            node.needs_rejoin = node.busy = False  # before _changed(): the saved state must not say rejoining
            self.readers = [node.name]
            self.publish()
            log.info("database: %s is the standby of %s (%s)", node.name, primary.name, how)
            for event in self.events:
                if event.old_primary == node.name and not event.old_primary_rejoined:
                    event.old_primary_rejoined = how
            self._changed()
        except MariaDBError as exc:
            node.needs_rejoin = True
            log.error("database: %s could not join as the standby: %s", node.name, exc)

    def _recover(self, node: DbNode) -> None:
        """On the nodes worker: restart a dead node (read-only), then make it the standby again, or (when
        failing over was refused) the primary again."""
        try:
            if not node.alive():
                pid, node.server.proc = node.server.pid, None
                log.warning("database: %s (pid %s) exited; restarting it read-only on its data directory",
                            node.name, pid if pid is not None else "killed at failover")
                try:
                    node.server.start(self.settings.log_dir / f"mariadb-{node.name}.log")
                    node.server.wait_ready(timeout=120)
                except MariaDBError as exc:
                    log.error("database: %s did not come back: %s", node.name, exc)
                    node.server.proc = None
                    return
                node.restarts += 1
                node.needs_rejoin = node.name != self.primary
                self._changed()
            with self._lock:
                if node.name == self.primary:
                    # Failing over was impossible or refused: it has every acknowledged commit; writable again.
                    node.repl.promote()
                    if self.readers:
                        node.repl.set_semi_sync_master(True, self.semi_sync_timeout_ms)
                    self._restart_in_place = False
                    self._close_probe()
                    self.publish()
                    log.warning("database: %s restarted in place as the primary", node.name)
                    self._changed()
                elif node.needs_rejoin:
                    self._rejoin(node)
        finally:
            node.busy = False

    # The monitor.

    def _run(self) -> None:
        interval = self.settings.db.probe_interval_s
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
                self.switchover(request)
            except ClusterError as exc:
                log.error("database: switchover %s refused: %s", request, exc)
        self._ticks += 1
        if self._probe():
            self._failures = 0
        else:
            if self._failures == 0:
                self._first_failure = time.time()
            self._failures += 1
            if self._failures >= self.settings.db.probe_failures:
                self._failures = 0
                self.failover(f"{self.settings.db.probe_failures} failed probes of {self.primary}")
        self._restart_dead()
        if self._ticks % self._status_every == 0:
            self._observe()

    def _close_probe(self) -> None:
        if self._probe_conn is not None:
            with contextlib.suppress(Exception):
                self._probe_conn.close()
            self._probe_conn = None

    def _probe(self) -> bool:
        """Rewrite the heartbeat through the primary, as the application's user (a fenced node refuses it)."""
        import pymysql

        db = self.settings.db
        try:
            if self._probe_conn is None:
                # A commit may wait up to the semi-sync timeout for the standby; that is not a failure.
                wait_s = self.semi_sync_timeout_ms / 1000 if self.semi_sync_timeout_ms < WAIT_FOREVER_MS else 3.0
                self._probe_conn = pymysql.connect(
                    host=HOST, port=self.nodes[self.primary].port, user=db.user,
                    password=db.password.get_secret_value(), database=db.name, autocommit=True,
                    connect_timeout=1, read_timeout=2 + wait_s, write_timeout=2)
            with self._probe_conn.cursor() as cur:
                try:
                    cur.execute("REPLACE INTO lf_heartbeat (id, beat_at, node) VALUES (1, UTC_TIMESTAMP(6), %s)",
                                (self.primary,))
                except pymysql.err.ProgrammingError as exc:
                    if exc.args[0] != 1146:  # no such table: not migrated yet
                        raise
                    cur.execute("SELECT 1")
            return True
        except pymysql.MySQLError as exc:
            if self._failures == 0:
                log.warning("database: probe of primary %s failed: %s", self.primary, str(exc)[:160])
            self._close_probe()
            return False

    def _observe(self) -> None:
        """Roles, replication and semi-sync status of each live node (for status and the sync guard)."""
        for node in self.nodes.values():
            if not node.alive() or node.busy:
                continue
            try:
                self.last_status[node.name] = node.repl.role_status()
            except MariaDBError:
                continue
        primary = self.last_status.get(self.primary, {})
        standby = self.nodes[self.standby]
        replicating = bool(self.readers) and standby.alive() and not standby.needs_rejoin
        # In sync: the primary's commits currently wait for the standby (semi-sync ON).
        in_sync = replicating and primary.get("semi_sync_master_status") is True
        read_only = {name: status.get("read_only") for name, status in self.last_status.items()}
        if (in_sync, read_only) != (self.standby_in_sync, self._last_read_only):
            self.standby_in_sync, self._last_read_only = in_sync, read_only
            self._changed()  # status reads the saved state: keep it current

    def _restart_dead(self) -> None:
        """Queue recovery of dead nodes and of a standby that has not rejoined (on the nodes worker)."""
        for node in self.nodes.values():
            if node.busy:
                continue
            if node.name == self.primary:
                if node.alive() or not self._restart_in_place:
                    continue  # the probes decide: a dead primary is failed over, not restarted
            elif node.alive() and not node.needs_rejoin:
                continue
            node.busy = True
            self._worker.submit(self._recover, node)

    # Role changes.

    def failover(self, reason: str) -> FailoverEvent | None:
        """The primary is lost: promote the standby. Refused (returns None) when that could lose commits."""
        if not self._lock.acquire(blocking=False):
            log.warning("database: primary %s lost (%s) during another role change; waiting", self.primary, reason)
            return None
        try:
            old, new = self.nodes[self.primary], self.nodes[self.standby]
            detected = time.time()
            if not new.alive() or new.needs_rejoin or new.busy or not self.readers:
                log.error("database: primary %s lost (%s) but %s is not a replicating standby; restarting %s "
                          "in place instead", old.name, reason, new.name, old.name)
                self._kill(old)
                self._restart_in_place = True
                return None
            if self.standby_in_sync is False and self.settings.db.standby_loss == "continue":
                log.error("database: primary %s lost (%s) while %s was not in sync: promoting it could lose "
                          "acknowledged commits; restarting %s in place instead", old.name, reason, new.name,
                          old.name)
                self._kill(old)
                self._restart_in_place = True
                return None
            started = self._first_failure or detected
            event = FailoverEvent(id=uuid.uuid4().hex[:12], kind="failover", reason=reason, old_primary=old.name,
                                  new_primary=new.name, started_at=_iso(started))
            log.warning("database: failing over from %s to %s (%s)", old.name, new.name, reason)
            self.readers = []
            self.publish(writer=False)
            # Fence: a frozen primary could wake up and take writes; we own its process, so kill it
            # (STONITH). It restarts read-only and rejoins as the standby.
            if not old.repl.fence():
                log.info("database: %s unreachable; killing its process to be sure", old.name)
            self._kill(old)
            self._promote(new, event, started)
            old.needs_rejoin = True
            return event
        finally:
            self._lock.release()

    def _kill(self, node: DbNode) -> None:
        if node.server.proc is not None and node.server.proc.poll() is None:
            node.server.kill()
        else:
            node.server.proc = None

    def _promote(self, new: DbNode, event: FailoverEvent, started: float) -> None:
        # Apply everything the standby received (acknowledged commits are in its relay log), then promote.
        received = new.repl.received_gtid()
        if received and not new.repl.wait_for_gtid(received, timeout=30):
            log.error("database: %s did not apply its relay log within 30 s; promoting anyway", new.name)
        new.repl.promote()
        self.primary = new.name
        self._save_roles()
        self._close_probe()
        self._failures = 0
        event.promoted_gtid = _gtid_json(new.repl.gtid_binlog_state())
        event.promoted_at = now_iso()
        event.duration_s = round(time.time() - started, 3)
        self.events = [*self.events[-(MAX_EVENTS - 1):], event]
        self.publish()
        log.warning("database: %s promoted to primary in %.2fs (%s)", new.name, event.duration_s, event.kind)
        self._changed()

    def request_switchover(self, request_id: str | None = None) -> str:
        """Queue a planned switchover for the monitor thread; returns its id."""
        request = request_id or uuid.uuid4().hex[:12]
        self._switchover_requests.append(request)
        return request

    def switchover(self, request_id: str | None = None) -> FailoverEvent:
        """Planned: swap primary and standby with no lost and no failed write."""
        new = self.nodes[self.standby]
        if not new.alive() or new.needs_rejoin or new.busy or not self.readers:
            raise ClusterError(f"{new.name} is not a replicating standby (yet); nothing to switch over to")
        with self._lock:
            old, new = self.nodes[self.primary], self.nodes[self.standby]
            started = time.time()
            event = FailoverEvent(id=request_id or uuid.uuid4().hex[:12], kind="switchover",
                                  reason="requested (lakefront failover)", old_primary=old.name,
                                  new_primary=new.name, started_at=_iso(started))
            log.info("database: switching over from %s to %s", old.name, new.name)
            self.readers = []
            self.publish(writer=False)  # new transactions wait for the new writer
            time.sleep(DRAIN_S)  # in-flight ones (a checkout is milliseconds) finish on the old primary
            if not old.repl.fence():
                raise ClusterError(f"{old.name} became unreachable during the switchover")
            target = old.repl.role_status().get("gtid_binlog_pos") or ""
            if target and not new.repl.wait_for_gtid(str(target), timeout=30):
                old.repl.promote()
                self.readers = [new.name]
                self.publish()
                raise ClusterError(f"{new.name} did not catch up with {old.name} within 30 s; switchover abandoned")
            self._promote(new, event, started)
            old.busy = True
            try:
                # On the nodes worker: a rebuild starts a new mariadbd, which must outlive this call.
                self._worker.submit(self._rejoin, old).result()
            finally:
                old.busy = False
            return event

    # Reporting.

    def describe(self) -> dict[str, Any]:
        nodes = []
        for node in self.nodes.values():
            status = self.last_status.get(node.name, {})
            nodes.append({"name": node.name, "port": node.port, "pid": node.server.pid, "restarts": node.restarts,
                          "role": "primary" if node.name == self.primary else "standby",
                          "alive": node.alive(), "rejoining": node.busy or node.needs_rejoin,
                          "read_only": status.get("read_only")})
        return {"primary": self.primary, "standby": self.standby, "readers": list(self.readers),
                "generation": self.generation, "standby_loss": self.settings.db.standby_loss,
                "semi_sync_timeout_ms": self.semi_sync_timeout_ms, "standby_in_sync": self.standby_in_sync,
                "nodes": nodes, "failovers": [e.as_dict() for e in self.events]}


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
