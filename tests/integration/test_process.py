"""Processing against a real lake: SQLite -> directory store + SQLite catalog, MariaDB -> SeaweedFS S3 + a catalog
in MariaDB (DuckDB through httpfs).

Each mart is checked against an independent computation: SQL run on the SOURCE database (not the lake), so a
mistake in the extract, the clean layer or a model shows up as a difference, to the cent.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lakefront.analytics.extract import run_extract
from lakefront.analytics.lake import Lake
from lakefront.analytics.pipeline import run_pipeline
from lakefront.analytics.process import ModelResult, run_process
from lakefront.analytics.sql import LakeSQL
from lakefront.data import tables as t
from lakefront.data.endpoints import writer_url
from lakefront.demo import seed
from lakefront.settings import ExtractSettings, LakeSettings, ProcessSettings, Settings
from support import lakefront_env, profile_settings, run_cli, source_sql

UNTIL = date(2026, 3, 1)
_prefixes = itertools.count(1)
DAY = source_sql.DAY


def settings_for(var_dir: Path, env: dict[str, str], prefix: str) -> Settings:
    """The settings a process started with `env` (the profile's variables) would load; no safety lag.

    DuckDB in both profiles: these tests check the marts against the source; Spark's equality with
    DuckDB is test_engines_parity.py's job, and one JVM per test would triple this module's time.
    """
    return profile_settings(var_dir, env, lake=LakeSettings(prefix=prefix), extract=ExtractSettings(safety_lag_s=0),
                            process=ProcessSettings(engine="duckdb"))


@dataclass
class Shop:
    """The module's seeded database and the marts of the first processing run (prefix lake)."""

    var_dir: Path
    env: dict[str, str]
    engine: sa.Engine
    results: list[ModelResult]

    def settings(self, prefix: str) -> Settings:
        return settings_for(self.var_dir, self.env, prefix)

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def mart(self, model: str, prefix: str = "lake") -> list[dict[str, Any]]:
        with Lake(self.settings(prefix)) as lake:
            return lake.read(model).to_pylist()

    def snapshots(self, prefix: str = "lake") -> dict[str, list[int]]:
        """{mart: the ids of every snapshot it keeps}."""
        with Lake(self.settings(prefix)) as lake:
            return {name: [c.snapshot_id for c in lake.history(name)] for name in lake.marts()}


@pytest.fixture(scope="module")
def shop(profile_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    var_dir = tmp_path_factory.mktemp("process")
    settings = settings_for(var_dir, profile_env, "lake")
    seed(settings, scale=0.03, seed=7, until=UNTIL, progress=False)
    src = Shop(var_dir, profile_env, sa.create_engine(writer_url(settings), poolclass=sa.pool.NullPool),
               run_pipeline(settings).processed)
    yield src
    src.engine.dispose()


def _int(value: Any) -> int:
    return int(value)  # MariaDB's SUM is a Decimal


def test_daily_sales_equal_the_source_orders_to_the_cent(shop: Shop) -> None:
    expected = {date.fromisoformat(r["day"]): r | {"day": date.fromisoformat(r["day"])}
                for r in source_sql.daily_sales(shop.rows)}
    got = {row["day"]: row for row in shop.mart("mart_daily_sales")}
    assert len(expected) > 300
    assert got == expected
    assert sum(r["revenue_cents"] for r in got.values()) == _int(shop.rows(
        "SELECT SUM(total_cents) FROM orders WHERE status <> 'cancelled'")[0][0])


def test_category_and_product_sales_equal_the_source_order_lines(shop: Shop) -> None:
    valid_lines = """FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
                     JOIN categories c ON c.id = p.category_id WHERE o.status <> 'cancelled'"""
    expected_categories = {
        (date.fromisoformat(day), category): {
            "day": date.fromisoformat(day), "category_id": category, "category_name": name, "orders": orders,
            "units": _int(units), "revenue_cents": _int(revenue)}
        for day, category, name, orders, units, revenue in shop.rows(f"""
            SELECT {DAY}, p.category_id, c.name, COUNT(DISTINCT o.id), SUM(l.quantity), SUM(l.line_total_cents)
            {valid_lines} GROUP BY {DAY}, p.category_id, c.name""")}
    got_categories = {(r["day"], r["category_id"]): r for r in shop.mart("mart_category_sales")}
    assert got_categories == expected_categories

    expected_products = {
        product: {"product_id": product, "product_name": name, "category_id": category, "category_name": cname,
                  "units": _int(units), "revenue_cents": _int(revenue), "orders": orders,
                  "first_sold_day": date.fromisoformat(first), "last_sold_day": date.fromisoformat(last)}
        for product, name, category, cname, units, revenue, orders, first, last in shop.rows(f"""
            SELECT p.id, p.name, p.category_id, c.name, SUM(l.quantity), SUM(l.line_total_cents),
                   COUNT(DISTINCT o.id), MIN({DAY}), MAX({DAY})
            {valid_lines} GROUP BY p.id, p.name, p.category_id, c.name""")}
    revenues = [row["revenue_cents"] for row in expected_products.values()]
    for row in expected_products.values():
        row["revenue_rank"] = 1 + sum(other > row["revenue_cents"] for other in revenues)
    got_products = {r["product_id"]: r for r in shop.mart("mart_product_sales")}
    assert got_products == expected_products
    assert [r["product_id"] for r in got_products.values() if r["revenue_rank"] == 1] == [
        max(expected_products, key=lambda p: expected_products[p]["revenue_cents"])]


def test_customer_cohorts_equal_retention_computed_from_the_source(shop: Shop) -> None:
    months: dict[int, set[str]] = defaultdict(set)
    for customer, month in shop.rows(f"SELECT DISTINCT o.customer_id, SUBSTR({DAY}, 1, 7) FROM orders o "
                                     "WHERE o.status <> 'cancelled'"):
        months[customer].add(month)
    active: dict[tuple[str, int], int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    for seen in months.values():
        cohort = min(seen)
        size[cohort] += 1
        for month in seen:
            since = (int(month[:4]) - int(cohort[:4])) * 12 + int(month[5:]) - int(cohort[5:])
            active[cohort, since] += 1
    expected = {(date.fromisoformat(c + "-01"), since): {
        "cohort_month": date.fromisoformat(c + "-01"), "months_since": since, "active_customers": n,
        "cohort_size": size[c], "retention": n / size[c]} for (c, since), n in active.items()}
    got = {(r["cohort_month"], r["months_since"]): r for r in shop.mart("mart_customer_cohorts")}
    assert got == expected
    assert all(r["retention"] == 1.0 for (_, since), r in got.items() if since == 0)


def test_the_daily_funnel_equals_the_source_clickstream_and_orders(shop: Shop) -> None:
    day = "SUBSTR(CAST(DATE(occurred_at) AS CHAR), 1, 10)"
    clicks = {date.fromisoformat(d): (views, carts, _int(pv), _int(ac)) for d, views, carts, pv, ac in shop.rows(f"""
        SELECT {day}, COUNT(DISTINCT CASE WHEN kind = 'page_view' THEN session_id END),
               COUNT(DISTINCT CASE WHEN kind = 'add_to_cart' THEN session_id END),
               SUM(CASE WHEN kind = 'page_view' THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'add_to_cart' THEN 1 ELSE 0 END)
        FROM events GROUP BY {day}""")}
    orders = {date.fromisoformat(d): n for d, n in shop.rows(
        f"SELECT {DAY}, COUNT(*) FROM orders o WHERE o.status <> 'cancelled' GROUP BY {DAY}")}
    expected = {}
    for d in clicks.keys() | orders.keys():
        views, carts, page_views, add_to_carts = clicks.get(d, (0, 0, 0, 0))
        placed = orders.get(d, 0)
        expected[d] = {"day": d, "sessions_with_view": views, "sessions_with_cart": carts, "orders": placed,
                       "page_views": page_views, "add_to_carts": add_to_carts,
                       "view_to_cart_rate": carts / views if views else None,
                       "cart_to_order_rate": placed / carts if carts else None}
    got = {r["day"]: r for r in shop.mart("mart_funnel_daily")}
    assert got == expected
    assert sum(r["page_views"] for r in got.values()) == shop.rows(
        "SELECT COUNT(*) FROM events WHERE kind = 'page_view'")[0][0]


def test_inventory_equals_stock_and_the_last_30_days_of_sales_in_the_source(shop: Shop) -> None:
    as_of = date.fromisoformat(shop.rows(f"""SELECT MAX({DAY}) FROM orders o
        WHERE o.status <> 'cancelled' AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)""")[0][0])
    sold = {product: _int(units) for product, units in shop.rows(f"""
        SELECT l.product_id, SUM(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
        WHERE o.status <> 'cancelled' AND {DAY} > :start GROUP BY l.product_id""",
        start=(as_of - timedelta(days=30)).isoformat())}
    expected = {}
    for product, name, category_id, category, stock, active in shop.rows(
            "SELECT p.id, p.name, p.category_id, c.name, p.stock, p.is_active FROM products p "
            "JOIN categories c ON c.id = p.category_id"):
        units = sold.get(product, 0)
        expected[product] = {
            "product_id": product, "name": name, "category_id": category_id, "category_name": category,
            "stock": stock, "is_active": bool(active),
            "as_of_day": as_of, "units_sold_30d": units, "days_of_cover": stock * 30 // units if units else None,
            "low_stock": bool(active) and (stock <= 5 or stock * 30 < units * 14)}
    got = {r["product_id"]: r for r in shop.mart("mart_inventory")}
    assert got == expected
    assert any(r["units_sold_30d"] for r in got.values())


def test_order_status_per_day_equals_every_source_order_by_its_current_status(shop: Shop) -> None:
    expected = {
        (date.fromisoformat(day), status): {"day": date.fromisoformat(day), "status": status, "orders": orders,
                                            "total_cents": _int(total)}
        for day, status, orders, total in shop.rows(
            f"SELECT {DAY}, o.status, COUNT(*), SUM(o.total_cents) FROM orders o GROUP BY {DAY}, o.status")}
    got = {(r["day"], r["status"]): r for r in shop.mart("mart_order_status_daily")}
    assert got == expected
    assert "cancelled" in {status for _, status in got}  # cancelled orders count here, unlike in the sales marts
    assert sum(r["orders"] for r in got.values()) == shop.rows("SELECT COUNT(*) FROM orders")[0][0]


def test_categories_equal_the_source_categories_with_their_active_products_stock(shop: Shop) -> None:
    expected = {
        category: {"category_id": category, "slug": slug, "name": name, "active_products": _int(active),
                   "stock_units": _int(stock)}
        for category, slug, name, active, stock in shop.rows("""
            SELECT c.id, c.slug, c.name, SUM(CASE WHEN p.is_active THEN 1 ELSE 0 END),
                   SUM(CASE WHEN p.is_active THEN p.stock ELSE 0 END)
            FROM categories c LEFT JOIN products p ON p.category_id = c.id GROUP BY c.id, c.slug, c.name""")}
    got = {r["category_id"]: r for r in shop.mart("mart_categories")}
    assert got == expected
    # The seed hides some products: their stock must be left out, not merely happen to be absent.
    hidden_stock = _int(shop.rows("SELECT SUM(stock) FROM products WHERE NOT is_active")[0][0])
    assert hidden_stock > 0
    assert sum(r["stock_units"] for r in got.values()) + hidden_stock == _int(
        shop.rows("SELECT SUM(stock) FROM products")[0][0])


def test_customer_sales_per_day_and_category_equal_the_source_order_lines(shop: Shop) -> None:
    expected = {
        (date.fromisoformat(day), customer, category): {
            "day": date.fromisoformat(day), "customer_id": customer, "category_id": category, "orders": orders,
            "units": _int(units), "revenue_cents": _int(revenue)}
        for day, customer, category, orders, units, revenue in shop.rows(f"""
            SELECT {DAY}, o.customer_id, p.category_id, COUNT(DISTINCT o.id), SUM(l.quantity),
                   SUM(l.line_total_cents)
            FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
            WHERE o.status <> 'cancelled' GROUP BY {DAY}, o.customer_id, p.category_id""")}
    got = {(r["day"], r["customer_id"], r["category_id"]): r for r in shop.mart("mart_customer_sales_daily")}
    assert got == expected
    # What the mart is for: distinct customers over a range, counted once however many days they bought.
    lo, hi = UNTIL - timedelta(days=90), UNTIL - timedelta(days=1)
    buyers = {c for (d, c, _) in got if lo <= d <= hi}
    assert len(buyers) == shop.rows(
        f"SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        f"WHERE o.status <> 'cancelled' AND {DAY} BETWEEN :lo AND :hi", lo=lo.isoformat(), hi=hi.isoformat())[0][0]


def test_direct_reads_from_s3_need_no_staging(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lakefront.analytics.process"):
        run_process(shop.settings("lake"), models=["mart_order_status_daily"])
    assert not [r for r in caplog.records if "staging" in r.getMessage()]


def test_a_rerun_on_unchanged_data_commits_nothing_and_keeps_every_mart(shop: Shop) -> None:
    marts = [r.name for r in shop.results if r.kind == "mart"]
    assert all(r.committed for r in shop.results if r.kind == "mart")
    before = shop.snapshots()
    assert sorted(before) == sorted(marts)
    contents = {m: shop.mart(m) for m in marts}
    again = run_process(shop.settings("lake"))
    assert [r.name for r in again] == [r.name for r in shop.results]
    assert not any(r.committed for r in again)
    assert shop.snapshots() == before
    assert {m: shop.mart(m) for m in marts} == contents


def test_duckdbs_iceberg_reader_and_pyiceberg_see_exactly_every_committed_mart(shop: Shop) -> None:
    settings = shop.settings("lake")
    with Lake(settings) as lake, LakeSQL(settings, lake) as sql:
        marts = sorted(lake.marts())
        assert marts == sorted(r.name for r in shop.results if r.kind == "mart")
        for mart in marts:
            ours = lake.read(mart)
            table = lake.load(mart)
            assert table is not None
            theirs = table.scan().to_arrow()
            duck = sql.query(f"SELECT * FROM {mart}").table
            commit = lake.last_commit(mart)
            assert commit is not None and ours.num_rows == commit.rows > 0
            key = [(name, "ascending") for name in ours.column_names]
            for other in (theirs, duck):
                other = other.sort_by(key)
                assert other.column_names == ours.column_names, mart
                for column in ours.column_names:
                    assert other[column].to_pylist() == ours.sort_by(key)[column].to_pylist(), (mart, column)


def test_one_mart_runs_with_only_what_it_reads_extracted(shop: Shop) -> None:
    prefix = f"only{next(_prefixes)}"
    settings = shop.settings(prefix)
    run_extract(settings, tables=["orders", "order_lines"])
    results = run_process(settings, models=["mart_daily_sales"])
    assert [r.name for r in results] == ["clean_order_lines", "clean_orders", "sales_orders", "mart_daily_sales"]
    assert list(shop.snapshots(prefix)) == ["mart_daily_sales"]
    assert shop.mart("mart_daily_sales", prefix) == shop.mart("mart_daily_sales")


def test_the_cli_reports_an_empty_lake_and_an_unknown_model_in_one_line(shop: Shop) -> None:
    env = lakefront_env(shop.var_dir, **shop.env, LAKEFRONT_LAKE__PREFIX=f"empty{next(_prefixes)}",
                        LAKEFRONT_PROCESS__ENGINE="duckdb")
    empty = run_cli(shop.var_dir, "process", env=env)
    assert empty.returncode == 2
    assert empty.stderr.strip() == "lakefront: no data in the lake yet: run `lakefront extract`"
    unknown = run_cli(shop.var_dir, "process", "--models", "mart_daily_sales,mart_nope", env=env)
    assert unknown.returncode == 2
    assert len(unknown.stderr.strip().splitlines()) == 1 and "unknown model 'mart_nope'" in unknown.stderr


def test_the_pipeline_command_extracts_then_processes(shop: Shop) -> None:
    env = lakefront_env(shop.var_dir, **shop.env, LAKEFRONT_LAKE__PREFIX=f"pipe{next(_prefixes)}",
                        LAKEFRONT_PROCESS__ENGINE="duckdb",
                        LAKEFRONT_EXTRACT__SAFETY_LAG_S="0")
    done = run_cli(shop.var_dir, "pipeline", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("orders: ") and line.endswith(", full") for line in lines)
    daily = len(shop.mart("mart_daily_sales"))
    assert f"mart_daily_sales: {daily:,} rows" in done.stdout and "(committed)" in done.stdout


def test_new_orders_on_two_days_change_exactly_those_days_of_daily_sales(shop: Shop) -> None:
    prefix = f"changes{next(_prefixes)}"
    settings = shop.settings(prefix)
    run_extract(settings)
    run_process(settings, models=["mart_daily_sales"])
    before = {r["day"]: r for r in shop.mart("mart_daily_sales", prefix)}
    days = [UNTIL - timedelta(days=20), UNTIL - timedelta(days=50)]
    # A customer who first bought before both days: the new orders must not make anyone new on another day.
    customer = shop.rows(f"SELECT o.customer_id FROM orders o WHERE o.status <> 'cancelled' "
                         f"GROUP BY o.customer_id ORDER BY MIN({DAY}), o.customer_id LIMIT 1")[0][0]
    product, price = shop.rows("SELECT id, price_cents FROM products ORDER BY id LIMIT 1")[0]
    now = datetime.now(UTC)  # updated_at: the extract takes rows changed after its watermark
    added: list[int] = []
    with shop.engine.begin() as conn:
        for day in days:
            placed = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            order = conn.execute(t.orders.insert().values(
                customer_id=customer, status="placed", total_cents=3 * price, item_count=3, placed_at=placed,
                created_at=now, updated_at=now)).inserted_primary_key[0]
            added.append(int(order))
            conn.execute(t.order_lines.insert().values(
                order_id=order, product_id=product, quantity=3, unit_price_cents=price, line_total_cents=3 * price,
                created_at=now, updated_at=now))
    try:
        _two_new_days_changed(shop, settings, prefix, before, days, price)
    finally:
        # The module's other tests compare the first run's marts with the source: leave the source as it was,
        # so they pass in any order.
        with shop.engine.begin() as conn:
            conn.execute(t.order_lines.delete().where(t.order_lines.c.order_id.in_(added)))
            conn.execute(t.orders.delete().where(t.orders.c.id.in_(added)))


def _two_new_days_changed(shop: Shop, settings: Settings, prefix: str, before: dict[Any, dict[str, Any]],
                          days: list[date], price: int) -> None:
    assert {r.table: r.rows for r in run_extract(settings, tables=["orders", "order_lines"])} == {
        "orders": 2, "order_lines": 2}
    result = run_process(settings, models=["mart_daily_sales"])[-1]
    assert result.committed
    after = {r["day"]: r for r in shop.mart("mart_daily_sales", prefix)}
    changed = {d for d in before.keys() | after.keys() if before.get(d) != after.get(d)}
    assert changed == set(days)
    for day in days:
        old = before.get(day, {"orders": 0, "revenue_cents": 0, "units": 0})
        assert (after[day]["orders"], after[day]["revenue_cents"], after[day]["units"]) == (
            old["orders"] + 1, old["revenue_cents"] + 3 * price, old["units"] + 3)
