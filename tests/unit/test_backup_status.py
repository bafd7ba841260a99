"""`lakefront status`'s backups row: the last backup and the binlog archive's position, read from the bucket."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakefront.cli.status_view import render
from lakefront.control.backup import BINLOG, BINLOG_SUMS, backup_sqlite, binlog_sum, summary
from lakefront.data.objects.directory import DirectoryStore


def _store_with_a_backup(tmp_path: Path) -> DirectoryStore:
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, cents INTEGER)")
        conn.executemany("INSERT INTO orders (cents) VALUES (?)", [(i,) for i in range(100)])
    conn.close()
    store = DirectoryStore(tmp_path / "backups")
    backup_sqlite(store, db, progress=lambda _: None)
    return store


def test_an_empty_bucket_says_no_backup_yet(tmp_path: Path) -> None:
    assert summary(DirectoryStore(tmp_path / "backups")) == "no backup yet"


def test_the_row_names_the_last_backup_and_the_last_archived_binlog(tmp_path: Path) -> None:
    store = _store_with_a_backup(tmp_path)
    backup = store.list("base/")
    size = next(info.size for info in backup if not info.key.endswith("manifest.json"))
    for name in ("mariadb-bin.000002", "mariadb-bin.000003"):
        store.put(BINLOG + name, b"log " + name.encode(), "application/octet-stream")
        store.put(BINLOG_SUMS + name, binlog_sum(b"log " + name.encode()), "text/plain")
    store.put(BINLOG + "mariadb-bin.000004", b"no sum yet: not archived", "application/octet-stream")
    line = summary(store, now=datetime.now(UTC) + timedelta(minutes=10))
    assert "last backup 20" in line and "(10 min ago)" in line
    assert f"{size:,} bytes, sqlite, 1 kept" in line
    assert "binlogs archived to mariadb-bin.000003, 10 min ago" in line
    assert line == summary(store, now=datetime.fromtimestamp(time.time() + 600, UTC))  # stable for the same age


def test_the_backups_row_fits_80_columns(tmp_path: Path) -> None:
    store = _store_with_a_backup(tmp_path)
    store.put(BINLOG_SUMS + "mariadb-bin.000123", binlog_sum(b"x"), "text/plain")
    report = {"profile": "services", "pid": 1, "started_at": "2026-12-02T21:00:00Z", "urls": {},
              "components": [{"id": "backups", "name": "Backups (RDS automated backups)", "status": "ok",
                              "instances": [], "detail": summary(store)}]}
    lines = [line.plain for line in render(report, 80)]
    assert all(len(line) <= 80 for line in lines), lines
    text = " ".join(lines)
    assert "mariadb-bin.000123" in text and "sqlite" in text
