"""MariaDB (the RDS MySQL role) from Debian's packages: initialise a datadir, start, wait, stop.

One `MariaDBServer` owns one root directory D:

    D/my.cnf    the only configuration the server reads (--defaults-file, nothing from /etc)
    D/data      the datadir, including binary and relay logs
    D/sock      root's way in (unix socket); D/mariadbd.pid, D/error.log

The replication settings (binary log, GTID strictness, relay log) are always on so that a standby
can be attached to any primary started here; semi-synchronous replication is not: enabled on a
primary with no replica attached it stalls every commit (see SERVICES.md).

Every node starts read-only and without replication threads (fencing by construction): it becomes
writable only when the control plane calls `promote()`, and replicates only after `replicate_from()`.
read_only binds the application user (privileges on its database only, no READ ONLY ADMIN), not
root: the control plane uses root, over the unix socket, for administration only. Replicated events
are applied regardless of read_only.

Replication operations for the control plane: `ensure_replication_user`, `replicate_from`,
`wait_replicating`, `wait_for_gtid`, `promote`, `set_semi_sync_master`, `fence`, `role_status`,
`gtid_binlog_state`, `rebuild_from`, and the module function `diverged`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakefront.servers.procs import crash, port_open, spawn, terminate, wait_until_ready

if TYPE_CHECKING:
    import pymysql

    from lakefront.settings import Settings

log = logging.getLogger("lakefront.servers")

HOST = "127.0.0.1"
_SEARCH_DIRS = (Path("/usr/sbin"), Path("/usr/bin"))
# sun_path holds 108 bytes; deep temp dirs (pytest's) can exceed it.
_MAX_SOCKET_PATH = 100
_INSTALL_HINT = "install it with: apt-get install mariadb-server"


class MariaDBError(RuntimeError):
    """MariaDB could not be found, initialised or started; the message is one line."""


@dataclass(frozen=True)
class MariaDBBinaries:
    server: Path
    install_db: Path


def _find(names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
        for directory in _SEARCH_DIRS:
            if (directory / name).is_file():
                return directory / name
    return None


def find_binaries() -> MariaDBBinaries:
    """The server and install-db executables, on PATH or in /usr/sbin, /usr/bin."""
    server = _find(("mariadbd", "mysqld"))
    install_db = _find(("mariadb-install-db", "mysql_install_db"))
    if server is None or install_db is None:
        missing = "mariadbd" if server is None else "mariadb-install-db"
        raise MariaDBError(f"{missing} not found on PATH, /usr/sbin or /usr/bin; {_INSTALL_HINT}")
    return MariaDBBinaries(server=server, install_db=install_db)


def _os_user() -> str:
    # mariadbd refuses to run as root unless told to; as anyone else, naming yourself is harmless.
    return pwd.getpwuid(os.getuid()).pw_name


def _connect(**kwargs: Any) -> pymysql.Connection[Any]:
    import pymysql

    return pymysql.connect(charset="utf8mb4", autocommit=True, **kwargs)


@dataclass
class MariaDBServer:
    """A MariaDB server living entirely under `root`, listening on 127.0.0.1:`port`."""

    root: Path
    port: int
    server_id: int = 1
    # How long a commit on a semi-sync primary waits for a standby's acknowledgement before the
    # primary falls back to asynchronous replication (Rpl_semi_sync_master_status turns OFF).
    semi_sync_timeout_ms: int = 1000
    # Fencing by construction: True for every node of the control plane. False only for a standalone
    # server that is never part of a failover pair (test fixtures), so that a restart keeps it writable.
    read_only_at_start: bool = True
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config_path(self) -> Path:
        return self.root / "my.cnf"

    @property
    def pid_file(self) -> Path:
        return self.root / "mariadbd.pid"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def socket_path(self) -> Path:
        path = self.root.resolve() / "sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"lakefront-mariadb-{digest}.sock"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def config_text(self) -> str:
        root = self.root.resolve()
        lines = [
            "[mariadbd]",
            f"user={_os_user()}",
            f"datadir={root / 'data'}",
            f"socket={self.socket_path}",
            f"pid-file={root / 'mariadbd.pid'}",
            f"log-error={root / 'error.log'}",
            f"port={self.port}",
            f"bind-address={HOST}",
            f"server-id={self.server_id}",
            # Relative names land in the datadir, so a copied datadir carries its own logs.
            "log-bin=mariadb-bin",
            # Named explicitly: the default derives from the host name and breaks when a datadir moves.
            "relay-log=relay-bin",
            "log-slave-updates=1",
            "binlog-format=ROW",
            "gtid-strict-mode=1",
            # Fencing by construction: a node (re)starts read-only; only promote() makes it writable.
            f"read-only={1 if self.read_only_at_start else 0}",
            # The control plane decides when (and from whom) a node replicates.
            "skip-slave-start=1",
            # An acknowledged commit survives a crash: binlog and redo log are fsynced at every commit.
            "sync-binlog=1",
            "innodb-flush-log-at-trx-commit=1",
            # Semi-sync: every node can acknowledge as a standby; the master side is switched on at run
            # time only on the current primary once a standby is attached (set_semi_sync_master).
            "rpl-semi-sync-slave-enabled=1",
            "rpl-semi-sync-master-enabled=0",
            # MariaDB 10.11's default is AFTER_COMMIT (checked: SELECT @@rpl_semi_sync_master_wait_point
            # on a server without this line): other sessions could then see, and a client could be told
            # about, a transaction the standby does not have yet. AFTER_SYNC waits for the standby's
            # acknowledgement before the storage engine commit: lossless failover.
            "rpl-semi-sync-master-wait-point=AFTER_SYNC",
            f"rpl-semi-sync-master-timeout={self.semi_sync_timeout_ms}",
            # A replica notices a silent primary within seconds (heartbeats every second, see
            # replicate_from) and keeps retrying every second (10.11 gives up after 100000 tries by default).
            "slave-net-timeout=5",
            "master-retry-count=1000000",
            "innodb-buffer-pool-size=64M",
            "innodb-log-file-size=16M",
            "performance-schema=0",
            "skip-name-resolve=1",
            "character-set-server=utf8mb4",
            "collation-server=utf8mb4_unicode_ci",
        ]
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def initialize(self, template: Path | None = None) -> None:
        """Write my.cnf and, if the datadir is empty, fill it: a copy of `template` or a fresh install."""
        self.write_config()
        if self.data_dir.is_dir() and any(self.data_dir.iterdir()):
            return
        started = time.monotonic()
        if template is not None:
            # A copy is several times faster than install-db; each copy is then an independent server.
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.copytree(template, self.data_dir, symlinks=True)
            log.info("mariadb datadir %s copied from %s in %.2fs", self.data_dir, template,
                     time.monotonic() - started)
            return
        install_datadir(self.data_dir)
        log.info("mariadb datadir %s installed in %.2fs", self.data_dir, time.monotonic() - started)

    def start(self, log_path: Path | None = None) -> None:
        """Start mariadbd (tied to this process's life); returns at once, see wait_ready()."""
        if self.running:
            raise MariaDBError(f"mariadb on port {self.port} is already running (pid {self.pid})")
        if not self.config_path.is_file():
            raise MariaDBError(f"{self.config_path} is missing: call initialize() first")
        if port_open(HOST, self.port, timeout=0.2):
            raise MariaDBError(f"port {self.port} on {HOST} is already in use; choose another port")
        binary = find_binaries().server
        self.proc = spawn([str(binary), f"--defaults-file={self.config_path}"],
                          log_path=log_path or self.root / "mariadbd.out")
        log.info("mariadb started on %s:%d (pid %d, datadir %s)", HOST, self.port, self.proc.pid, self.data_dir)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until a query over TCP succeeds; returns the seconds waited."""
        import pymysql

        def query() -> bool:
            # root@127.0.0.1 (empty password) is created by install-db; it matches despite skip-name-resolve.
            with (_connect(host=HOST, port=self.port, user="root", password="", connect_timeout=2) as conn,
                  conn.cursor() as cur):
                cur.execute("SELECT 1")
            return True

        waited = wait_until_ready(self.proc, query, what=f"mariadb on port {self.port}", error=MariaDBError,
                                  timeout=timeout, retry_on=(pymysql.MySQLError,), hint=f"see {self.error_log}")
        log.info("mariadb on %s:%d ready after %.2fs", HOST, self.port, waited)
        return waited

    def connect_root(self, *, connect_timeout: float = 10.0,
                     read_timeout: float | None = None) -> pymysql.Connection[Any]:
        """An administrative connection over the unix socket (root@localhost); the caller closes it.

        A dead server (socket missing, or left behind by a crash: connection refused) raises
        pymysql's OperationalError 2002 at once.
        """
        import pymysql

        conn = _connect(unix_socket=str(self.socket_path), user="root", password="", defer_connect=True,
                        connect_timeout=connect_timeout, read_timeout=read_timeout)
        # Connected here rather than by pymysql, which leaks the socket when a unix-socket connect fails.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            raise pymysql.err.OperationalError(
                2002, f"Can't connect to local server through socket '{self.socket_path}' ({exc})") from exc
        conn.connect(sock)
        return conn

    @contextmanager
    def _admin(self, what: str, *, log_bin: bool = True) -> Iterator[pymysql.cursors.Cursor]:
        """A root cursor; any MySQL error becomes a one-line MariaDBError naming `what`.

        log_bin=False keeps the session's statements out of the binary log: local administration on a
        node being rebuilt must not create GTIDs of its own (it would look diverged, and gtid strict
        mode would refuse the primary's events later).
        """
        import pymysql

        try:
            with self.connect_root() as conn, conn.cursor() as cur:
                if not log_bin:
                    cur.execute("SET SESSION sql_log_bin=0")
                yield cur
        except pymysql.MySQLError as exc:
            raise MariaDBError(f"mariadb on port {self.port}: {what} failed: {_one_line(exc)}") from exc

    def ensure_database(self, name: str, user: str, password: str, *, log_bin: bool = True) -> None:
        """Create the database and the application user if missing, and grant the user everything on it.

        The user gets privileges on that database only (no SUPER, no READ ONLY ADMIN), so read_only binds it.
        On a primary the statements are binary-logged and so reach its replicas.
        """
        _check_identifier(name)
        _check_identifier(user)
        with self._admin("ensure_database", log_bin=log_bin) as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            # '%' rather than 'localhost': with skip-name-resolve, TCP from 127.0.0.1 never matches localhost.
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            # Keeps a changed password in step with the settings on the next start.
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (user,))
        log.info("mariadb on port %d: database %s ready for user %s", self.port, name, user)

    def url(self, name: str, user: str, password: str) -> str:
        """SQLAlchemy URL of database `name` as `user`, over TCP."""
        from urllib.parse import quote

        return (f"mysql+pymysql://{quote(user, safe='')}:{quote(password, safe='')}@{HOST}:{self.port}/{name}"
                "?charset=utf8mb4")

    # ---- replication operations (control plane) -------------------------------------------------

    def ensure_replication_user(self, user: str = "repl", password: str = "", *, log_bin: bool = True) -> None:
        """Create (or re-password) `user`@'%' with what a replica's IO thread needs on a primary.

        REPLICATION SLAVE lets it read the binlog; REPLICATION CLIENT, SLAVE MONITOR and BINLOG MONITOR
        (separate privileges in 10.11) let it run status statements when it is used for monitoring.
        Done on the primary, it is binary-logged and so exists on every replica, ready for a promotion.
        """
        _check_identifier(user)
        with self._admin("ensure_replication_user", log_bin=log_bin) as cur:
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR, BINLOG MONITOR "
                        "ON *.* TO %s@'%%'", (user,))
        log.info("mariadb on port %d: replication user %s ready", self.port, user)

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
        with self._admin(f"replicate_from {host}:{port}") as cur:
            cur.execute("SET GLOBAL read_only=1")
            cur.execute("SET GLOBAL rpl_semi_sync_master_enabled=0")
            cur.execute("STOP SLAVE")
            cur.execute(f"CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                        f"MASTER_USE_GTID={use_gtid}, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
                        (host, int(port), user, password))
            cur.execute("START SLAVE")
        log.info("mariadb on port %d: replicating from %s:%d (%s)", self.port, host, port, use_gtid)

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
        with self._admin("wait_replicating") as cur:
            while True:
                status = self._slave_status(cur)
                if status is None:
                    raise MariaDBError(f"mariadb on port {self.port}: no replication configured")
                if status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes":
                    waited = time.monotonic() - started
                    log.info("mariadb on port %d: replicating from %s:%s after %.2fs", self.port,
                             status["Master_Host"], status["Master_Port"], waited)
                    return waited
                sql_stopped = status["Slave_SQL_Running"] == "No" and status["Last_SQL_Error"]
                if sql_stopped or time.monotonic() - started > timeout:
                    break
                time.sleep(0.05)
        errors = "; ".join(f"{key}: {_one_line(status[key])}" for key in ("Last_IO_Error", "Last_SQL_Error")
                           if status[key]) or "no error reported"
        raise MariaDBError(f"mariadb on port {self.port}: replication not running (IO {status['Slave_IO_Running']}, "
                           f"SQL {status['Slave_SQL_Running']}): {errors}")

    def wait_for_gtid(self, gtid_pos: str, timeout: float = 30.0) -> bool:
        """True once this node has applied every GTID in `gtid_pos` (MASTER_GTID_WAIT), False at the timeout."""
        with self._admin("wait_for_gtid") as cur:
            cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (gtid_pos, float(timeout)))
            row = cur.fetchone()
        reached = row is not None and row[0] == 0
        log.info("mariadb on port %d: gtid %s %s", self.port, gtid_pos or "(empty)",
                 "reached" if reached else f"not reached within {timeout:.1f}s")
        return reached

    def promote(self) -> None:
        """Stop replicating, forget the primary, become writable. Semi-sync master stays as it was (off):
        enable it with set_semi_sync_master() once a standby is attached."""
        started = time.monotonic()
        with self._admin("promote") as cur:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            cur.execute("SET GLOBAL read_only=0")
        log.info("mariadb on port %d: promoted to writable primary in %.3fs", self.port,
                 time.monotonic() - started)

    def set_semi_sync_master(self, enabled: bool, timeout_ms: int | None = None) -> None:
        """Switch semi-sync waiting on this (primary) node on or off, optionally with a new timeout."""
        with self._admin("set_semi_sync_master") as cur:
            if timeout_ms is not None:
                cur.execute("SET GLOBAL rpl_semi_sync_master_timeout=%s", (int(timeout_ms),))
            cur.execute(f"SET GLOBAL rpl_semi_sync_master_enabled={1 if enabled else 0}")
        if timeout_ms is not None:
            self.semi_sync_timeout_ms = int(timeout_ms)
        log.info("mariadb on port %d: semi-sync master %s (timeout %d ms)", self.port,
                 "on" if enabled else "off", self.semi_sync_timeout_ms)

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
        wait_s = min(30, max(5, 3 * self.semi_sync_timeout_ms // 1000))
        try:
            conn = self.connect_root(connect_timeout=connect_timeout, read_timeout=wait_s + 5)
        except pymysql.MySQLError as exc:
            log.info("mariadb on port %d: fence: unreachable (%s) after %.3fs", self.port, _one_line(exc),
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
            raise MariaDBError(f"mariadb on port {self.port}: fence failed: {_one_line(exc)}") from exc
        log.info("mariadb on port %d: fenced (read_only, %d client connection(s) killed) in %.3fs", self.port,
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
        with self._admin("role_status") as cur:
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
            last_error = _one_line(slave["Last_SQL_Error"] or slave["Last_IO_Error"] or "")
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
        with self._admin("gtid_binlog_state") as cur:
            cur.execute("SELECT @@gtid_binlog_state")
            row = cur.fetchone()
        return parse_gtid_list(row[0] if row is not None else "")

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
        self.stop(timeout=10.0)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.initialize(template=template)
        self.start()
        self.wait_ready(timeout)
        self.ensure_database(db_name, app_user, app_password, log_bin=False)
        self.ensure_replication_user(repl_user, repl_password, log_bin=False)
        self._load_dump_from(source, db_name, timeout)
        with self._admin("rebuild_from") as cur:
            cur.execute("SELECT @@gtid_slave_pos")
            row = cur.fetchone()
        slave_pos = row[0] if row is not None else ""
        self.replicate_from(HOST, source.port, repl_user, repl_password, use_gtid="slave_pos")
        self.wait_replicating(timeout)
        took = time.monotonic() - started
        log.info("mariadb on port %d: rebuilt from port %d (database %s, gtid_slave_pos %s) in %.2fs",
                 self.port, source.port, db_name, slave_pos or "(empty)", took)
        return took

    def _load_dump_from(self, source: MariaDBServer, db_name: str, timeout: float) -> None:
        _check_identifier(db_name)
        dump_bin = _find(("mariadb-dump", "mysqldump"))
        client_bin = _find(("mariadb", "mysql"))
        if dump_bin is None or client_bin is None:
            raise MariaDBError(f"mariadb-dump or mariadb client not found; {_INSTALL_HINT}")
        dump_argv = [str(dump_bin), "--no-defaults", f"--socket={source.socket_path}", "--user=root",
                     "--single-transaction", "--master-data=1", "--gtid", "--routines", "--triggers",
                     "--events", "--databases", db_name]
        load_argv = [str(client_bin), "--no-defaults", f"--socket={self.socket_path}", "--user=root",
                     "--init-command=SET SESSION sql_log_bin=0", "--batch"]
        with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as load_err:
            dump = subprocess.Popen(dump_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dump_err)
            try:
                assert dump.stdout is not None
                load = subprocess.Popen(load_argv, stdin=dump.stdout, stdout=subprocess.DEVNULL, stderr=load_err)
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
                    raise MariaDBError(f"mariadb on port {self.port}: {name} from port {source.port} failed "
                                       f"with status {status}: {tail[0]}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean InnoDB shutdown), then SIGKILL if it takes longer than `timeout`."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        killed = terminate(proc, timeout)
        log.info("mariadb on port %d stopped (pid %d%s)", self.port, proc.pid, ", killed" if killed else "")
        self._remove_socket()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, socket and pid file left behind."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        crash(proc)
        log.info("mariadb on port %d killed (pid %d)", self.port, proc.pid)

    def _remove_socket(self) -> None:
        # Only the fallback socket lives outside root; a crash leaves it behind.
        if not self.socket_path.is_relative_to(self.root.resolve()):
            self.socket_path.unlink(missing_ok=True)

    def cleanup(self) -> None:
        """Remove whatever this server left outside its root directory."""
        self._remove_socket()


def install_datadir(data_dir: Path) -> None:
    """A fresh datadir with root@localhost and root@127.0.0.1 (empty password) and no test database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binaries = find_binaries()
    argv = [str(binaries.install_db), "--no-defaults", f"--user={_os_user()}", f"--datadir={data_dir.resolve()}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
            # Passed through to the bootstrap server: the redo log is created at the size the server uses,
            # so the first start does not resize it and a copied template stays small.
            "--innodb-log-file-size=16M"]
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MariaDBError(f"{binaries.install_db.name} failed with status {done.returncode}: {tail[0]}")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


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


def _check_identifier(value: str) -> None:
    # Database and user names go into SQL as identifiers; settings restrict them the same way.
    if not value or len(value) > 64 or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in value):
        raise MariaDBError(f"invalid MariaDB identifier {value!r}: use letters, digits and underscores")


def managed_mariadb(settings: Settings, *, timeout: float = 60.0) -> MariaDBServer:
    """The persistent primary of the services profile under var/mariadb, started, ready, promoted (writable),
    with the app's database."""
    server = MariaDBServer(root=settings.var_dir / "mariadb", port=settings.db.port, server_id=1)
    server.initialize()
    server.start(settings.log_dir / "mariadb.log")
    try:
        server.wait_ready(timeout)
        server.ensure_database(settings.db.name, settings.db.user, settings.db.password.get_secret_value())
        # Nodes start read-only (fenced); the services profile has a single primary, writable at once.
        server.promote()
    except BaseException:
        server.stop()
        raise
    return server
