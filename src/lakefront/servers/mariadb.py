"""MariaDB (the RDS MySQL role) from Debian's packages: initialise a datadir, start, wait, stop.

One `MariaDBServer` owns one root directory D:

    D/my.cnf    the only configuration the server reads (--defaults-file, nothing from /etc)
    D/data      the datadir, including binary and relay logs
    D/sock      root's way in (unix socket); D/mariadbd.pid, D/error.log

The replication settings (binary log, GTID strictness, relay log) are always on so that a standby
can be attached to any primary started here; semi-synchronous replication is not: enabled on a
primary with no replica attached it stalls every commit for the semi-sync timeout.

Every node starts read-only and without replication threads (fencing by construction): it becomes
writable only when the control plane calls `promote()`, and replicates only after `replicate_from()`.
read_only binds the application user (privileges on its database only, no READ ONLY ADMIN), not
root: the control plane uses root, over the unix socket, for administration only. Replicated events
are applied regardless of read_only.

The replication operations of the control plane (promote, replicate_from, fence, role_status,
rebuild_from, ...) are servers/replication.py's `Replication`, which holds a `MariaDBServer`; this
module knows nothing of replication but the settings every node starts with.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakefront.servers.base import HOST, Server, ServerError, system_binary

if TYPE_CHECKING:
    import pymysql

log = logging.getLogger("lakefront.servers")

_SEARCH_DIRS = (Path("/usr/sbin"), Path("/usr/bin"))
# sun_path holds 108 bytes; deep temp dirs (pytest's) can exceed it.
_MAX_SOCKET_PATH = 100
INSTALL_HINT = "install it with: apt-get install mariadb-server"


class MariaDBError(ServerError):
    """MariaDB could not be found, initialised, started or administered; the message is one line."""


def one_line(value: object) -> str:
    return " ".join(str(value).split())


def check_identifier(value: str) -> None:
    # Database and user names go into SQL as identifiers; settings restrict them the same way.
    if not value or len(value) > 64 or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in value):
        raise MariaDBError(f"invalid MariaDB identifier {value!r}: use letters, digits and underscores")


@dataclass(frozen=True)
class MariaDBBinaries:
    server: Path
    install_db: Path


def find_tool(names: tuple[str, ...]) -> Path | None:
    """One of MariaDB's executables (the server, install-db, dump, client), on PATH or in /usr/sbin, /usr/bin."""
    return system_binary(names, _SEARCH_DIRS)


def find_binaries() -> MariaDBBinaries:
    """The server and install-db executables, on PATH or in /usr/sbin, /usr/bin."""
    server = find_tool(("mariadbd", "mysqld"))
    install_db = find_tool(("mariadb-install-db", "mysql_install_db"))
    if server is None or install_db is None:
        missing = "mariadbd" if server is None else "mariadb-install-db"
        raise MariaDBError(f"{missing} not found on PATH, /usr/sbin or /usr/bin; {INSTALL_HINT}")
    return MariaDBBinaries(server=server, install_db=install_db)


def _os_user() -> str:
    # mariadbd refuses to run as root unless told to; as anyone else, naming yourself is harmless.
    return pwd.getpwuid(os.getuid()).pw_name


def _connect(**kwargs: Any) -> pymysql.Connection[Any]:
    import pymysql

    return pymysql.connect(charset="utf8mb4", autocommit=True, **kwargs)


@dataclass
class MariaDBServer(Server):
    """A MariaDB server living entirely under `root`, listening on 127.0.0.1:`port`."""

    kind = "mariadb"
    error = MariaDBError
    ready_timeout_s = 60.0
    stop_timeout_s = 30.0
    """A clean InnoDB shutdown."""

    root: Path
    port: int
    server_id: int = 1
    # How long a commit on a semi-sync primary waits for a standby's acknowledgement before the
    # primary falls back to asynchronous replication (Rpl_semi_sync_master_status turns OFF).
    semi_sync_timeout_ms: int = 1000
    # Fencing by construction: True for every node of the control plane. False only for a standalone
    # server that is never part of a failover pair (test fixtures), so that a restart keeps it writable.
    read_only_at_start: bool = True

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
        digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"lakefront-mariadb-{digest}.sock"

    def config_text(self) -> str:
        root = self.root.resolve()
        lines = [
            "[mariadbd]",
            f"user={_os_user()}",
            f"datadir={root / 'data'}",
            # Its own temporary directory: servers and install-db's bootstrap servers sharing /tmp collide
            # on internal temporary table names (seen: one of several concurrent installs aborting).
            f"tmpdir={self.tmp_dir}",
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

    @property
    def tmp_dir(self) -> Path:
        return self.root.resolve() / "tmp"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
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

    def argv(self) -> list[str]:
        return [str(find_binaries().server), f"--defaults-file={self.config_path}"]

    def default_log_path(self) -> Path:
        return self.root / "mariadbd.out"

    def hint(self) -> str:
        return f"see {self.error_log}"

    def prepare(self) -> None:
        if not self.config_path.is_file():
            raise MariaDBError(f"{self.config_path} is missing: call initialize() first")

    def ready(self) -> bool:
        """A query over TCP succeeds."""
        # root@127.0.0.1 (empty password) is created by install-db; it matches despite skip-name-resolve.
        with (_connect(host=HOST, port=self.port, user="root", password="", connect_timeout=2)  # nosec B106
              as conn,
              conn.cursor() as cur):
            cur.execute("SELECT 1")
        return True

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.MySQLError,)

    def connect_root(self, *, connect_timeout: float = 10.0,
                     read_timeout: float | None = None) -> pymysql.Connection[Any]:
        """An administrative connection over the unix socket (root@localhost); the caller closes it.

        A dead server (socket missing, or left behind by a crash: connection refused) raises
        pymysql's OperationalError 2002 at once.
        """
        import pymysql

        # root over the node's own socket, as mariadb-install-db created it (the node is ours alone).
        conn = _connect(unix_socket=str(self.socket_path), user="root", password="", defer_connect=True,  # nosec B106
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
    def admin(self, what: str, *, log_bin: bool = True) -> Iterator[pymysql.cursors.Cursor]:
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
            raise MariaDBError(f"{self.label}: {what} failed: {one_line(exc)}") from exc

    def ensure_database(self, name: str, user: str, password: str, *, log_bin: bool = True) -> None:
        """Create the database and the application user if missing, and grant the user everything on it.

        The user gets privileges on that database only (no SUPER, no READ ONLY ADMIN), so read_only binds it.
        On a primary the statements are binary-logged and so reach its replicas.
        """
        check_identifier(name)
        check_identifier(user)
        with self.admin("ensure_database", log_bin=log_bin) as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            # '%' rather than 'localhost': with skip-name-resolve, TCP from 127.0.0.1 never matches localhost.
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            # Keeps a changed password in step with the settings on the next start.
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (user,))
        log.info("%s: database %s ready for user %s", self.label, name, user)

    def url(self, name: str, user: str, password: str) -> str:
        """SQLAlchemy URL of database `name` as `user`, over TCP."""
        from urllib.parse import quote

        return (f"mysql+pymysql://{quote(user, safe='')}:{quote(password, safe='')}@{HOST}:{self.port}/{name}"
                "?charset=utf8mb4")

    def cleanup(self) -> None:
        """Remove whatever this server left outside its root directory: the fallback socket."""
        # A crash (kill) leaves it behind; it goes at the next stop.
        if not self.socket_path.is_relative_to(self.root.resolve()):
            self.socket_path.unlink(missing_ok=True)


def install_datadir(data_dir: Path) -> None:
    """A fresh datadir with root@localhost and root@127.0.0.1 (empty password) and no test database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binaries = find_binaries()
    # The bootstrap server's own temporary directory (see config_text's tmpdir).
    with tempfile.TemporaryDirectory(prefix="lakefront-install-db-") as tmp:
        argv = [str(binaries.install_db), "--no-defaults", f"--user={_os_user()}",
                f"--datadir={data_dir.resolve()}", "--auth-root-authentication-method=normal", "--skip-test-db",
                # Passed through to the bootstrap server: the redo log is created at the size the server
                # uses, so the first start does not resize it and a copied template stays small.
                "--innodb-log-file-size=16M", f"--tmpdir={tmp}"]
        # Fixed argv.
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,  # nosec B603
                              check=False)
    if done.returncode != 0:
        raise MariaDBError(f"{binaries.install_db.name} failed with status {done.returncode}: "
                           f"{_first_error(done.stderr or done.stdout)}")


def _first_error(output: str) -> str:
    """The line of install-db's output that says what went wrong: its last line is only '[ERROR] Aborting'."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in lines:
        if "ERROR" in line and not line.endswith("Aborting"):
            return line
    return lines[-1] if lines else "no output"
