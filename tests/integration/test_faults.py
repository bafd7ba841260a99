"""The cache (Redis) or the database failing under a running app tier: degrade, answer honestly, recover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakefront.servers.seaweedfs import SeaweedFSServer
from support import Api, AppStack, app_stack
from support.servers import MariaDBHandle, RedisHandle, throwaway_redis


@pytest.fixture(scope="module")
def redis_for_faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisHandle]:
    with throwaway_redis(tmp_path_factory.mktemp("redis-faults")) as handle:  # ours alone: we kill it
        yield handle


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mariadb_server: MariaDBHandle,
          seaweedfs_server: SeaweedFSServer, redis_for_faults: RedisHandle) -> Iterator[tuple[AppStack, int]]:
    env = {"LAKEFRONT_PROFILE": "services", "LAKEFRONT_DB__WRITER_URL": mariadb_server.fresh_url(),
           "LAKEFRONT_CACHE__REDIS_URL": redis_for_faults.url, "LAKEFRONT_OBJECTS__BACKEND": "directory"}
    with app_stack(tmp_path_factory.mktemp("faults"), count=1, profile_env=env) as app:
        category = app.db.add_category()
        Api(app.instances[0].url).sign_up("ops@example.com")
        app.db.make_admin("ops@example.com")
        admin = Api(app.instances[0].url).sign_in("ops@example.com")
        r = admin.request("POST", "/api/admin/products", json={
            "sku": "F-1", "name": "Fault-tolerant teapot", "category_id": category, "price_cents": 999, "stock": 5})
        assert r.status_code == 201
        yield app, int(r.json()["id"])


def _browse(app: AppStack, product_id: int, times: int = 10) -> None:
    api = Api(app.instances[0].url)
    for _ in range(times):
        assert api.request("GET", f"/api/products/{product_id}").status_code == 200
        assert api.request("GET", "/api/products?category=tea").status_code == 200


def _counters(app: AppStack) -> dict[str, float]:
    return {k: app.total(f"lakefront_cache_{k}_total") for k in ("hits", "misses", "fallbacks")}


def _wait_for_hits(app: AppStack, product_id: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    before = _counters(app)["hits"]
    while _counters(app)["hits"] == before:
        assert time.monotonic() < deadline, "cache hits never resumed"
        _browse(app, product_id, times=1)
        time.sleep(0.2)


def test_with_redis_killed_browsing_works_and_falls_back_then_hits_resume(stack, redis_for_faults) -> None:
    app, product_id = stack
    _browse(app, product_id)
    warm = _counters(app)
    assert warm["hits"] > 0 and warm["fallbacks"] == 0

    redis_for_faults.server.kill()
    _browse(app, product_id)  # every request still answers 200
    down = _counters(app)
    assert down["fallbacks"] > warm["fallbacks"]
    assert down["hits"] == warm["hits"]

    redis_for_faults.server.start(Path(redis_for_faults.server.dir) / "redis.log")
    redis_for_faults.server.wait_ready()
    _wait_for_hits(app, product_id)  # no restart of the app tier: it reconnects by itself


def test_a_frozen_redis_costs_a_timeout_not_an_error(stack, redis_for_faults) -> None:
    app, product_id = stack
    _wait_for_hits(app, product_id)
    before = _counters(app)
    redis_for_faults.server.pause()  # SIGSTOP: connections hang instead of failing fast
    try:
        _browse(app, product_id, times=3)
        assert _counters(app)["fallbacks"] > before["fallbacks"]
    finally:
        redis_for_faults.server.resume()
    _wait_for_hits(app, product_id)


def test_a_database_that_goes_away_is_503_with_retry_after_and_then_serves_again(stack, mariadb_server) -> None:
    app, _ = stack
    api = Api(app.instances[0].url)
    buyer = api.sign_up("patient@example.com")
    assert buyer.request("GET", "/api/cart").status_code == 200
    mariadb_server.server.stop()
    try:
        down = buyer.request("GET", "/api/cart")  # never cached: it must reach the database
        assert down.status_code == 503
        assert down.headers["retry-after"] == "1"
        assert down.headers["content-type"] == "application/problem+json"
    finally:
        mariadb_server.server.start(mariadb_server.server.root / "mariadbd.out")
        mariadb_server.server.wait_ready()
    deadline = time.monotonic() + 15
    while buyer.request("GET", "/api/cart").status_code != 200:
        assert time.monotonic() < deadline, "the app tier never reconnected"
        time.sleep(0.2)
