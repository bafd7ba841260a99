"""The cache (the ElastiCache role) and the one cache-aside adapter every cached read goes through.

Backends implement CacheBackend (bytes in, bytes out, TTL in seconds). The embedded backend is
a SQLite file shared by every instance on the machine, so a write invalidated by one instance
is invalid for all of them: a per-process cache would serve stale pages after another instance
wrote. Every backend error is swallowed by CacheAside and counted as a fallback: a dead or slow
cache costs speed, never a customer's request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from lakefront.data.cache_embedded import EmbeddedCache
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

    def shard(self, key: str) -> str:
        """The node that holds `key` ("" where one server holds everything): the circuit breaker's scope,
        so one failed node of a cluster does not take the others' hits away."""
        ...


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

    def shard(self, key: str) -> str:
        return ""


@dataclass
class CacheCounters:
    """Per-process counters, exported at /metrics and summed by `lakefront status`."""

    hits: int = 0
    misses: int = 0
    fallbacks: int = 0
    invalidations: int = 0
    discarded: int = 0
    """Values loaded before a concurrent invalidation: stored, found outdated, and deleted again."""
    replayed: int = 0
    """Invalidations that failed during an outage and were carried out when the cache answered again."""


def _entry_of(key: str) -> str:
    """The cached entry a key serves: itself, or the entry a generation counter or a lock belongs to."""
    for prefix in ("gen:", "lock:"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


@dataclass
class _Pending:
    """What this process could not tell the cache during an outage, to be done when it answers.

    Replaying is idempotent (deletes, generation bumps, marks), so an operation that timed out but
    did reach the cache costs nothing extra when it is done again.
    """

    keys: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    written: dict[str, float] = field(default_factory=dict)
    """Written marks not set: scope -> monotonic time the mark should have lasted until."""

    def __bool__(self) -> bool:
        return bool(self.keys or self.namespaces or self.written)

    def __len__(self) -> int:
        return len(self.keys) + len(self.namespaces) + len(self.written)


class CacheAside:
    """Cache-aside over a backend: read through, fill on miss, invalidate after commit.

    Values are JSON (orjson). A miss is loaded once, whatever the concurrency: threads of one
    process queue on a local lock, and processes race for a short-lived lock key in the cache;
    the losers poll the cache for the winner's value instead of querying the database (no
    stampede when a hot key expires). After a backend error the node it came from is skipped for a
    moment (a circuit breaker per node, `CacheBackend.shard`), so a dead node costs one failed call per
    second, not one per read, and the keys on the other nodes of a cluster are still served from them.

    Two rules keep a stale value from outliving the write that made it stale:
    - Every key has a generation (`gen:<key>`), bumped by each invalidation before the key is
      deleted. A filler reads it before loading and again after storing; if it moved, a write
      committed while the value was being loaded, and the filler deletes what it stored.
    - An invalidation (or a store whose outcome is unknown) that fails is kept in this process and
      replayed as soon as the cache answers: by the next cache call of this process that it covers,
      which reads nothing from the cache until the replay succeeded, and by a background retry once a
      second. An owed key covers itself (so a dead node's keys do not stop reads of the others'); an owed
      namespace or written mark covers every read.
    """

    LOCK_TTL_S = 5.0
    """A lock outlives a crashed loader by at most this long."""
    WAIT_FOR_FILL_S = 2.0
    """How long a reader that lost the lock race waits for the winner's value before loading itself."""
    POLL_S = 0.01
    RETRY_AFTER_ERROR_S = 1.0
    ALL_SHARDS = "*"

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend
        self.counters = CacheCounters()
        self._flights: dict[str, threading.Lock] = {}
        self._flights_guard = threading.Lock()
        self._down_until: dict[str, float] = {}  # per shard; ALL_SHARDS for what is not one key's
        self._last_error_log = 0.0
        self._pending = _Pending()
        self._pending_guard = threading.Lock()
        self._replayer: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def enabled(self) -> bool:
        return self.backend.name != "off"

    @property
    def pending(self) -> int:
        """Keys, namespaces and marks waiting for the cache to answer again (0 when all is told)."""
        with self._pending_guard:
            return len(self._pending)

    def _shards(self, keys: tuple[str, ...]) -> set[str]:
        shards = {self.ALL_SHARDS}
        for key in keys:
            try:
                shards.add(self.backend.shard(key))
            except Exception:
                return {self.ALL_SHARDS}  # cannot tell where it lives: the whole cache's breaker
        return shards

    def _down(self, keys: tuple[str, ...]) -> bool:
        now = time.monotonic()
        if all(until <= now for until in self._down_until.values()):
            return False  # no breaker open (the common case): no need to find the keys' nodes
        return any(now < self._down_until.get(shard, 0.0) for shard in self._shards(keys))

    def _owes(self, keys: tuple[str, ...]) -> bool:
        """Might an invalidation this process still owes the cache retire what reading `keys` returns?"""
        with self._pending_guard:
            pending = self._pending
            if not pending:
                return False
            if pending.namespaces or pending.written or not keys:
                return True  # a namespace's keys, or a mark's readers, are not known one by one
            return any(_entry_of(key) in pending.keys for key in keys)

    def _available(self, *keys: str) -> bool:
        """May the cache be asked about `keys` now: none of their nodes failed a moment ago, and no
        invalidation this process owes covers them."""
        if self._down(keys):
            self.counters.fallbacks += 1
            return False
        # What an owed invalidation covers is not read before it is told (a failed replay counts itself).
        return not self._owes(keys) or self._replay()

    def _fallback(self, op: str, exc: Exception, *keys: str) -> None:
        """Count a failed call and open the breaker of the nodes of `keys` (of the whole cache if none)."""
        self.counters.fallbacks += 1
        now = time.monotonic()
        shards = self._shards(keys)
        if len(shards) > 1:
            shards.discard(self.ALL_SHARDS)  # the keys' own nodes, not the whole cache
        for shard in shards:
            self._down_until[shard] = now + self.RETRY_AFTER_ERROR_S
        if now - self._last_error_log > 5:  # one line per burst, not one per request
            self._last_error_log = now
            log.warning("cache %s failed, reading from the database: %s: %s", op, type(exc).__name__, exc)

    def _get_raw(self, key: str) -> bytes | None:
        if not self._available(key):
            return None
        try:
            return self.backend.get(key)
        except Exception as exc:
            self._fallback("get", exc, key)
            return None

    def _get(self, key: str) -> Any | None:
        raw = self._get_raw(key)
        return None if raw is None else orjson.loads(raw)

    def _generation(self, key: str) -> bytes | None:
        """The key's generation before a load (b"" if never invalidated); None if the cache cannot say."""
        if not self._available(f"gen:{key}"):
            return None
        try:
            return self.backend.get(f"gen:{key}") or b""
        except Exception as exc:
            self._fallback("get", exc, f"gen:{key}")
            return None

    def _store(self, key: str, value: Any, ttl_s: float, generation: bytes) -> None:
        """Store a loaded value, then take it back if an invalidation of `key` ran meanwhile.

        Each call's failure opens the breaker of the node it went to (`gen:key` may live on another);
        whatever fails after the set may leave the value behind, so `key` is then owed a retirement
        (a set that timed out may still land when a frozen cache resumes)."""
        if not self._available(key, f"gen:{key}"):
            return
        step, on = "set", key
        try:
            # SQLAlchemy row keys are str subclasses (quoted_name), which orjson refuses without this option.
            self.backend.set(key, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), ttl_s)
            step, on = "get", f"gen:{key}"
            if (self.backend.get(f"gen:{key}") or b"") == generation:
                return
            # Bumped after our read, so its delete may have run before our set: ours is the stale one.
            self.counters.discarded += 1
            step, on = "delete", key
            self.backend.delete(key)
        except Exception as exc:
            self._keep(keys=[key])
            self._fallback(step, exc, on)

    def _lock(self, key: str) -> bool | None:
        """Who loads `key`: True if this process took the lock (or may have: the call failed), False if
        another process holds it, None if the cache cannot arbitrate (this process loads, unlocked)."""
        if not self._available(f"lock:{key}"):
            return None
        try:
            return self.backend.add(f"lock:{key}", b"1", self.LOCK_TTL_S)
        except Exception as exc:
            self._fallback("lock", exc, f"lock:{key}")
            return True  # the add may have landed: release it after the load

    def _unlock(self, key: str) -> None:
        try:
            self.backend.delete(f"lock:{key}")
        except Exception as exc:
            self._fallback("unlock", exc, f"lock:{key}")

    def _wait_for_fill(self, key: str) -> Any | None:
        deadline = time.monotonic() + self.WAIT_FOR_FILL_S
        while time.monotonic() < deadline:
            time.sleep(self.POLL_S)
            value = self._get(key)
            if value is not None:
                return value
            if not self._available(key):
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
            locked = None
            if cached is None and (locked := self._lock(key)) is False:
                cached = self._wait_for_fill(key)  # another process is loading it (its lock is not ours)
            if cached is not None:
                self.counters.hits += 1
                return cached  # type: ignore[no-any-return]
            self.counters.misses += 1
            generation = self._generation(key)  # before the load: a write after this point is noticed
            try:
                value = load()
                if value is not None and generation is not None:
                    self._store(key, value, ttl_s, generation)
            finally:
                if locked:  # only a lock this process took: not another's, nor one never asked for
                    self._unlock(key)
        with self._flights_guard:
            if not flight.locked():
                self._flights.pop(key, None)
        return value

    def version(self, namespace: str) -> int:
        """Current generation of a namespace; keys embed it, so a bump retires them all at once."""
        raw = self._get_raw(f"ns:{namespace}")
        return int(raw) if raw is not None else 0

    def _tell(self, keys: list[str] | set[str], namespaces: list[str] | set[str],
              written: dict[str, float]) -> None:
        now = time.monotonic()
        for scope, until in written.items():
            if until > now:
                # Before the deletes: a reader that misses after them must already see the mark.
                self.backend.set(f"written:{scope}", b"1", until - now)
        for key in keys:
            # Before the delete (see _store): a filler that read the old generation stored before it.
            self.backend.incr(f"gen:{key}")
        if keys:
            self.backend.delete(*keys)
        for ns in namespaces:
            self.backend.incr(f"ns:{ns}")

    def invalidate(self, keys: list[str], namespaces: list[str], *, written: str | None = None,
                   written_for_s: float = 0.0) -> None:
        """Retire keys and whole namespaces. Call only after the write they depend on committed.

        `written` marks a scope as written for `written_for_s` seconds (see recently_written): reads
        that refill it meanwhile must not come from a standby that may not have the write yet.

        Invalidation does not consult the circuit breaker: a write must always try to retire what
        it made stale. If the cache cannot be told, the invalidation is kept and replayed when it answers.
        """
        if not self.enabled:
            return
        self.counters.invalidations += 1
        marks = {written: time.monotonic() + written_for_s} if written and written_for_s > 0 else {}
        try:
            self._tell(keys, namespaces, marks)
        except Exception as exc:
            self._keep(keys, namespaces, marks)
            self._fallback("invalidate", exc, *([] if namespaces or marks else keys))

    def _keep(self, keys: list[str] | None = None, namespaces: list[str] | None = None,
              written: dict[str, float] | None = None) -> None:
        with self._pending_guard:
            first = not self._pending
            self._pending.keys.update(keys or ())
            self._pending.namespaces.update(namespaces or ())
            for scope, until in (written or {}).items():
                self._pending.written[scope] = max(until, self._pending.written.get(scope, 0.0))
            if self._replayer is None or not self._replayer.is_alive():
                self._replayer = threading.Thread(target=self._replay_until_told, name="cache-replay",
                                                  daemon=True)
                self._replayer.start()
        if first:
            log.warning("cache unreachable: %d keys and %d namespaces kept, to retire when it answers",
                        len(keys or ()), len(namespaces or ()))

    def _replay(self) -> bool:
        """Tell the cache what it missed; True once nothing is pending. Waits for a PING first: a
        frozen server answers it only after running what was queued on its sockets, so replayed
        deletes land after any stale set that was in flight when it froze."""
        with self._pending_guard:
            todo = _Pending(set(self._pending.keys), set(self._pending.namespaces), dict(self._pending.written))
        if not todo:
            return True
        try:
            self.backend.ping()
            self._tell(todo.keys, todo.namespaces, todo.written)
        except Exception as exc:
            self._fallback("replay", exc, *(() if todo.namespaces or todo.written else todo.keys))
            return False
        with self._pending_guard:
            self._pending.keys -= todo.keys
            self._pending.namespaces -= todo.namespaces
            for scope, until in todo.written.items():
                if self._pending.written.get(scope) == until:
                    del self._pending.written[scope]
            done = not self._pending
        self.counters.replayed += len(todo)
        log.warning("cache answers again: replayed %d keys, %d namespaces and %d written marks it missed",
                    len(todo.keys), len(todo.namespaces), len(todo.written))
        return done

    def _replay_until_told(self) -> None:
        while True:
            if self._closed.wait(self.RETRY_AFTER_ERROR_S):
                return
            with self._pending_guard:
                if not self._pending:
                    self._replayer = None
                    return
            if not self._down(()):
                self._replay()

    def close(self) -> None:
        """Stop retrying pending invalidations (the process is ending; the TTLs bound what is left)."""
        self._closed.set()

    def recently_written(self, scope: str) -> bool:
        """True while a write's mark on `scope` lives; when unsure (cache unreachable), True."""
        if not self.enabled:
            return False
        with self._pending_guard:
            if self._pending.written.get(scope, 0.0) > time.monotonic():
                return True  # marked by this process, not yet told to the cache
        if not self._available(f"written:{scope}"):
            return True
        try:
            return self.backend.get(f"written:{scope}") is not None
        except Exception as exc:
            self._fallback("get", exc, f"written:{scope}")
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
