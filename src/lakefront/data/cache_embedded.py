"""The embedded cache backend: one SQLite file (WAL) shared by every instance on the machine.

A write invalidated by one instance is invalid for all of them: a per-process cache would serve
stale pages after another instance wrote.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class EmbeddedCache:
    """A cross-process cache in one SQLite file (WAL): every instance on the machine shares it."""

    name = "embedded"
    _PURGE_EVERY = 500

    def __init__(self, path: Path, busy_timeout_ms: int = 2000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._writes = 0
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                     "expires_at REAL) WITHOUT ROWID")
        conn.execute("CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at)")
        conn.execute("CREATE TABLE IF NOT EXISTS windows (key TEXT NOT NULL, member TEXT NOT NULL, "
                     "expires_at REAL NOT NULL, PRIMARY KEY (key, member)) WITHOUT ROWID")
        conn.execute("CREATE INDEX IF NOT EXISTS windows_expires ON windows (expires_at)")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_timeout_ms / 1000)
            self._wal(conn)
            # Losing cache writes in a power cut is harmless; waiting for fsync on every set is not.
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            self._local.conn = conn
        return conn

    def _wal(self, conn: sqlite3.Connection) -> None:
        """WAL mode, once per file. Switching needs the file to itself and SQLite reports a busy file
        at once instead of waiting: two instances starting together made one exit ("database is
        locked"). WAL persists in the file, so later connections find it set and skip the switch."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def get(self, key: str) -> bytes | None:
        row = self._conn().execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, time.time())).fetchone()
        if row is None:
            return None
        value = row[0]
        return value.encode() if isinstance(value, str) else bytes(value)  # counters are stored as text

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        conn = self._conn()
        conn.execute("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)",
                     (key, value, time.time() + ttl_s))
        self._writes += 1
        if self._writes % self._PURGE_EVERY == 0:
            self._purge(conn)

    def _purge(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        conn.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        conn.execute("DELETE FROM windows WHERE expires_at <= ?", (now,))

    def delete(self, *keys: str) -> None:
        if keys:
            # Only placeholders are formatted in; the keys are bound.
            self._conn().execute(f"DELETE FROM kv WHERE key IN ({','.join('?' * len(keys))})", keys)  # nosec B608

    def incr(self, key: str) -> int:
        row = self._conn().execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, '1', NULL) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "RETURNING value", (key,)).fetchone()
        return int(row[0])

    def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        now = time.time()
        cur = self._conn().execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at "
            "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?", (key, value, now + ttl_s, now))
        return cur.rowcount == 1

    def window_add(self, key: str, member: str, window_s: float, limit: int) -> float:
        conn = self._conn()
        # IMMEDIATE takes the file's write lock before the count: a second process's add waits
        # for this one to finish, so two cannot both see the last free slot.
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            conn.execute("DELETE FROM windows WHERE key = ? AND expires_at <= ?", (key, now))
            count, first = conn.execute("SELECT count(*), min(expires_at) FROM windows WHERE key = ?",
                                        (key,)).fetchone()
            wait = 0.0
            if count < limit:
                conn.execute("INSERT OR REPLACE INTO windows (key, member, expires_at) VALUES (?, ?, ?)",
                             (key, member, now + window_s))
            else:
                wait = float(first) - now
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._writes += 1
        if self._writes % self._PURGE_EVERY == 0:
            self._purge(conn)
        return wait

    def window_remove(self, key: str, member: str | None = None) -> None:
        if member is None:
            self._conn().execute("DELETE FROM windows WHERE key = ?", (key,))
        else:
            self._conn().execute("DELETE FROM windows WHERE key = ? AND member = ?", (key, member))

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def shard(self, key: str) -> str:
        return ""  # one file

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
