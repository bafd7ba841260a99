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

    def ping(self) -> None: ...

    def close(self) -> None: ...


class NullCache:
    """No cache at all (cache.backend = off): every read is a miss."""

    name = "off"

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        return None

    def delete(self, *keys: str) -> None:
        return None

    def incr(self, key: str) -> int:
        return 0

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

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_timeout_ms / 1000)
            conn.execute("PRAGMA journal_mode=WAL")
            # Losing cache writes in a power cut is harmless; waiting for fsync on every set is not.
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            self._local.conn = conn
        return conn

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
            conn.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (time.time(),))

    def delete(self, *keys: str) -> None:
        if keys:
            self._conn().execute(f"DELETE FROM kv WHERE key IN ({','.join('?' * len(keys))})", keys)

    def incr(self, key: str) -> int:
        row = self._conn().execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, '1', NULL) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "RETURNING value", (key,)).fetchone()
        return int(row[0])

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

    Values are JSON (orjson). Concurrent misses on one key inside a process are collapsed into
    one load (single flight), so a hot key expiring sends one query, not one per thread.
    """

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend
        self.counters = CacheCounters()
        self._flights: dict[str, threading.Lock] = {}
        self._flights_guard = threading.Lock()
        self._last_error_log = 0.0

    def _fallback(self, op: str, exc: Exception) -> None:
        self.counters.fallbacks += 1
        now = time.monotonic()
        if now - self._last_error_log > 5:  # one line per burst, not one per request
            self._last_error_log = now
            log.warning("cache %s failed, using the database: %s: %s", op, type(exc).__name__, exc)

    def _get(self, key: str) -> Any | None:
        try:
            raw = self.backend.get(key)
        except Exception as exc:
            self._fallback("get", exc)
            return None
        return None if raw is None else orjson.loads(raw)

    def _set(self, key: str, value: Any, ttl_s: float) -> None:
        try:
            # SQLAlchemy row keys are str subclasses (quoted_name), which orjson refuses without this option.
            self.backend.set(key, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), ttl_s)
        except Exception as exc:
            self._fallback("set", exc)

    def get_or_load(self, key: str, ttl_s: float, load: Callable[[], T]) -> T:
        if self.backend.name == "off":
            return load()
        cached = self._get(key)
        if cached is not None:
            self.counters.hits += 1
            return cached  # type: ignore[no-any-return]
        with self._flights_guard:
            lock = self._flights.setdefault(key, threading.Lock())
        with lock:
            cached = self._get(key)  # another thread may have filled it while we waited
            if cached is not None:
                self.counters.hits += 1
                return cached  # type: ignore[no-any-return]
            self.counters.misses += 1
            value = load()
            if value is not None:
                self._set(key, value, ttl_s)
        with self._flights_guard:
            if not lock.locked():
                self._flights.pop(key, None)
        return value

    def version(self, namespace: str) -> int:
        """Current generation of a namespace; keys embed it, so a bump retires them all at once."""
        raw = self._get_raw(f"ns:{namespace}")
        return int(raw) if raw is not None else 0

    def _get_raw(self, key: str) -> bytes | None:
        try:
            return self.backend.get(key)
        except Exception as exc:
            self._fallback("get", exc)
            return None

    def invalidate(self, keys: list[str], namespaces: list[str]) -> None:
        """Retire keys and whole namespaces. Call only after the write they depend on committed."""
        self.counters.invalidations += 1
        try:
            if keys:
                self.backend.delete(*keys)
            for ns in namespaces:
                self.backend.incr(f"ns:{ns}")
        except Exception as exc:
            # The TTL bounds how long a value can stay stale when the cache is unreachable.
            self._fallback("invalidate", exc)


def make_backend(kind: str, path: Path) -> CacheBackend:
    if kind == "embedded":
        return EmbeddedCache(path)
    if kind == "off":
        return NullCache()
    raise ValueError(f"unknown cache backend {kind!r}")
