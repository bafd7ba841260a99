"""Sliding windows: the one counting operation sign-in throttling needs from a cache backend.

A window is a log of entries under one key, each an id that expires `window_s` after it was added.
`window_add` drops the expired entries, then adds the new one only if fewer than `limit` remain,
as one atomic step on the backend, so instances racing for the last free slot cannot both take it.
It returns 0.0 when it added the entry, otherwise the seconds until the oldest entry expires (when
the next slot frees); a refused attempt adds nothing, so hammering a full window does not prolong it.
`window_remove` takes one entry out (an attempt that turned out not to count) or the whole window.

Every CacheBackend implements both (SQLite transaction, Redis Lua script); LocalWindows here is the
in-process version, for the cache turned off and for a shared cache that cannot be reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LocalWindows:
    """Sliding windows in this process's memory: the limits then hold per instance, not per tier."""

    _SWEEP_EVERY = 1000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, dict[str, float]] = {}
        """key -> {member: expires_at}"""
        self._adds = 0

    def add(self, key: str, member: str, window_s: float, limit: int) -> float:
        with self._lock:
            now = self._clock()
            entries = {m: at for m, at in self._windows.get(key, {}).items() if at > now}
            wait = 0.0
            if len(entries) < limit:
                entries[member] = now + window_s
            else:
                wait = min(entries.values()) - now
            self._windows[key] = entries
            self._adds += 1
            if self._adds % self._SWEEP_EVERY == 0:
                # Keys nobody touches again (one probe per sprayed account) would otherwise stay forever.
                self._windows = {k: v for k, v in self._windows.items() if any(at > now for at in v.values())}
            return wait

    def remove(self, key: str, member: str | None = None) -> None:
        with self._lock:
            if member is None:
                self._windows.pop(key, None)
            else:
                self._windows.get(key, {}).pop(member, None)
