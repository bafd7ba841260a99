"""MariaDB replication for the control plane: a `Replication` holds one `MariaDBServer` and administers its role.

Its operations: `ensure_replication_user`, `replicate_from`, `wait_replicating`, `wait_for_gtid`,
`start_applying`, `promote`, `set_semi_sync_master`, `fence`, `role_status`, `gtid_binlog_state`,
`gtid_history`, `received_gtid` and `rebuild_from`; and the module functions `parse_gtid_list` and
`diverged`. The server itself (its process, configuration and root connection) is servers/mariadb.py's,
which knows nothing of this module.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakefront.servers.base import HOST
from lakefront.servers.mariadb import (
    INSTALL_HINT,
    MariaDBError,
    MariaDBServer,
    check_identifier,
    find_tool,
    one_line,
)

if TYPE_CHECKING:
    import pymysql

log = logging.getLogger("lakefront.servers")


def parse_gtid_list(text: str) -> dict[tuple[int, int], int]:
    """'0-1-5,0-2-7' as {(0, 1): 5, (0, 2): 7} (the format of gtid_binlog_state and the *_pos variables)."""
    state: dict[tuple[int, int], int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            domain, server, seq = (int(part) for part in item.split("-"))
        except ValueError:
            raise MariaDBError(f"malformed GTID {item!r} in {text!r}") from None
        state[(domain, server)] = max(seq, state.get((domain, server), seq))
    return state


def diverged(candidate_state: dict[tuple[int, int], int], primary_state: dict[tuple[int, int], int]) -> bool:
    """True when `candidate` (e.g. the old primary after a crash) holds a transaction `primary` lacks.

    Both are gtid_binlog_state maps {(domain_id, server_id): seq}. Within one (domain, server_id) the
    seq numbers a server writes only grow (gtid strict mode), and the new primary replicated a *prefix*
    of the old primary's stream (with log-slave-updates, under the original server_id). So the candidate
    is contained in the primary exactly when, for every (domain, server) it has, the primary has the same
    key with a seq at least as large. A larger seq, or a key the primary has never seen, is a transaction
    that exists only on the candidate: replicating on top of it would fork history, so rebuild the node.
    """
    return any(key not in primary_state or seq > primary_state[key] for key, seq in candidate_state.items())


class Replication:
    """The replication role of one MariaDB node: every operation goes through its root connection."""

    def __init__(self, server: MariaDBServer) -> None:
        self.server = server

    def __repr__(self) -> str:
        return f"Replication({self.server.label})"

    # An empty password by default: the nodes `up` runs listen on loopback only and are throwaway or var/-local;
    # a deployment with reachable nodes passes one (on AWS, RDS runs replication itself).
    def ensure_replication_user(self, user: str = "repl", password: str = "",  # nosec B107
                                *, log_bin: bool = True) -> None:
        """Create (or re-password) `user`@'%' with what a replica's IO thread needs on a primary.

        REPLICATION SLAVE lets it read the binlog; REPLICATION CLIENT, SLAVE MONITOR and BINLOG MONITOR
        (separate privileges in 10.11) let it run status statements when it is used for monitoring.
        Done on the primary, it is binary-logged and so exists on every replica, ready for a promotion.
        """
        check_identifier(user)
        with self.server.admin("ensure_replication_user", log_bin=log_bin) as cur:
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR, BINLOG MONITOR "
                        "ON *.* TO %s@'%%'", (user,))
        log.info("%s: replication user %s ready", self.server.label, user)

    def replicate_from(self, host: str, port: int, user: str, password: str, *,
                       use_gtid: Literal["slave_pos", "current_pos"] = "slave_pos") -> None:
        """Make this node a read-only replica of host:port and start replicating (GTID auto-positioning).

        use_gtid="slave_pos" (the normal case): start after the last GTID this node *applied as a replica*
        (gtid_slave_pos). Right for a fresh replica, a replica re-pointed at a newly promoted primary, and a
        node rebuilt from a dump (the dump set gtid_slave_pos).

        use_gtid="current_pos": start after the newer of gtid_slave_pos and this node's own binlog
        (gtid_current_pos). Right for a former primary rejoining after a clean switchover: its own writes
        are in its binlog but were never "applied as a replica", so gtid_slave_pos is stale and slave_pos
        would fetch those transactions again (gtid strict mode then stops replication). Only for a node
        that is not diverged (see diverged()); a diverged one must be rebuilt (rebuild_from).

        Semi-sync master is switched off here: a replica never waits for acknowledgements.
        """
        if use_gtid not in ("slave_pos", "current_pos"):
            raise MariaDBError(f"use_gtid must be slave_pos or current_pos, not {use_gtid!r}")
        with self.server.admin(f"replicate_from {host}:{port}") as cur:
            cur.execute("SET GLOBAL read_only=1")
            cur.execute("SET GLOBAL rpl_semi_sync_master_enabled=0")
            cur.execute("STOP SLAVE")
            cur.execute(f"CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                        f"MASTER_USE_GTID={use_gtid}, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
                        (host, int(port), user, password))
            cur.execute("START SLAVE")
        log.info("%s: replicating from %s:%d (%s)", self.server.label, host, port, use_gtid)

    def _slave_status(self, cur: pymysql.cursors.Cursor) -> dict[str, Any] | None:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
        if row is None:
            return None
        names = [column[0] for column in cur.description or ()]
        return dict(zip(names, row, strict=True))

    def wait_replicating(self, timeout: float = 30.0) -> float:
        """Block until both replication threads run (Slave_IO_Running and Slave_SQL_Running = Yes).

        Returns the seconds waited. Raises MariaDBError with Last_IO_Error / Last_SQL_Error when no
        replication is configured, when the SQL thread stopped on an error, or at the timeout.
        """
        started = time.monotonic()
        status: dict[str, Any] | None = None
        with self.server.admin("wait_replicating") as cur:
            while True:
                status = self._slave_status(cur)
                if status is None:
                    raise MariaDBError(f"{self.server.label}: no replication configured")
                if status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes":
                    waited = time.monotonic() - started
                    log.info("%s: replicating from %s:%s after %.2fs", self.server.label,
                             status["Master_Host"], status["Master_Port"], waited)
                    return waited
                sql_stopped = status["Slave_SQL_Running"] == "No" and status["Last_SQL_Error"]
                if sql_stopped or time.monotonic() - started > timeout:
                    break
                time.sleep(0.05)
        errors = "; ".join(f"{key}: {one_line(status[key])}" for key in ("Last_IO_Error", "Last_SQL_Error")
                           if status[key]) or "no error reported"
        raise MariaDBError(f"{self.server.label}: replication not running (IO {status['Slave_IO_Running']}, "
                           f"SQL {status['Slave_SQL_Running']}): {errors}")

    def wait_for_gtid(self, gtid_pos: str, timeout: float = 30.0) -> bool:
        """True once this node has applied every GTID in `gtid_pos` (MASTER_GTID_WAIT), False at the timeout."""
        with self.server.admin("wait_for_gtid") as cur:
            cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (gtid_pos, float(timeout)))
            row = cur.fetchone()
        reached = row is not None and row[0] == 0
        log.info("%s: gtid %s %s", self.server.label, gtid_pos or "(empty)",
                 "reached" if reached else f"not reached within {timeout:.1f}s")
        return reached

    def start_applying(self) -> None:
        """Start the SQL thread if it is stopped (an operator's STOP SLAVE SQL_THREAD), so the relay log gets
        applied; a running one is left alone. No-op on a node that is not a replica."""
        with self.server.admin("start_applying") as cur:
            status = self._slave_status(cur)
            if status is not None and status["Slave_SQL_Running"] != "Yes":
                cur.execute("START SLAVE SQL_THREAD")
                log.info("%s: SQL thread started (it was stopped)", self.server.label)

    def promote(self) -> None:
        """Stop replicating, forget the primary, become writable. Semi-sync master stays as it was (off):
        enable it with set_semi_sync_master() once a standby is attached."""
        started = time.monotonic()
        with self.server.admin("promote") as cur:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            cur.execute("SET GLOBAL read_only=0")
        log.info("%s: promoted to writable primary in %.3fs", self.server.label,
                 time.monotonic() - started)

    def set_semi_sync_master(self, enabled: bool, timeout_ms: int | None = None) -> None:
        """Switch semi-sync waiting on this (primary) node on or off, optionally with a new timeout."""
        with self.server.admin("set_semi_sync_master") as cur:
            if timeout_ms is not None:
                cur.execute("SET GLOBAL rpl_semi_sync_master_timeout=%s", (int(timeout_ms),))
            cur.execute(f"SET GLOBAL rpl_semi_sync_master_enabled={1 if enabled else 0}")
        if timeout_ms is not None:
            self.server.semi_sync_timeout_ms = int(timeout_ms)
        log.info("%s: semi-sync master %s (timeout %d ms)", self.server.label,
                 "on" if enabled else "off", self.server.semi_sync_timeout_ms)

    def fence(self, connect_timeout: float = 1.0) -> bool:
        """Stop this node from accepting application writes; False (quickly) when it cannot be reached.

        Kills the application's connections (every client session that is not root's, not a system
        thread and not a replica's binlog dump), so no transaction of theirs that is open can still commit;
        sets read_only; switches semi-sync master off; kills again whatever connected meanwhile.
        Binlog dump threads stay: a standby may still fetch the tail of this node's binlog.
        A commit already waiting for a semi-sync acknowledgement is in the binlog (AFTER_SYNC); setting
        read_only waits for it (at most rpl_semi_sync_master_timeout). When it cannot finish within
        lock_wait_timeout (5-30 s, e.g. the semi-sync timeout is "forever" and the standby is gone), this
        raises MariaDBError: the control plane should then kill the node instead.
        Connection refused, a missing socket or a connect timeout count as unreachable (False).
        """
        import pymysql

        started = time.monotonic()
        # Bounded even when the semi-sync timeout is "forever": a fence that cannot finish raises.
        wait_s = min(30, max(5, 3 * self.server.semi_sync_timeout_ms // 1000))
        try:
            conn = self.server.connect_root(connect_timeout=connect_timeout, read_timeout=wait_s + 5)
        except pymysql.MySQLError as exc:
            log.info("%s: fence: unreachable (%s) after %.3fs", self.server.label, one_line(exc),
                     time.monotonic() - started)
            return False
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"SET SESSION lock_wait_timeout={wait_s}")
                killed = self._kill_clients(cur)
                cur.execute("SET GLOBAL read_only=1")
                cur.execute("SET GLOBAL rpl_semi_sync_master_enabled=0")
                killed += self._kill_clients(cur)
        except pymysql.MySQLError as exc:
            raise MariaDBError(f"{self.server.label}: fence failed: {one_line(exc)}") from exc
        log.info("%s: fenced (read_only, %d client connection(s) killed) in %.3fs", self.server.label,
                 killed, time.monotonic() - started)
        return True

    @staticmethod
    def _kill_clients(cur: pymysql.cursors.Cursor) -> int:
        import pymysql

        cur.execute("SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() "
                    "AND user NOT IN ('root', 'system user', 'event_scheduler', 'unauthenticated user', '') "
                    "AND command NOT IN ('Binlog Dump', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')")
        killed = 0
        for (thread_id,) in cur.fetchall():
            try:
                cur.execute(f"KILL CONNECTION {int(thread_id)}")
                killed += 1
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != 1094:  # unknown thread id: it ended meanwhile
                    raise
        return killed

    def role_status(self) -> dict[str, Any]:
        """What the control plane needs to decide about this node, in one round of queries.

        Keys: read_only, is_replica, io_running, sql_running (the Slave_*_Running strings, None when not
        a replica), last_error, seconds_behind (int or None), gtid_binlog_pos, gtid_slave_pos,
        gtid_current_pos, semi_sync_master_enabled, semi_sync_master_status (True: commits currently wait
        for a standby), semi_sync_master_clients, semi_sync_slave_status, semi_sync_master_yes_tx,
        semi_sync_master_no_tx.
        """
        with self.server.admin("role_status") as cur:
            cur.execute("SELECT @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos, "
                        "@@rpl_semi_sync_master_enabled")
            row = cur.fetchone()
            assert row is not None
            read_only, binlog_pos, slave_pos, current_pos, semi_enabled = row
            cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%'")
            semi = {str(name).lower(): value for name, value in cur.fetchall()}
            slave = self._slave_status(cur)
        last_error = ""
        if slave is not None:
            last_error = one_line(slave["Last_SQL_Error"] or slave["Last_IO_Error"] or "")
        behind = slave["Seconds_Behind_Master"] if slave is not None else None
        return {
            "read_only": bool(read_only),
            "is_replica": slave is not None,
            "io_running": slave["Slave_IO_Running"] if slave is not None else None,
            "sql_running": slave["Slave_SQL_Running"] if slave is not None else None,
            "last_error": last_error,
            "seconds_behind": int(behind) if behind is not None else None,
            "gtid_binlog_pos": binlog_pos,
            "gtid_slave_pos": slave_pos,
            "gtid_current_pos": current_pos,
            "semi_sync_master_enabled": bool(semi_enabled),
            "semi_sync_master_status": semi.get("rpl_semi_sync_master_status") == "ON",
            "semi_sync_master_clients": int(semi.get("rpl_semi_sync_master_clients", 0)),
            "semi_sync_slave_status": semi.get("rpl_semi_sync_slave_status") == "ON",
            "semi_sync_master_yes_tx": int(semi.get("rpl_semi_sync_master_yes_tx", 0)),
            "semi_sync_master_no_tx": int(semi.get("rpl_semi_sync_master_no_tx", 0)),
        }

    def gtid_binlog_state(self) -> dict[tuple[int, int], int]:
        """@@gtid_binlog_state as {(domain_id, server_id): last seq_no}: every server's last GTID in this binlog."""
        with self.server.admin("gtid_binlog_state") as cur:
            cur.execute("SELECT @@gtid_binlog_state")
            row = cur.fetchone()
        return parse_gtid_list(row[0] if row is not None else "")

    def gtid_history(self) -> dict[tuple[int, int], int]:
        """Every GTID this node holds, as gtid_binlog_state: its binlog's, plus what it applied as a replica
        (a node rebuilt from a dump has the dumped history in gtid_slave_pos only; its binlog starts after)."""
        with self.server.admin("gtid_history") as cur:
            cur.execute("SELECT @@gtid_binlog_state, @@gtid_slave_pos")
            row = cur.fetchone()
        binlog, applied = (row[0], row[1]) if row is not None else ("", "")
        history = parse_gtid_list(binlog)
        for key, seq in parse_gtid_list(applied).items():
            history[key] = max(seq, history.get(key, seq))
        return history

    def received_gtid(self) -> str:
        """Gtid_IO_Pos: the last GTIDs this replica received (in its relay log), applied or not."""
        with self.server.admin("received_gtid") as cur:
            status = self._slave_status(cur)
        return str(status.get("Gtid_IO_Pos") or "") if status else ""

    def rebuild_from(self, source: MariaDBServer, *, repl_user: str, repl_password: str, db_name: str,
                     app_user: str, app_password: str, template: Path | None = None,
                     timeout: float = 60.0) -> float:
        """Rebuild rather than repair: throw this node's data away and make it a replica of `source`.

        For a diverged node (see diverged()). Stops this server (killed if it does not stop in 10 s), wipes
        and re-creates its datadir (a copy of `template`, or install-db), starts it, creates the app user
        and database and the replication user without binary-logging them, then streams
        `mariadb-dump --single-transaction --master-data=1 --gtid` of `db_name` from `source` straight
        into the `mariadb` client (a pipe between two processes, over both unix sockets). The dump is a
        consistent snapshot taken without a global lock while `source` keeps taking writes, and carries
        its GTID position as `SET GLOBAL gtid_slave_pos=...`; replication (slave_pos) then starts right
        after it. The load runs with sql_log_bin=0, so this node's binlog holds no GTIDs of its own.
        Returns the seconds taken. The replication user must already exist on `source`.
        """
        started = time.monotonic()
        server = self.server
        server.stop(timeout=10.0)
        shutil.rmtree(server.data_dir, ignore_errors=True)
        server.initialize(template=template)
        server.start()
        server.wait_ready(timeout)
        server.ensure_database(db_name, app_user, app_password, log_bin=False)
        self.ensure_replication_user(repl_user, repl_password, log_bin=False)
        self._load_dump_from(source, db_name, timeout)
        with self.server.admin("rebuild_from") as cur:
            cur.execute("SELECT @@gtid_slave_pos")
            row = cur.fetchone()
        slave_pos = row[0] if row is not None else ""
        self.replicate_from(HOST, source.port, repl_user, repl_password, use_gtid="slave_pos")
        self.wait_replicating(timeout)
        took = time.monotonic() - started
        log.info("%s: rebuilt from port %d (database %s, gtid_slave_pos %s) in %.2fs",
                 self.server.label, source.port, db_name, slave_pos or "(empty)", took)
        return took

    def _load_dump_from(self, source: MariaDBServer, db_name: str, timeout: float) -> None:
        check_identifier(db_name)
        dump_bin = find_tool(("mariadb-dump", "mysqldump"))
        client_bin = find_tool(("mariadb", "mysql"))
        if dump_bin is None or client_bin is None:
            raise MariaDBError(f"mariadb-dump or mariadb client not found; {INSTALL_HINT}")
        dump_argv = [str(dump_bin), "--no-defaults", f"--socket={source.socket_path}", "--user=root",
                     "--single-transaction", "--master-data=1", "--gtid", "--routines", "--triggers",
                     "--events", "--databases", db_name]
        load_argv = [str(client_bin), "--no-defaults", f"--socket={self.server.socket_path}", "--user=root",
                     "--init-command=SET SESSION sql_log_bin=0", "--batch"]
        with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as load_err:
            # Fixed argv (no shell) of MariaDB's own client tools, with ports and paths we chose.
            dump = subprocess.Popen(dump_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # nosec B603
                                    stderr=dump_err)
            try:
                assert dump.stdout is not None
                load = subprocess.Popen(load_argv, stdin=dump.stdout, stdout=subprocess.DEVNULL,  # nosec B603
                                        stderr=load_err)
                dump.stdout.close()  # the client holds the read end; the dump sees EPIPE if the client dies
                try:
                    load_status = load.wait(timeout)
                    dump_status = dump.wait(timeout)
                except subprocess.TimeoutExpired:
                    load.kill()
                    load.wait()
                    raise
            finally:
                if dump.poll() is None:
                    dump.kill()
                dump.wait()
            for name, status, err in (("mariadb-dump", dump_status, dump_err), ("mariadb", load_status, load_err)):
                if status != 0:
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                    raise MariaDBError(f"{self.server.label}: {name} from port {source.port} failed "
                                       f"with status {status}: {tail[0]}")
