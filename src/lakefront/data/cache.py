"""The cache (the ElastiCache role) and the one cache-aside adapter every cached read goes through.

Backends implement CacheBackend (bytes in, bytes out, TTL in seconds). The embedded backend is
a SQLite file shared by every instance on the machine, so a write invalidated by one instance
is invalid for all of them: a per-process cache would serve stale pages after another instance
wrote. Every backend error is swallowed by CacheAside and counted as a fallback: a dead or slow
cache costs speed, never a customer's request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from lakefront.data.windows import LocalWindows

log = logging.getLogger("lakefront.cache")
T = TypeVar("T")


class CacheBackend(Protocol):
    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    def delete(self, *keys: str) -> None: ...

    def incr(self, key: str) -> int:
        """Atomically add one to an integer key (created at 1), with no expiry."""
        ...

    def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Set `key` only if it is absent (or expired); True if this call set it. The basis of locks."""
        ...

    def window_add(self, key: str, member: str, window_s: float, limit: int) -> float:
        """Atomically add `member` to the sliding window `key` if it holds fewer than `limit` live
        entries: 0.0 if added, else the seconds until a slot frees (see data/windows.py)."""
        ...

    def window_remove(self, key: str, member: str | None = None) -> None:
        """Take `member` out of the window `key`, or the whole window when member is None."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class NullCache:
    """No cache at all (cache.backend = off): every read is a miss.

    Sliding windows are the exception: throttling has to count somewhere, so with no shared cache
    they are kept in this process, and each instance enforces the limits on its own.
    """

    name = "off"

    def __init__(self) -> None:
        self._windows = LocalWindows()

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        return None

    def delete(self, *keys: str) -> None:
        return None

    def incr(self, key: str) -> int:
        return 0

    def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        return True

    def window_add(self, key: str, member: str, window_s: float, limit: int) -> float:
        return self._windows.add(key, member, window_s, limit)

    def window_remove(self, key: str, member: str | None = None) -> None:
        self._windows.remove(key, member)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


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

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


@dataclass
class CacheCounters:
    """Per-process counters, exported at /metrics and summed by `lakefront status`."""

    hits: int = 0
    misses: int = 0
    fallbacks: int = 0
    invalidations: int = 0


class CacheAside:
    """Cache-aside over a backend: read through, fill on miss, invalidate after commit.

    Values are JSON (orjson). A miss is loaded once, whatever the concurrency: threads of one
    process queue on a local lock, and processes race for a short-lived lock key in the cache;
    the losers poll the cache for the winner's value instead of querying the database (no
    stampede when a hot key expires). After a backend error the cache is skipped for a moment
    (a circuit breaker), so a dead cache costs one failed call per second, not one per read.
    """

    LOCK_TTL_S = 5.0
    """A lock outlives a crashed loader by at most this long."""
    WAIT_FOR_FILL_S = 2.0
    """How long a reader that lost the lock race waits for the winner's value before loading itself."""
    POLL_S = 0.01
    RETRY_AFTER_ERROR_S = 1.0

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend
        self.counters = CacheCounters()
        self._flights: dict[str, threading.Lock] = {}
        self._flights_guard = threading.Lock()
        self._down_until = 0.0
        self._last_error_log = 0.0

    @property
    def enabled(self) -> bool:
        return self.backend.name != "off"

    def _available(self) -> bool:
        if time.monotonic() < self._down_until:
            self.counters.fallbacks += 1
            return False
        return True

    def _fallback(self, op: str, exc: Exception) -> None:
        self.counters.fallbacks += 1
        now = time.monotonic()
        self._down_until = now + self.RETRY_AFTER_ERROR_S
        if now - self._last_error_log > 5:  # one line per burst, not one per request
            self._last_error_log = now
            log.warning("cache %s failed, reading from the database: %s: %s", op, type(exc).__name__, exc)

    def _get_raw(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            return self.backend.get(key)
        except Exception as exc:
            self._fallback("get", exc)
            return None

    def _get(self, key: str) -> Any | None:
        raw = self._get_raw(key)
        return None if raw is None else orjson.loads(raw)

    def _set(self, key: str, value: Any, ttl_s: float) -> None:
        if not self._available():
            return
        try:
            # SQLAlchemy row keys are str subclasses (quoted_name), which orjson refuses without this option.
            self.backend.set(key, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), ttl_s)
        except Exception as exc:
            self._fallback("set", exc)

    def _lock(self, key: str) -> bool:
        """True if this process should load `key`: it won the lock, or the cache cannot arbitrate."""
        if not self._available():
            return True
        try:
            return self.backend.add(f"lock:{key}", b"1", self.LOCK_TTL_S)
        except Exception as exc:
            self._fallback("lock", exc)
            return True

    def _unlock(self, key: str) -> None:
        try:
            self.backend.delete(f"lock:{key}")
        except Exception as exc:
            self._fallback("unlock", exc)

    def _wait_for_fill(self, key: str) -> Any | None:
        deadline = time.monotonic() + self.WAIT_FOR_FILL_S
        while time.monotonic() < deadline:
            time.sleep(self.POLL_S)
            value = self._get(key)
            if value is not None:
                return value
            if not self._available():
                return None
        return None

    def get_or_load(self, key: str, ttl_s: float, load: Callable[[], T]) -> T:
        if not self.enabled:
            return load()
        cached = self._get(key)
        if cached is not None:
            self.counters.hits += 1
            return cached  # type: ignore[no-any-return]
        with self._flights_guard:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            cached = self._get(key)  # a thread of this process may have filled it while we queued
            if cached is None and not self._lock(key):
                cached = self._wait_for_fill(key)  # another process is loading it
            if cached is not None:
                self.counters.hits += 1
                return cached  # type: ignore[no-any-return]
            self.counters.misses += 1
            try:
                value = load()
                if value is not None:
                    self._set(key, value, ttl_s)
            finally:
                self._unlock(key)
        with self._flights_guard:
            if not flight.locked():
                self._flights.pop(key, None)
        return value

    def version(self, namespace: str) -> int:
        """Current generation of a namespace; keys embed it, so a bump retires them all at once."""
        raw = self._get_raw(f"ns:{namespace}")
        return int(raw) if raw is not None else 0

    def invalidate(self, keys: list[str], namespaces: list[str], *, written: str | None = None,
                   written_for_s: float = 0.0) -> None:
        """Retire keys and whole namespaces. Call only after the write they depend on committed.

        `written` marks a scope as written for `written_for_s` seconds (see recently_written): reads
        that refill it meanwhile must not come from a standby that may not have the write yet.

        Invalidation does not consult the circuit breaker: a write must always try to retire what
        it made stale. If the cache is unreachable, the TTLs bound how long a stale value can live.
        """
        if not self.enabled:
            return
        self.counters.invalidations += 1
        try:
            if written and written_for_s > 0:
                # Before the deletes: a reader that misses after them must already see the mark.
                self.backend.set(f"written:{written}", b"1", written_for_s)
            if keys:
                self.backend.delete(*keys)
            for ns in namespaces:
                self.backend.incr(f"ns:{ns}")
        except Exception as exc:
            self._fallback("invalidate", exc)

    def recently_written(self, scope: str) -> bool:
        """True while a write's mark on `scope` lives; when unsure (cache unreachable), True."""
        if not self.enabled:
            return False
        if not self._available():
            return True
        try:
            return self.backend.get(f"written:{scope}") is not None
        except Exception as exc:
            self._fallback("get", exc)
            return True


def make_backend(kind: str, path: Path, redis_url: str | None = None, timeout_s: float = 0.25, *,
                 mode: str = "single", window_timeout_s: float = 2.0) -> CacheBackend:
    if kind == "embedded":
        return EmbeddedCache(path)
    if kind == "redis":
        from lakefront.data.cache_redis import make_redis  # only the services profile needs the client

        return make_redis(redis_url or "redis://127.0.0.1:6379/0", mode, timeout_s, window_timeout_s)
    if kind == "off":
        return NullCache()
    raise ValueError(f"unknown cache backend {kind!r}")
