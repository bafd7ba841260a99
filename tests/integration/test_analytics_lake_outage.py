"""The analytics API when the lake's object store is unreachable: a real app process, its marts loaded from a
real SeaweedFS (catalog in MariaDB), then SeaweedFS stopped.

An instance that loaded the marts keeps answering with them, and a refresh that finds new marts committed but
cannot read them keeps the loaded ones (one log line, no crash). An instance with nothing loaded answers 503
problem+json with Retry-After, never a 500. Once the store is back both serve the new marts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from lakefront.analytics.pipeline import run_pipeline
from lakefront.data import tables as t
from lakefront.demo import seed
from lakefront.servers.seaweedfs import SeaweedFSServer
from lakefront.settings import ExtractSettings, ProcessSettings, Settings
from support import Api, AppStack, app_stack, profile_settings, start_instance
from support.s3 import seaweedfs
from support.servers import MariaDBHandle

BUCKET = "outage"
DATASET = "/api/analytics/datasets/daily_sales"
DASHBOARD = "/api/analytics/dashboards/sales"
KEPT = "keeping the loaded marts"


@dataclass
class Lakeside:
    s3: SeaweedFSServer
    settings: Settings
    env: dict[str, str]
    stack: AppStack
    admin_token: str

    def api(self, url: str) -> Api:
        return Api(url, self.admin_token)


@pytest.fixture(scope="module")
def lakeside(mariadb_server: MariaDBHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakeside]:
    tmp = tmp_path_factory.mktemp("lake-outage")
    with seaweedfs(tmp / "s3", buckets=tuple(f"{BUCKET}-{area}" for area in ("images", "lake", "backups"))) as s3:
        env = {"LAKEFRONT_PROFILE": "services", "LAKEFRONT_DB__WRITER_URL": mariadb_server.fresh_url(),
               "LAKEFRONT_CACHE__BACKEND": "embedded", "LAKEFRONT_OBJECTS__S3_ENDPOINT": s3.endpoint_url,
               "LAKEFRONT_OBJECTS__BUCKET": BUCKET, "LAKEFRONT_OBJECTS__ACCESS_KEY": s3.access_key,
               "LAKEFRONT_OBJECTS__SECRET_KEY": s3.secret_key}
        var_dir = tmp / "var"
        settings = profile_settings(var_dir, env, extract=ExtractSettings(safety_lag_s=0),
                                    process=ProcessSettings(engine="duckdb"))
        seed(settings, scale=0.01, seed=5, until=date.today() - timedelta(days=2), progress=False)
        run_pipeline(settings)
        # Every request checks the lake, so the first request after a commit tries to load it.
        app_env = {**env, "LAKEFRONT_ANALYTICS__REFRESH_S": "0"}
        with app_stack(var_dir, count=1, profile_env=app_env) as stack:
            admin_token, = stack.db.add_customers("analyst", 1)
            stack.db.make_admin("analyst0@example.com")
            yield Lakeside(s3, settings, stack.env, stack, admin_token)


def _rows(api: Api, path: str) -> list[dict[str, Any]]:
    r = api.request("GET", path)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["rows"]
    return rows


def _add_an_order_today(settings: Settings) -> None:
    """One order placed now: the next pipeline run commits new marts."""
    engine = sa.create_engine(settings.db.writer_url or "", poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            customer = conn.execute(sa.select(t.customers.c.id).limit(1)).scalar_one()
            product, price = conn.execute(sa.select(t.products.c.id, t.products.c.price_cents).limit(1)).one()
            now = datetime.now(UTC) - timedelta(seconds=1)
            order = conn.execute(t.orders.insert().values(
                customer_id=customer, status="placed", total_cents=price, item_count=1, placed_at=now,
                created_at=now, updated_at=now)).inserted_primary_key[0]
            conn.execute(t.order_lines.insert().values(
                order_id=order, product_id=product, quantity=1, unit_price_cents=price, line_total_cents=price,
                created_at=now, updated_at=now))
    finally:
        engine.dispose()


def _assert_503_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["status"] == 503 and "lake" in body["detail"]


def test_loaded_marts_outlive_the_lake_and_an_instance_with_none_answers_503(lakeside: Lakeside,
                                                                            tmp_path: Path) -> None:
    first = lakeside.stack.instances[0]
    api = lakeside.api(first.url)
    loaded = _rows(api, DATASET)
    assert loaded, "the pipeline committed no daily sales"
    board = api.request("GET", DASHBOARD)
    assert board.status_code == 200, board.text

    # New marts committed while the instance is not looking, then the store goes away before it reads them.
    _add_an_order_today(lakeside.settings)
    run_pipeline(lakeside.settings)
    lakeside.s3.stop()
    second = None
    try:
        # The refresh sees the new commits and cannot read them: the loaded marts answer, one line says so.
        logged = first.log.read_text().count(KEPT)
        assert _rows(api, DATASET) == loaded
        assert api.request("GET", DASHBOARD).json() == board.json()
        assert _rows(api, DATASET) == loaded
        # Each of those requests checked the lake (refresh_s 0), several times: one line for the outage.
        lines = [line for line in first.log.read_text().splitlines() if KEPT in line]
        assert len(lines) == logged + 1, "\n".join(lines)
        assert "mart_" in lines[-1]
        assert "Traceback" not in first.log.read_text()

        # A new instance has nothing loaded: what needs the lake is 503 with Retry-After; the rest answers.
        second = start_instance("app", "app-cold", lakeside.env, tmp_path)
        cold = lakeside.api(second.url)
        for path in (DATASET, DASHBOARD, f"{DATASET}?format=csv", "/api/analytics/dashboards/sales/visuals/kpis"):
            _assert_503_problem(cold.request("GET", path))
        listed = cold.request("GET", "/api/analytics/dashboards")
        assert listed.status_code == 200, listed.text
        assert "Traceback" not in second.log.read_text()
        # The store back: both instances serve the new marts, without a restart.
        lakeside.s3.start(lakeside.s3.dir / "weed-restarted.log")
        lakeside.s3.wait_ready()
        fresh = _rows(cold, DATASET)
        assert fresh != loaded
        assert _rows(api, DATASET) == fresh
        assert first.log.read_text().count("the lake check succeeds again") >= 1
    finally:
        if lakeside.s3.proc is None or lakeside.s3.proc.poll() is not None:
            lakeside.s3.start(lakeside.s3.dir / "weed-restarted.log")
            lakeside.s3.wait_ready()
        if second is not None:
            second.proc.terminate()
            second.proc.wait(timeout=30)
