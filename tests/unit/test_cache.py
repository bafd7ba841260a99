"""The embedded cache and the cache-aside adapter."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lakefront.data.cache import CacheAside, EmbeddedCache, NullCache


def test_two_processes_worth_of_caches_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    one, two = EmbeddedCache(tmp_path / "c.sqlite3"), EmbeddedCache(tmp_path / "c.sqlite3")
    one.set("k", b"v1", 60)
    assert two.get("k") == b"v1"
    two.delete("k")
    assert one.get("k") is None


def test_expired_entries_are_misses(tmp_path: Path) -> None:
    cache = EmbeddedCache(tmp_path / "c.sqlite3")
    cache.set("k", b"v", 0.05)
    time.sleep(0.1)
    assert cache.get("k") is None


def test_a_namespace_bump_retires_keys_on_every_instance(tmp_path: Path) -> None:
    a = CacheAside(EmbeddedCache(tmp_path / "c.sqlite3"))
    b = CacheAside(EmbeddedCache(tmp_path / "c.sqlite3"))
    assert a.version("catalog") == 0
    a.invalidate([], ["catalog"])
    a.invalidate([], ["catalog"])
    assert b.version("catalog") == 2
    assert a.counters.fallbacks == b.counters.fallbacks == 0


def test_cache_aside_loads_once_then_serves_from_cache(tmp_path: Path) -> None:
    cache = CacheAside(EmbeddedCache(tmp_path / "c.sqlite3"))
    calls = []

    def load() -> dict[str, int]:
        calls.append(1)
        return {"price_cents": 1250}

    assert cache.get_or_load("product:1", 60, load) == {"price_cents": 1250}
    assert cache.get_or_load("product:1", 60, load) == {"price_cents": 1250}
    assert len(calls) == 1
    assert (cache.counters.hits, cache.counters.misses) == (1, 1)


def test_concurrent_misses_on_one_key_load_once(tmp_path: Path) -> None:
    cache = CacheAside(EmbeddedCache(tmp_path / "c.sqlite3"))
    calls = []
    start = threading.Barrier(20)

    def load() -> list[int]:
        calls.append(1)
        time.sleep(0.2)
        return [1, 2, 3]

    def reader() -> None:
        start.wait()
        assert cache.get_or_load("hot", 60, load) == [1, 2, 3]

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_a_reader_that_gave_up_waiting_loads_but_leaves_the_other_loaders_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    other = EmbeddedCache(path)  # another app instance, loading the key slowly
    assert other.add("lock:slow", b"1", 60)
    cache = CacheAside(EmbeddedCache(path))
    cache.WAIT_FOR_FILL_S = 0.1

    assert cache.get_or_load("slow", 60, lambda: "from the database") == "from the database"
    assert not other.add("lock:slow", b"1", 60), "the other instance's lock was released by a reader"


def test_a_broken_cache_falls_back_to_the_loader_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    backend = EmbeddedCache(path)
    backend.close()
    path.write_bytes(b"this is not a database" * 100)  # the cache file is destroyed under us
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"c.sqlite3{suffix}").unlink(missing_ok=True)
    cache = CacheAside(backend)

    assert cache.get_or_load("k", 60, lambda: {"from": "database"}) == {"from": "database"}
    cache.invalidate(["k"], ["catalog"])
    assert cache.counters.fallbacks >= 2
    assert cache.version("catalog") == 0
    assert cache.pending == 2  # kept to replay, should the cache come back
    cache.close()


def test_the_null_cache_always_loads() -> None:
    cache = CacheAside(NullCache())
    calls = []
    for _ in range(3):
        cache.get_or_load("k", 60, lambda: calls.append(1) or 1)
    assert len(calls) == 3
