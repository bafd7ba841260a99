"""No stale value outlives the write that made it stale: a fill racing an admin edit, and an edit
made while Redis is frozen (SIGSTOP), on real backends (the embedded cache and a throwaway Redis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakefront.data import tables
from lakefront.data.cache import CacheAside, CacheBackend, EmbeddedCache, NullCache
from lakefront.data.cache_redis import RedisCache
from lakefront.data.engines import make_engines
from lakefront.data.migrations import migrate
from lakefront.data.objects import DirectoryStore
from lakefront.data.uow import UnitOfWorkFactory
from lakefront.shop import cachekeys, catalog
from lakefront.shop.context import ShopContext
from lakefront.shop.media import ImageLimits
from lakefront.shop.throttle import Throttle, ThrottlePolicy
from lakefront.shop.tokens import TokenPolicy
from support.servers import RedisHandle, throwaway_redis

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisHandle]:
    """A Redis of this module's own: the outage test freezes it."""
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as handle:
        yield handle


@pytest.fixture(params=["embedded", "redis"])
def instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[CacheAside]]:
    """Three app instances' cache adapters over one store, each with its own connections."""
    backends: list[CacheBackend]
    if request.param == "embedded":
        backends = [EmbeddedCache(tmp_path / "cache.sqlite3") for _ in range(3)]
    else:
        handle: RedisHandle = request.getfixturevalue("own_redis")
        backends = [RedisCache(handle.url) for _ in range(3)]
        _flush(handle)
    caches = [CacheAside(b) for b in backends]
    yield caches
    for cache in caches:
        cache.close()
        cache.backend.close()


def _flush(handle: RedisHandle) -> None:
    import redis

    with redis.Redis.from_url(handle.url) as client:
        client.flushall()


def _wait_for(condition, what: str, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_value_loaded_before_a_concurrent_edit_is_not_left_in_the_cache(instances: list[CacheAside]) -> None:
    reader, writer, other = instances
    database = {"price_cents": 500}
    loaded, edited = threading.Event(), threading.Event()

    def slow_load() -> dict[str, int]:
        row = dict(database)  # read before the edit commits...
        loaded.set()
        assert edited.wait(10)  # ...stored after its invalidation ran
        return row

    filler = threading.Thread(target=lambda: reader.get_or_load("product:7", 300, slow_load))
    filler.start()
    assert loaded.wait(10)
    database["price_cents"] = 650  # the admin's edit commits
    writer.invalidate(["product:7"], ["catalog"])
    edited.set()
    filler.join(10)

    assert reader.backend.get("product:7") is None
    assert reader.counters.discarded == 1
    assert other.get_or_load("product:7", 300, lambda: dict(database)) == {"price_cents": 650}


def _shop(tmp_path: Path, cache: CacheAside) -> ShopContext:
    db = tmp_path / "shop.sqlite3"
    engines = make_engines(f"sqlite:///{db}", f"sqlite:///{db}")
    return ShopContext(uow=UnitOfWorkFactory(engines), cache=cache, images=DirectoryStore(tmp_path / "objects"),
                       image_limits=ImageLimits(1_000_000, 1_000_000, 400, 100),
                       throttle=Throttle(NullCache(), ThrottlePolicy()), tokens=TokenPolicy())


def test_concurrent_admin_edits_and_reads_never_leave_a_stale_product(instances: list[CacheAside],
                                                                       tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite3"
    engines = make_engines(f"sqlite:///{db}", f"sqlite:///{db}")
    migrate(engines.writer)
    with engines.writer.begin() as conn:
        conn.execute(tables.categories.insert().values(id=1, slug="tea", name="Tea", description="",
                                                       created_at=NOW, updated_at=NOW))
    engines.dispose()
    shops = [_shop(tmp_path, cache) for cache in instances]
    admin = shops[1]
    pid = int(catalog.create_product(admin, {"sku": "R1", "name": "Race tea", "description": "", "category_id": 1,
                                             "price_cents": 100, "stock": 5, "is_active": True})["id"])
    stop = threading.Event()
    errors: list[BaseException] = []

    def read(shop: ShopContext) -> None:
        try:
            while not stop.is_set():
                catalog.product(shop, pid)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(shops[i % 3],)) for i in range(4)]
    for t in readers:
        t.start()
    for price in range(101, 161):
        catalog.update_product(admin, pid, {"price_cents": price})
    stop.set()
    for t in readers:
        t.join(30)

    assert errors == []
    for cache in instances:
        raw = cache.backend.get(cachekeys.product(pid))
        assert raw is None or b'"price_cents":160' in raw
    assert all(catalog.product(shop, pid)["price_cents"] == 160 for shop in shops)
    for shop in shops:
        shop.uow.engines.dispose()


def test_an_edit_while_redis_is_frozen_is_replayed_when_it_resumes(own_redis: RedisHandle) -> None:
    _flush(own_redis)
    writer, reader = CacheAside(RedisCache(own_redis.url)), CacheAside(RedisCache(own_redis.url))
    database = {"product:1": 500, "product:2": 500}
    for key in database:
        assert reader.get_or_load(key, 300, lambda k=key: database[k]) == 500
    home = f"catalog:{reader.version('catalog')}:home"
    reader.get_or_load(home, 60, lambda: "old home")

    def load_then_freeze() -> int:
        value = database["product:3"]
        own_redis.server.pause()  # the fill's SET reaches a frozen server, times out, and lands on resume
        return value

    database["product:3"] = 500
    try:
        assert reader.get_or_load("product:3", 300, load_then_freeze) == 500
        for key in database:
            database[key] = 650  # the admin's edits commit while the cache is frozen
        writer.invalidate(list(database), ["catalog"], written="catalog", written_for_s=30)
        assert writer.pending > 0 and reader.pending > 0
        assert writer.recently_written("catalog")
    finally:
        own_redis.server.resume()

    _wait_for(lambda: writer.pending == 0 and reader.pending == 0, "the replay of the missed invalidations")
    fresh = CacheAside(RedisCache(own_redis.url))
    for key in database:
        assert fresh.get_or_load(key, 300, lambda k=key: database[k]) == 650, key
    assert fresh.version("catalog") >= 1
    assert fresh.recently_written("catalog")
    assert writer.counters.replayed >= len(database)
