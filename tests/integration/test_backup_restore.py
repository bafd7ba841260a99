"""Backups into the backups bucket and point-in-time restore, on real MariaDB servers and real SQLite files.

Orders placed, backup, more orders, a time T, more orders: a restore to T holds exactly the orders committed
by T (a new node on a port of its own; the running primary keeps taking orders throughout).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from lakefront.control.backup import BINLOG, BINLOG_SUMS, BackupError, backup_sqlite, manifests, restore_sqlite
from lakefront.control.backup.mariadb import archive_binlogs, backup_mariadb, restore_mariadb
from lakefront.data.objects.directory import DirectoryStore
from lakefront.servers.base import HOST
from lakefront.servers.mariadb import MariaDBServer
from support.servers import APP_PASSWORD, APP_USER, MariaDBHandle, mariadb_template, throwaway_mariadb

DB = "shop"


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[MariaDBHandle]:
    with throwaway_mariadb(tmp_path) as handle:
        handle.url(DB)
        _exec(handle.server, f"CREATE TABLE {DB}.orders (id INT AUTO_INCREMENT PRIMARY KEY, "
                             "total_cents BIGINT NOT NULL) ENGINE=InnoDB")
        yield handle


def _exec(server: MariaDBServer, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with server.connect_root() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _order(server: MariaDBServer, cents: int) -> None:
    # The application user over TCP, as the app tier writes.
    with pymysql.connect(host=HOST, port=server.port, user=APP_USER, password=APP_PASSWORD, database=DB,
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (total_cents) VALUES (%s)", (cents,))


def _orders(server: MariaDBServer) -> tuple[int, int]:
    count, total = _exec(server, f"SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM {DB}.orders")[0]
    return int(count), int(total)


def _next_second() -> int:
    """Wait until the wall clock enters a new second; that second, as epoch seconds."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.01)
    return int(time.time())


def test_restore_to_a_time_holds_exactly_the_orders_committed_by_then(primary: MariaDBHandle, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "backups")
    server = primary.server
    for cents in (100, 250, 399):
        _order(server, cents)
    manifest = backup_mariadb(store, server, DB, progress=lambda _: None)
    assert manifest.gtid and manifest.size > 0
    for cents in (1000, 2000):
        _order(server, cents)
    archive_binlogs(store, server)
    _next_second()
    for cents in (7, 8):
        _order(server, cents)
    at_t = _orders(server)
    t = _next_second() - 1  # every order above committed in second t or before
    _next_second()
    for cents in (50_000, 60_000):
        _order(server, cents)
    archive_binlogs(store, server)
    from datetime import UTC, datetime

    restored_root = tmp_path / "restored"
    _, restored = restore_mariadb(store, restored_root, to=datetime.fromtimestamp(t, UTC),
                                  template=mariadb_template(), progress=lambda _: None)
    try:
        assert restored.port != server.port
        assert _orders(restored) == at_t == (7, 100 + 250 + 399 + 1000 + 2000 + 7 + 8)
    finally:
        restored.stop()
        restored.cleanup()
    # The primary was never touched: it has every order, including those after T.
    assert _orders(server) == (9, at_t[1] + 110_000)


def test_restore_latest_replays_to_the_last_archived_transaction(primary: MariaDBHandle, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "backups")
    server = primary.server
    backup_mariadb(store, server, DB, progress=lambda _: None)
    for cents in (11, 22, 33):
        _order(server, cents)
    archive_binlogs(store, server)
    _order(server, 44)  # not archived yet: at risk, as the recovery point says
    _, restored = restore_mariadb(store, tmp_path / "latest", to=None, template=mariadb_template(),
                                  progress=lambda _: None)
    try:
        assert _orders(restored) == (3, 66)
    finally:
        restored.stop()
        restored.cleanup()


def test_a_restore_while_the_primary_takes_orders_does_not_disturb_it(primary: MariaDBHandle,
                                                                      tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "backups")
    server = primary.server
    _order(server, 5)
    backup_mariadb(store, server, DB, progress=lambda _: None)
    archive_binlogs(store, server)
    placed, errors, restoring = [0], [], threading.Event()

    def shop() -> None:  # orders through the whole restore, as the app tier writes
        while restoring.is_set():
            try:
                _order(server, 1)
                placed[0] += 1
            except pymysql.MySQLError as exc:
                errors.append(repr(exc))

    restoring.set()
    shopper = threading.Thread(target=shop)
    shopper.start()
    try:
        _, restored = restore_mariadb(store, tmp_path / "beside", to=None, template=mariadb_template(),
                                      progress=lambda _: None)
    finally:
        restoring.clear()
        shopper.join(timeout=30)
    try:
        assert _orders(restored) == (1, 5)  # what was archived, on a node of its own
        assert restored.port != server.port
    finally:
        restored.stop()
        restored.cleanup()
    assert errors == [] and placed[0] > 0
    assert _orders(server) == (1 + placed[0], 5 + placed[0])  # every order of the restore's time is there
    assert _exec(server, "SELECT @@read_only")[0][0] == 0  # still the writable primary


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_a_damaged_backup_is_refused_with_one_line(primary: MariaDBHandle, tmp_path: Path, damage: str) -> None:
    store = DirectoryStore(tmp_path / "backups")
    _order(primary.server, 5)
    manifest = backup_mariadb(store, primary.server, DB, progress=lambda _: None)
    path = store.root / manifest.key
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-9] + b"X" + data[-8:])
    target = tmp_path / "never"
    with pytest.raises(BackupError, match=r"is corrupt: .* refusing to restore it") as caught:
        restore_mariadb(store, target, to=None, progress=lambda _: None)
    assert "\n" not in str(caught.value)
    assert not target.exists()


def test_restore_refuses_a_directory_that_holds_something(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore_mariadb(DirectoryStore(tmp_path / "b"), tmp_path / "busy", to=None)


def test_sqlite_backup_and_restore_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total_cents INTEGER)")
        conn.executemany("INSERT INTO orders (total_cents) VALUES (?)", [(c,) for c in range(1, 101)])
    conn.close()
    store = DirectoryStore(tmp_path / "backups")
    manifest = backup_sqlite(store, db, progress=lambda _: None)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO orders (total_cents) VALUES (99999)")  # after the backup: not in it
    conn.close()
    assert [m.key for m in manifests(store)] == [manifest.key]
    restored = restore_sqlite(store, tmp_path / "restored.sqlite", to=None, progress=lambda _: None)[1]
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(total_cents) FROM orders").fetchone() == (100, 5050)
    conn.close()
    with pytest.raises(BackupError, match="exists"):
        restore_sqlite(store, restored, to=None, progress=lambda _: None)


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "no-sum"])
def test_a_damaged_archived_binlog_is_refused_naming_it(primary: MariaDBHandle, tmp_path: Path, damage: str) -> None:
    store = DirectoryStore(tmp_path / "backups")
    backup_mariadb(store, primary.server, DB, progress=lambda _: None)
    _order(primary.server, 5)
    uploaded = archive_binlogs(store, primary.server)
    assert uploaded and store.exists(BINLOG_SUMS + uploaded[-1])
    name = uploaded[-1]
    path = store.root / (BINLOG + name)
    data = path.read_bytes()
    if damage == "no-sum":
        store.delete(BINLOG_SUMS + name)
    else:
        path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-9] + b"X" + data[-8:])
    target = tmp_path / "never"
    with pytest.raises(BackupError, match=rf"archived binary log {BINLOG}{name} .*refusing to restore") as caught:
        restore_mariadb(store, target, to=None, progress=lambda _: None)
    assert "\n" not in str(caught.value)
    assert not target.exists()  # checked before any server is built: nothing half-restored
