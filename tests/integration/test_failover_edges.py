"""The risky paths of failover (issue #18), on real throwaway MariaDB nodes run by the control plane's own
database code (control/database: DatabaseCluster, its monitor, RoleChanges, the standby's keeper):

- the standby dead, then the primary killed: no promotion, the old primary restarted in place;
- a standby that is behind: not in sync (IO thread stopped) or in sync with an unapplied relay log
  (SQL thread stopped, or blocked by a lock): refused or promoted, never losing an acknowledged commit;
- a frozen (SIGSTOP), not dead, primary: failed over, and the frozen process killed (STONITH);
- db.standby_loss = wait: a commit waits while the standby is away, and the monitor does not take the
  waiting primary for a dead one;
- a switchover the standby cannot catch up with: abandoned, the old primary writable (and waiting for
  the standby) again.

Every write the tests count as acknowledged is one whose COMMIT returned to the client.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import pymysql
import pytest

from lakefront.control.database import ClusterError, DatabaseCluster
from lakefront.control.status import Row, _replication_rows
from lakefront.servers.base import HOST
from lakefront.servers.procs import free_port
from lakefront.settings import load_settings
from support import eventually
from support.servers import mariadb_template

MakePair = Callable[..., DatabaseCluster]


_eventually = functools.partial(eventually, timeout=60.0)


def _app(cluster: DatabaseCluster, name: str, read_timeout: float | None = 10.0) -> pymysql.Connection[Any]:
    """The application's user on node `name` (it cannot override read_only)."""
    db = cluster.settings.db
    return pymysql.connect(host=HOST, port=cluster.nodes[name].port, user=db.user,
                           password=db.password.get_secret_value(), database=db.name, autocommit=True,
                           connect_timeout=2, read_timeout=read_timeout, write_timeout=5)


def _root_query(cluster: DatabaseCluster, name: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    server = cluster.nodes[name].server
    with closing(server.connect_root(connect_timeout=2, read_timeout=30)) as conn, conn.cursor() as cur:
        cur.execute(f"USE `{cluster.settings.db.name}`")
        cur.execute(sql, args)
        return list(cur.fetchall())


def _ids(cluster: DatabaseCluster, name: str) -> set[int]:
    return {int(row[0]) for row in _root_query(cluster, name, "SELECT id FROM edges")}


def _write(cluster: DatabaseCluster, name: str, ids: range) -> set[int]:
    """Insert `ids` through the app's user on `name`, one autocommit each; returns the acknowledged ones."""
    with closing(_app(cluster, name)) as conn, conn.cursor() as cur:
        for i in ids:
            cur.execute("INSERT INTO edges (id, note) VALUES (%s, 'x')", (i,))
    return set(ids)


def _refused_write(cluster: DatabaseCluster, name: str, i: int) -> int:
    """The MySQL error number a write through the app's user on `name` gets (0: it was accepted)."""
    try:
        with closing(_app(cluster, name)) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO edges (id, note) VALUES (%s, 'late')", (i,))
    except pymysql.MySQLError as exc:
        return int(exc.args[0])
    return 0


def _writable(cluster: DatabaseCluster, name: str) -> bool:
    try:
        return _root_query(cluster, name, "SELECT @@read_only") == [(0,)]
    except pymysql.MySQLError:
        return False


def _status(cluster: DatabaseCluster, name: str) -> dict[str, Any]:
    return cluster.nodes[name].repl.role_status()


def _in_sync(cluster: DatabaseCluster) -> bool:
    roles = cluster.roles
    return roles.readers == [roles.standby] and roles.standby_in_sync is True


def _gone(pid: int, config: Path) -> bool:
    """True when process `pid` no longer exists (or the pid now belongs to something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return str(config).encode() not in cmdline


@pytest.fixture
def make_pair(tmp_path: Path) -> Iterator[MakePair]:
    """Start a pair with these db settings (on top of fast probing), wait until the standby is in sync."""
    with ExitStack() as stack:
        def make(**db: Any) -> DatabaseCluster:
            settings = load_settings(profile="services", var_dir=tmp_path / "var",
                                     db={"port": free_port(), "standby_port": free_port(), "probe_interval_s": 0.1,
                                         "semi_sync_timeout_ms": 500, **db})
            cluster = DatabaseCluster(settings)
            for node in cluster.nodes.values():
                node.server.initialize(template=mariadb_template())
            stack.callback(cluster.stop)
            cluster.start()
            with closing(_app(cluster, cluster.roles.primary)) as conn, conn.cursor() as cur:
                # The heartbeat the monitor writes (migration 0002), and the table the tests count rows in.
                cur.execute("CREATE TABLE lf_heartbeat (id INT PRIMARY KEY, beat_at DATETIME(6) NOT NULL, "
                            "node VARCHAR(40) NOT NULL)")
                cur.execute("CREATE TABLE edges (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL)")
            _eventually(lambda: _in_sync(cluster), "the standby replicating in sync")
            return cluster

        yield make


def test_a_dead_standby_then_a_dead_primary_restarts_the_primary_in_place(make_pair: MakePair) -> None:
    cluster = make_pair()
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    acked = _write(cluster, primary, range(1, 51))

    cluster.nodes[standby].server.kill()
    cluster.nodes[primary].server.kill()

    # Not promoted: the standby was not there to promote. The old primary comes back, writable, as the primary.
    _eventually(lambda: cluster.nodes[primary].restarts == 1 and _writable(cluster, primary),
                "the old primary restarted in place and writable")
    assert roles.primary == primary and roles.events == []
    refused = cluster.describe()["failover_refused"]
    assert refused["primary"] == primary
    assert f"{standby} is not a replicating standby" in refused["reason"], refused
    database = Row("database", "database", "ok", "")
    _replication_rows(cluster.settings, {"database": cluster.describe()}, database)  # what `lakefront status` says
    assert f"failover refused at {refused['at']}" in database.detail and refused["reason"] in database.detail
    assert _ids(cluster, primary) == acked
    acked |= _write(cluster, primary, range(51, 61))  # it takes writes again

    # The standby comes back too and catches up on everything.
    _eventually(lambda: _in_sync(cluster), "the standby back in sync")
    assert cluster.nodes[standby].restarts == 1
    assert cluster.nodes[standby].repl.wait_for_gtid(str(_status(cluster, primary)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, standby) == acked == _ids(cluster, primary)


def test_a_standby_not_in_sync_is_not_promoted(make_pair: MakePair) -> None:
    cluster = make_pair(standby_loss="continue")
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    acked = _write(cluster, primary, range(1, 11))
    _root_query(cluster, standby, "STOP SLAVE IO_THREAD")
    # The next commits wait the semi-sync timeout, then the primary goes on alone; the monitor sees it.
    acked |= _write(cluster, primary, range(11, 12))
    _eventually(lambda: roles.standby_in_sync is False, "the standby seen out of sync")
    alone = _write(cluster, primary, range(12, 31))  # acknowledged by the primary alone
    assert not alone & _ids(cluster, standby)
    acked |= alone

    cluster.nodes[primary].server.kill()

    _eventually(lambda: cluster.nodes[primary].restarts == 1 and _writable(cluster, primary),
                "the old primary restarted in place and writable")
    assert roles.primary == primary and roles.events == []
    assert "was not in sync" in cluster.describe()["failover_refused"]["reason"]
    assert _ids(cluster, primary) == acked
    assert _refused_write(cluster, standby, 1000) == 1290  # the standby stayed fenced (read_only)

    _root_query(cluster, standby, "START SLAVE IO_THREAD")
    _eventually(lambda: roles.standby_in_sync is True, "the standby back in sync")
    assert cluster.nodes[standby].repl.wait_for_gtid(str(_status(cluster, primary)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, standby) == acked


def test_a_standby_in_sync_with_its_sql_thread_stopped_applies_its_relay_log_before_promotion(
        make_pair: MakePair) -> None:
    # In sync (semi-sync acknowledges on receipt) but applying nothing: every acknowledged commit is in its
    # relay log only. Promotion must apply it first; RESET SLAVE ALL would throw it away.
    cluster = make_pair()
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    acked = _write(cluster, primary, range(1, 11))
    _root_query(cluster, standby, "STOP SLAVE SQL_THREAD")
    acked |= _write(cluster, primary, range(11, 41))
    assert _status(cluster, primary)["semi_sync_master_status"] is True  # still acknowledged by the standby
    assert _ids(cluster, standby) < acked  # ...which has not applied them

    cluster.nodes[primary].server.kill()

    _eventually(lambda: roles.primary == standby and _writable(cluster, standby), "the standby promoted")
    assert _ids(cluster, standby) == acked
    assert roles.events[-1].kind == "failover" and roles.events[-1].new_primary == standby
    _eventually(lambda: roles.readers == [primary], "the old primary rejoined as the standby")


@contextlib.contextmanager
def _table_locked(cluster: DatabaseCluster, node: str) -> Iterator[None]:
    """A session on `node` holds the test table (a long report, a backup would): its SQL thread blocks on it
    until the block ends."""
    with closing(cluster.nodes[node].server.connect_root(read_timeout=30)) as blocker:
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLES `{cluster.settings.db.name}`.edges WRITE")
        yield
        with blocker.cursor() as cur:
            cur.execute("UNLOCK TABLES")


def test_a_standby_that_cannot_apply_its_relay_log_in_time_is_not_promoted(make_pair: MakePair) -> None:
    cluster = make_pair(catch_up_timeout_s=2)
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    acked = _write(cluster, primary, range(1, 6))
    _eventually(lambda: _ids(cluster, standby) == acked, "the standby applied the first rows")
    with _table_locked(cluster, standby):
        acked |= _write(cluster, primary, range(6, 31))  # received (acknowledged), not applied

        cluster.nodes[primary].server.kill()

        _eventually(lambda: cluster.nodes[primary].restarts == 1 and _writable(cluster, primary),
                    "the old primary restarted in place and writable")
        assert roles.primary == primary and roles.events == []
        assert "did not apply its relay log" in cluster.describe()["failover_refused"]["reason"]
        assert _ids(cluster, primary) == acked
    _eventually(lambda: _in_sync(cluster), "the standby back in sync")
    assert cluster.nodes[standby].repl.wait_for_gtid(str(_status(cluster, primary)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, standby) == acked


class Writer:
    """Inserts ids 1, 2, ... through the app's user on one node, one autocommit each, until stopped or a
    write fails; `acked` holds those whose commit returned."""

    def __init__(self, cluster: DatabaseCluster, name: str) -> None:
        self.acked: set[int] = set()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._conn = _app(cluster, name, read_timeout=3)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        try:
            with self._conn.cursor() as cur:
                while not self._stop.is_set():
                    i += 1
                    cur.execute("INSERT INTO edges (id, note) VALUES (%s, 'w')", (i,))
                    self.acked.add(i)
        except pymysql.MySQLError as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self._conn.close()


def test_a_frozen_primary_is_failed_over_and_killed(make_pair: MakePair) -> None:
    cluster = make_pair()
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    old = cluster.nodes[primary].server
    pid = old.pid
    assert pid is not None
    writer = Writer(cluster, primary)
    try:
        _eventually(lambda: len(writer.acked) >= 20, "writes acknowledged before the freeze")
        os.kill(pid, signal.SIGSTOP)  # frozen, not dead: its port still accepts connections
        try:
            _eventually(lambda: roles.primary == standby, "the standby promoted")
            # STONITH: the frozen process was killed, not left to wake up as a second writable primary.
            _eventually(lambda: _gone(pid, old.config_path), f"the frozen mariadbd (pid {pid}) killed", timeout=10)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        _eventually(lambda: writer.error is not None, "the write in flight at the freeze failed")
    finally:
        writer.stop()
    acked = set(writer.acked)
    assert acked and _writable(cluster, standby)
    assert acked <= _ids(cluster, standby)
    event = roles.events[-1]
    assert (event.kind, event.old_primary, event.new_primary) == ("failover", primary, standby)

    # The old node restarts (a new process, read-only) and rejoins as the standby: it takes no write.
    _eventually(lambda: roles.readers == [primary] and cluster.nodes[primary].alive(), "the old primary rejoined")
    assert cluster.nodes[primary].server.pid != pid
    assert _refused_write(cluster, primary, 10_000) == 1290
    assert _refused_write(cluster, standby, 10_001) == 0
    assert cluster.nodes[primary].repl.wait_for_gtid(str(_status(cluster, standby)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, primary) == _ids(cluster, standby)


def _waiting_for_ack(cluster: DatabaseCluster, name: str, thread_id: int) -> bool:
    rows = _root_query(cluster, name, "SELECT state FROM information_schema.processlist WHERE id = %s",
                       (thread_id,))
    return bool(rows) and "semi-sync" in str(rows[0][0]).lower()


def test_standby_loss_wait_holds_commits_until_the_standby_is_back(make_pair: MakePair) -> None:
    cluster = make_pair(standby_loss="wait")
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    old_pid = cluster.nodes[primary].server.pid
    acked = _write(cluster, primary, range(1, 11))
    _root_query(cluster, standby, "STOP SLAVE IO_THREAD")  # the standby away: nothing acknowledges

    conn = _app(cluster, primary, read_timeout=None)
    thread_id = conn.thread_id()
    with ThreadPoolExecutor(1) as pool, closing(conn):
        def commit() -> int:
            with conn.cursor() as cur:
                return int(cur.execute("INSERT INTO edges (id, note) VALUES (11, 'waits')"))

        pending: Future[int] = pool.submit(commit)
        _eventually(lambda: _waiting_for_ack(cluster, primary, thread_id), "the commit waiting for the standby")
        # The monitor's probes wait too (its heartbeat is a commit). It must not take the primary, which
        # answers, for a dead one: let it run more than probe_failures probes.
        ticks = cluster.monitor._ticks
        _eventually(lambda: cluster.monitor._ticks > ticks + cluster.settings.db.probe_failures,
                    "the monitor probing the waiting primary", timeout=120)
        # Neither acknowledged without the standby, nor failed by a failover or restart of the primary.
        assert not pending.done(), f"the commit ended while the standby was away: {pending.exception()!r}"
        assert cluster.monitor.heartbeat.waiting_for_standby is True
        assert roles.primary == primary and roles.events == [] and cluster.nodes[primary].server.pid == old_pid
        assert cluster.nodes[primary].restarts == 0 and roles.restart_in_place is False

        _root_query(cluster, standby, "START SLAVE IO_THREAD")  # back: the commit is acknowledged
        assert pending.result(timeout=60) == 1
    acked.add(11)
    assert acked <= _ids(cluster, primary)
    assert cluster.nodes[standby].repl.wait_for_gtid(str(_status(cluster, primary)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, standby) == acked
    _eventually(lambda: _in_sync(cluster), "the standby in sync")

    # And a failover then loses nothing.
    acked |= _write(cluster, primary, range(12, 31))
    cluster.nodes[primary].server.kill()
    _eventually(lambda: roles.primary == standby and _writable(cluster, standby), "the standby promoted")
    assert _ids(cluster, standby) == acked


def test_a_switchover_the_standby_cannot_catch_up_with_is_abandoned(make_pair: MakePair) -> None:
    cluster = make_pair(catch_up_timeout_s=2)
    roles = cluster.roles
    primary, standby = roles.primary, roles.standby
    acked = _write(cluster, primary, range(1, 6))
    _eventually(lambda: _ids(cluster, standby) == acked, "the standby applied the first rows")
    with _table_locked(cluster, standby):
        acked |= _write(cluster, primary, range(6, 21))

        with pytest.raises(ClusterError) as raised:
            cluster.switchover("doomed")
        message = str(raised.value)
        assert "\n" not in message
        assert f"{standby} did not catch up with {primary}" in message and "abandoned" in message

        # The old primary is the primary again: writable, waiting for its standby, published with its reader.
        assert roles.primary == primary and roles.events == []
        assert roles.readers == [standby]
        status = _status(cluster, primary)
        assert status["read_only"] is False
        assert status["semi_sync_master_enabled"] is True, "the abandoned switchover left semi-sync off"
        assert _refused_write(cluster, standby, 1000) == 1290
        acked |= _write(cluster, primary, range(21, 31))
    _eventually(lambda: _in_sync(cluster), "the standby in sync again")
    assert cluster.nodes[standby].repl.wait_for_gtid(str(_status(cluster, primary)["gtid_binlog_pos"]), 30)
    assert _ids(cluster, primary) == acked == _ids(cluster, standby)

    # Nothing is stuck: a switchover now succeeds.
    event = cluster.switchover("after")
    assert (event.old_primary, event.new_primary) == (primary, standby)
    assert _ids(cluster, standby) == acked
