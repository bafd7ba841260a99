"""Primary/standby replication primitives on real MariaDB servers: GTID replication, lossless semi-sync,
promotion, fencing, divergence detection and rebuild.

The control plane administers nodes as root over their unix sockets; root is exempt from read_only, so
root never writes application data. The application user is bound by read_only (error 1290).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import pymysql
import pytest

from lakefront.servers.base import HOST
from lakefront.servers.replication import Replication, diverged, parse_gtid_list
from support import eventually
from support.servers import APP_PASSWORD, APP_USER, mariadb_template, throwaway_mariadb

log = logging.getLogger("lakefront.tests.replication")

DB = "shop"
REPL_USER = "repl"
REPL_PASSWORD = "repl-secret"
READ_ONLY_ERROR = 1290  # ER_OPTION_PREVENTS_STATEMENT: "running with the --read-only option"

NewNode = Callable[[], Replication]


@pytest.fixture
def new_node(tmp_path: Path) -> Iterator[NewNode]:
    """Started, ready, read-only (never promoted) servers; all stopped and removed at teardown."""
    with ExitStack() as stack:
        def make() -> Replication:
            return Replication(stack.enter_context(throwaway_mariadb(tmp_path, writable=False)).server)

        yield make


def _app(node: Replication) -> pymysql.Connection[Any]:
    return pymysql.connect(host=HOST, port=node.server.port, user=APP_USER, password=APP_PASSWORD, database=DB,
                           autocommit=True, connect_timeout=5, read_timeout=30)


def _app_exec(node: Replication, sql: str, args: Any = None) -> None:
    with _app(node) as conn, conn.cursor() as cur:
        cur.execute(sql, args)


def _root_query(node: Replication, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with node.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _rows(node: Replication) -> list[tuple[Any, ...]]:
    return _root_query(node, f"SELECT id, note FROM {DB}.orders ORDER BY id")


def _checksum(node: Replication) -> int:
    return int(_root_query(node, f"CHECKSUM TABLE {DB}.orders")[0][1])


_eventually = functools.partial(eventually, timeout=15.0)


def _synced(source: Replication, replica: Replication) -> None:
    position = source.role_status()["gtid_binlog_pos"]
    assert replica.wait_for_gtid(position, timeout=15), f"replica never reached {position}"


def _primary(node: Replication) -> Replication:
    node.promote()
    node.ensure_replication_user(REPL_USER, REPL_PASSWORD)
    node.server.ensure_database(DB, APP_USER, APP_PASSWORD)
    _app_exec(node, "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL) ENGINE=InnoDB")
    return node


def _attach(replica: Replication, primary: Replication,
            use_gtid: Literal["slave_pos", "current_pos"] = "slave_pos") -> None:
    replica.replicate_from(HOST, primary.server.port, REPL_USER, REPL_PASSWORD, use_gtid=use_gtid)
    replica.wait_replicating(15)


@pytest.fixture
def pair(new_node: NewNode) -> tuple[Replication, Replication]:
    primary = _primary(new_node())
    replica = new_node()
    _attach(replica, primary)
    return primary, replica


def _assert_read_only_error(node: Replication, sql: str) -> None:
    with pytest.raises(pymysql.err.OperationalError) as caught:
        _app_exec(node, sql)
    assert caught.value.args[0] == READ_ONLY_ERROR, caught.value


# ---- pure functions ------------------------------------------------------------------------------

def test_gtid_lists_parse_into_domain_server_seq_maps() -> None:
    assert parse_gtid_list("") == {}
    assert parse_gtid_list("0-1-5,0-2-7, 1-1-3") == {(0, 1): 5, (0, 2): 7, (1, 1): 3}


def test_diverged_means_the_candidate_holds_a_gtid_the_primary_lacks() -> None:
    primary = {(0, 1): 10, (0, 2): 12}
    assert not diverged({}, primary)
    assert not diverged({(0, 1): 10}, primary)  # a prefix of what the primary has
    assert not diverged({(0, 1): 7}, primary)  # behind
    assert diverged({(0, 1): 11}, primary)  # wrote past what the primary replicated
    assert diverged({(0, 1): 10, (0, 3): 1}, primary)  # a server the primary never heard of
    assert diverged({(1, 1): 1}, primary)  # another domain
    assert not diverged(primary, {(0, 1): 10, (0, 2): 12, (0, 3): 4})


# ---- a. GTID replication, read-only replica --------------------------------------------------------

def test_a_replica_gets_the_primarys_writes_and_read_only_binds_the_app_user_not_root(
        pair: tuple[Replication, Replication]) -> None:
    primary, replica = pair
    settings = _root_query(replica, "SELECT @@read_only, @@sync_binlog, @@innodb_flush_log_at_trx_commit, "
                                    "@@rpl_semi_sync_slave_enabled, @@rpl_semi_sync_master_enabled, "
                                    "@@rpl_semi_sync_master_wait_point, @@rpl_semi_sync_master_timeout, "
                                    "@@slave_net_timeout, @@gtid_strict_mode, @@log_slave_updates")[0]
    assert settings == (1, 1, 1, 1, 0, "AFTER_SYNC", 1000, 5, 1, 1)

    _app_exec(primary, "INSERT INTO orders VALUES (1, 'paid')")
    _synced(primary, replica)
    assert _rows(replica) == [(1, "paid")]

    status = replica.role_status()
    assert status["read_only"] and status["is_replica"]
    assert (status["io_running"], status["sql_running"], status["last_error"]) == ("Yes", "Yes", "")
    assert status["seconds_behind"] == 0
    assert primary.role_status()["read_only"] is False and primary.role_status()["is_replica"] is False

    # The app user has privileges on its database only: nothing lets it past read_only.
    with _app(replica) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cur.fetchall())
    assert "SUPER" not in grants and "READ ONLY ADMIN" not in grants and "ON *.*" in grants
    _assert_read_only_error(replica, "INSERT INTO orders VALUES (2, 'on the replica')")
    # Root is exempt (this is why the control plane uses root for administration only, never for data:
    # this very write gives the replica a GTID of its own, i.e. makes it diverge).
    _root_query(replica, f"INSERT INTO {DB}.orders VALUES (3, 'root')")
    assert _rows(replica) == [(1, "paid"), (3, "root")]
    assert diverged(replica.gtid_binlog_state(), primary.gtid_binlog_state())


# ---- b. lossless semi-sync ----------------------------------------------------------------------

def test_b_semi_sync_commits_wait_for_the_standby_and_fall_back_after_the_timeout(
        pair: tuple[Replication, Replication]) -> None:
    primary, replica = pair
    assert primary.role_status()["semi_sync_master_status"] is False
    primary.set_semi_sync_master(True)
    _eventually(lambda: primary.role_status()["semi_sync_master_clients"] == 1, "the standby attached as semi-sync")
    status = primary.role_status()
    assert status["semi_sync_master_enabled"] and status["semi_sync_master_status"]
    assert replica.role_status()["semi_sync_slave_status"]

    before = primary.role_status()
    _app_exec(primary, "INSERT INTO orders VALUES (1, 'acknowledged')")
    after = primary.role_status()
    assert after["semi_sync_master_yes_tx"] == before["semi_sync_master_yes_tx"] + 1
    assert after["semi_sync_master_no_tx"] == before["semi_sync_master_no_tx"]
    # AFTER_SYNC: acknowledged means the standby's relay log has it.
    _synced(primary, replica)

    _root_query(replica, "STOP SLAVE IO_THREAD")
    _eventually(lambda: primary.role_status()["semi_sync_master_clients"] == 0, "the standby detached")
    started = time.monotonic()
    _app_exec(primary, "INSERT INTO orders VALUES (2, 'not acknowledged')")
    waited = time.monotonic() - started
    log.info("commit with the standby down returned after %.3fs (timeout %d ms)", waited,
             primary.server.semi_sync_timeout_ms)
    down = primary.role_status()
    assert down["semi_sync_master_no_tx"] == after["semi_sync_master_no_tx"] + 1  # it waited, then gave up
    assert down["semi_sync_master_yes_tx"] == after["semi_sync_master_yes_tx"]
    assert down["semi_sync_master_status"] is False and down["semi_sync_master_enabled"] is True

    _root_query(replica, "START SLAVE")
    replica.wait_replicating(15)
    _eventually(lambda: primary.role_status()["semi_sync_master_status"] is True, "semi-sync back ON")
    _app_exec(primary, "INSERT INTO orders VALUES (3, 'acknowledged again')")
    again = primary.role_status()
    assert again["semi_sync_master_yes_tx"] >= down["semi_sync_master_yes_tx"] + 1
    assert again["semi_sync_master_no_tx"] == down["semi_sync_master_no_tx"]
    _synced(primary, replica)
    assert [row[0] for row in _rows(replica)] == [1, 2, 3]


# ---- c. failover primitives ----------------------------------------------------------------------

def test_c_after_a_crash_the_promoted_replica_writes_and_the_restarted_old_primary_is_fenced(
        pair: tuple[Replication, Replication]) -> None:
    primary, replica = pair
    _app_exec(primary, "INSERT INTO orders VALUES (1, 'before')")
    _synced(primary, replica)

    killed_at = time.monotonic()
    primary.server.kill()
    replica.promote()
    _app_exec(replica, "INSERT INTO orders VALUES (2, 'after failover')")
    log.info("kill -9 of the primary to first write on the promoted replica: %.3fs", time.monotonic() - killed_at)
    status = replica.role_status()
    assert not status["read_only"] and not status["is_replica"]
    assert _rows(replica) == [(1, "before"), (2, "after failover")]

    primary.server.start()
    primary.server.wait_ready()
    restarted = primary.role_status()
    assert restarted["read_only"] and not restarted["is_replica"]  # fenced by construction, not replicating
    _assert_read_only_error(primary, "INSERT INTO orders VALUES (3, 'split brain')")
    assert _rows(primary) == [(1, "before")]


# ---- d. divergence and rebuild -------------------------------------------------------------------

def test_d_a_diverged_old_primary_is_detected_and_rebuilt_while_the_new_primary_takes_writes(
        pair: tuple[Replication, Replication]) -> None:
    old, new = pair
    with _app(old) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s)", [(i, f"row {i}") for i in range(1, 2001)])
    _synced(old, new)
    _root_query(new, "STOP SLAVE IO_THREAD")
    _app_exec(old, "INSERT INTO orders VALUES (5000, 'only on the old primary')")
    old.server.kill()
    new.promote()
    _app_exec(new, "INSERT INTO orders VALUES (5001, 'only on the new primary')")

    old.server.start()
    old.server.wait_ready()
    old_state, new_state = old.gtid_binlog_state(), new.gtid_binlog_state()
    assert (5000, "only on the old primary") in _rows(old)  # the crash kept the acknowledged commit
    assert diverged(old_state, new_state)
    assert not diverged(new_state, new_state)

    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        with _app(new) as conn, conn.cursor() as cur:
            next_id = 10_000
            while not stop.is_set():
                cur.execute("INSERT INTO orders VALUES (%s, 'during rebuild')", (next_id,))
                written.append(next_id)
                next_id += 1

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        took = old.rebuild_from(new.server, repl_user=REPL_USER, repl_password=REPL_PASSWORD, db_name=DB,
                                app_user=APP_USER, app_password=APP_PASSWORD, template=mariadb_template())
    finally:
        stop.set()
        writer.join(10)
    log.info("rebuild of a 2000-row node while the source took %d writes: %.2fs", len(written), took)
    assert written, "the source took no writes during the rebuild"

    _app_exec(new, "INSERT INTO orders VALUES (6000, 'after the rebuild')")
    _synced(new, old)
    status = old.role_status()
    assert status["read_only"] and status["is_replica"]
    assert (status["io_running"], status["sql_running"], status["last_error"]) == ("Yes", "Yes", "")
    rows = _rows(old)
    assert rows == _rows(new)
    assert _checksum(old) == _checksum(new)
    ids = {row[0] for row in rows}
    assert 5000 not in ids and {5001, 6000} <= ids and set(written) <= ids
    assert not diverged(old.gtid_binlog_state(), new.gtid_binlog_state())
    _assert_read_only_error(old, "INSERT INTO orders VALUES (7000, 'on the rebuilt replica')")


# ---- e. clean switchover -------------------------------------------------------------------------

def test_e_a_clean_switchover_does_not_diverge_and_the_old_primary_rejoins_with_current_pos(
        pair: tuple[Replication, Replication]) -> None:
    old, new = pair
    with _app(old) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, 'before')", [(i,) for i in range(1, 51)])

    assert old.fence()
    _assert_read_only_error(old, "INSERT INTO orders VALUES (100, 'fenced')")
    final_position = old.role_status()["gtid_binlog_pos"]
    assert new.wait_for_gtid(final_position, timeout=15)
    new.promote()
    assert not diverged(old.gtid_binlog_state(), new.gtid_binlog_state())

    _app_exec(new, "INSERT INTO orders VALUES (51, 'after switchover')")
    _attach(old, new, use_gtid="current_pos")
    _synced(new, old)
    status = old.role_status()
    assert status["read_only"] and status["is_replica"]
    assert (status["io_running"], status["sql_running"], status["last_error"]) == ("Yes", "Yes", "")
    assert _rows(old) == _rows(new) and len(_rows(old)) == 51
    assert not diverged(old.gtid_binlog_state(), new.gtid_binlog_state())
    assert not new.role_status()["read_only"]


# ---- f. fencing ---------------------------------------------------------------------------------

def test_f_fencing_a_dead_server_reports_unreachable(new_node: NewNode) -> None:
    node = new_node()
    node.server.kill()  # the socket file stays behind: connection refused
    started = time.monotonic()
    assert node.fence() is False
    node.server.socket_path.unlink()  # and now the socket is missing
    assert node.fence() is False
    log.info("fence() on a dead node (twice) returned in %.3fs", time.monotonic() - started)


def test_f_fencing_a_live_primary_makes_it_read_only_and_kills_open_app_transactions(
        pair: tuple[Replication, Replication]) -> None:
    primary, replica = pair
    conn = _app(primary)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO orders VALUES (1, 'open transaction')")
        assert primary.fence() is True
        with pytest.raises(pymysql.err.OperationalError) as caught, conn.cursor() as cur:
            cur.execute("COMMIT")
        assert caught.value.args[0] in (2006, 2013), caught.value  # the connection is gone
    finally:
        conn.close()
    status = primary.role_status()
    assert status["read_only"] and not status["semi_sync_master_enabled"]
    assert _rows(primary) == []
    _assert_read_only_error(primary, "INSERT INTO orders VALUES (2, 'after fencing')")
    # The standby's binlog dump connection survives the fence.
    assert replica.role_status()["io_running"] == "Yes"


def test_f_fencing_interrupts_a_commit_waiting_for_the_standby_without_acknowledging_it(
        pair: tuple[Replication, Replication]) -> None:
    primary, replica = pair
    primary.set_semi_sync_master(True, timeout_ms=60_000)  # as good as "wait forever" for this test
    _eventually(lambda: primary.role_status()["semi_sync_master_clients"] == 1, "the standby attached as semi-sync")
    _root_query(replica, "STOP SLAVE IO_THREAD")
    _eventually(lambda: primary.role_status()["semi_sync_master_clients"] == 0, "the standby detached")
    outcome: list[BaseException | str] = []

    def commit() -> None:
        try:
            _app_exec(primary, "INSERT INTO orders VALUES (1, 'waiting for the standby')")
            outcome.append("acknowledged")
        except pymysql.MySQLError as exc:
            outcome.append(exc)

    writer = threading.Thread(target=commit, daemon=True)
    writer.start()
    _eventually(lambda: any(row[0] == "Waiting for semi-sync ACK from slave" for row in _root_query(
        primary, "SELECT state FROM information_schema.processlist WHERE user = %s", (APP_USER,))),
        "the commit waits for the standby")
    assert primary.fence() is True
    writer.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], pymysql.err.OperationalError), outcome
    assert outcome[0].args[0] == 2013  # outcome unknown to the client: never told "committed"
    # The transaction is in the fenced node's binlog (AFTER_SYNC) but not on the standby: if the
    # standby is promoted now, this node has diverged and must be rebuilt.
    assert _rows(primary) == [(1, "waiting for the standby")]
    assert _rows(replica) == []
    status = primary.role_status()
    assert status["read_only"] and not status["semi_sync_master_enabled"]
    assert status["semi_sync_master_yes_tx"] == 0 and status["semi_sync_master_no_tx"] == 1
