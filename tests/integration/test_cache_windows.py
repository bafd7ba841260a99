"""The sliding-window operation on every cache backend: the same answers from the embedded cache,
Redis and the per-process windows of cache.backend=off, and no slot taken twice under a race."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakefront.data.cache import CacheBackend, EmbeddedCache, NullCache
from lakefront.data.cache_redis import RedisCache
from support.servers import RedisHandle


@pytest.fixture(params=["embedded", "redis", "off"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[CacheBackend]]:
    """Two clients of one store, as two app instances hold (for off: one process's own windows)."""
    made: list[CacheBackend]
    if request.param == "embedded":
        made = [EmbeddedCache(tmp_path / "cache.sqlite3"), EmbeddedCache(tmp_path / "cache.sqlite3")]
    elif request.param == "redis":
        handle: RedisHandle = request.getfixturevalue("redis_server")
        made = [RedisCache(handle.url), RedisCache(handle.url)]
    else:
        one = NullCache()
        made = [one, one]
    yield made
    for backend in made:
        backend.close()


def _key() -> str:
    return f"test:window:{uuid.uuid4().hex}"  # the session's Redis is shared: keys of our own


def test_a_window_admits_up_to_its_limit_then_says_when_a_slot_frees(backends: list[CacheBackend]) -> None:
    one, two = backends
    key = _key()
    assert [one.window_add(key, f"m{i}", 30, 3) for i in range(3)] == [0.0, 0.0, 0.0]
    wait = two.window_add(key, "refused", 30, 3)
    assert 29 < wait <= 30
    one.window_remove(key, "m1")
    assert two.window_add(key, "admitted", 30, 3) == 0.0
    two.window_remove(key)
    assert one.window_add(key, "after-clear", 30, 1) == 0.0


def test_entries_leave_the_window_when_it_has_passed(backends: list[CacheBackend]) -> None:
    one, two = backends
    key = _key()
    assert one.window_add(key, "a", 0.3, 1) == 0.0
    assert two.window_add(key, "b", 0.3, 1) > 0
    deadline = time.monotonic() + 5
    while two.window_add(key, "b", 0.3, 1) > 0:
        assert time.monotonic() < deadline, "the entry never left the window"
        time.sleep(0.05)


def test_racing_clients_never_take_more_slots_than_the_limit(backends: list[CacheBackend]) -> None:
    key = _key()
    admitted: list[str] = []
    start = threading.Barrier(24)

    def attempt(i: int) -> None:
        start.wait()
        if backends[i % 2].window_add(key, f"m{i}", 30, 5) == 0.0:
            admitted.append(f"m{i}")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 5
