"""The dashboards' API on a real app process over a real lake: SQLite -> directory (SQLite catalog), MariaDB ->
SeaweedFS S3 (catalog in MariaDB).

Every figure is checked twice: against the marts as the lake holds them (Lake.read) and against SQL run on
the SOURCE database, so a mistake in a dataset's SQL, its filters or the service's binding shows as a difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lakefront.analytics.lake import Lake
from lakefront.analytics.pipeline import run_pipeline
from lakefront.data import tables as t
from lakefront.data.endpoints import writer_url
from lakefront.demo import seed
from lakefront.settings import ExtractSettings, ProcessSettings, Settings
from support import Api, AppStack, app_stack, profile_settings, source_sql

UNTIL = date(2026, 3, 1)
FROM, TO = "2025-12-01", "2026-01-15"  # 46 days; the previous period is 2025-10-16 .. 2025-11-30
DAY = source_sql.DAY
SALES = """FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
           JOIN categories c ON c.id = p.category_id WHERE o.status <> 'cancelled'"""


@dataclass
class Shop:
    stack: AppStack
    settings: Settings
    engine: sa.Engine
    admin: Api
    customer: Api
    anonymous: Api

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def mart(self, model: str) -> list[dict[str, Any]]:
        with Lake(self.settings) as lake:
            rows = lake.read(model).to_pylist()
        return [{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()} for row in rows]

    def get(self, path: str, **params: str) -> dict[str, Any]:
        r = self.admin.request("GET", path, params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def visual(self, dashboard: str, visual: str, **params: str) -> dict[str, Any]:
        return self.get(f"/api/analytics/dashboards/{dashboard}/visuals/{visual}", **params)

    def pipeline(self) -> None:
        run_pipeline(self.settings)


@pytest.fixture(scope="module")
def shop(profile_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    var_dir: Path = tmp_path_factory.mktemp("analytics")
    settings = profile_settings(var_dir, profile_env, extract=ExtractSettings(safety_lag_s=0),
                                process=ProcessSettings(engine="duckdb"))
    seed(settings, scale=0.01, seed=11, until=UNTIL, progress=False)
    # Check the lake on every request, so a test sees a commit at once (the default is every 5 s).
    env = {**profile_env, "LAKEFRONT_ANALYTICS__REFRESH_S": "0", "LAKEFRONT_EXTRACT__SAFETY_LAG_S": "0"}
    with app_stack(var_dir, count=1, profile_env=env) as stack:
        admin_token, customer_token = stack.db.add_customers("analyst", 2)
        stack.db.make_admin("analyst0@example.com")
        url = stack.instances[0].url
        engine = sa.create_engine(writer_url(settings), poolclass=sa.pool.NullPool)
        yield Shop(stack, settings, engine, Api(url, admin_token), Api(url, customer_token), Api(url))
        engine.dispose()


@pytest.fixture(scope="module")
def processed(shop: Shop) -> Shop:
    shop.pipeline()
    return shop


def _int(value: Any) -> int:
    return int(value or 0)  # MariaDB's SUM is a Decimal; an empty SUM is NULL


def _category(shop: Shop) -> tuple[int, str, str]:
    """The category with the most revenue in [FROM, TO]: (id, slug, name)."""
    found = shop.rows(f"SELECT c.id, c.slug, c.name {SALES} AND {DAY} BETWEEN :lo AND :hi "
                      "GROUP BY c.id, c.slug, c.name ORDER BY SUM(l.line_total_cents) DESC, c.id LIMIT 1",
                      lo=FROM, hi=TO)
    return found[0]


def _source_kpis(shop: Shop, lo: str, hi: str, category: int | None) -> dict[str, int | None]:
    if category is None:
        orders, revenue = shop.rows(f"SELECT COUNT(*), SUM(o.total_cents) FROM orders o "
                                    f"WHERE o.status <> 'cancelled' AND {DAY} BETWEEN :lo AND :hi", lo=lo, hi=hi)[0]
        customers = shop.rows(f"SELECT COUNT(DISTINCT o.customer_id) FROM orders o "
                              f"WHERE o.status <> 'cancelled' AND {DAY} BETWEEN :lo AND :hi", lo=lo, hi=hi)[0][0]
    else:
        orders, revenue, customers = shop.rows(
            f"SELECT COUNT(DISTINCT o.id), SUM(l.line_total_cents), COUNT(DISTINCT o.customer_id) {SALES} "
            f"AND {DAY} BETWEEN :lo AND :hi AND p.category_id = :c", lo=lo, hi=hi, c=category)[0]
    orders, revenue = _int(orders), _int(revenue)
    return {"revenue": revenue, "orders": orders, "customers": _int(customers),
            "average_order_value": (2 * revenue + orders) // (2 * orders) if orders else None}


def _source_order_status(shop: Shop) -> list[dict[str, Any]]:
    """mart_order_status_daily's rows, from the source: every order by the UTC day placed and current status."""
    return [{"day": day, "status": status, "orders": orders, "total_cents": _int(total)}
            for day, status, orders, total in sorted(shop.rows(
                f"SELECT {DAY}, o.status, COUNT(*), SUM(o.total_cents) FROM orders o GROUP BY {DAY}, o.status"))]


def _source_daily_sales(shop: Shop) -> list[dict[str, Any]]:
    return source_sql.daily_sales(shop.rows)


def _source_funnel(shop: Shop) -> list[dict[str, Any]]:
    """mart_funnel_daily's rows, from the source's clickstream (by the UTC day of occurred_at) and orders."""
    day = "SUBSTR(CAST(DATE(occurred_at) AS CHAR), 1, 10)"
    clicks = {d: (views, carts, _int(pv), _int(ac)) for d, views, carts, pv, ac in shop.rows(f"""
        SELECT {day}, COUNT(DISTINCT CASE WHEN kind = 'page_view' THEN session_id END),
               COUNT(DISTINCT CASE WHEN kind = 'add_to_cart' THEN session_id END),
               SUM(CASE WHEN kind = 'page_view' THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'add_to_cart' THEN 1 ELSE 0 END)
        FROM events GROUP BY {day}""")}
    orders = dict(shop.rows(f"SELECT {DAY}, COUNT(*) FROM orders o WHERE o.status <> 'cancelled' GROUP BY {DAY}"))
    rows = []
    for d in sorted(clicks.keys() | orders.keys()):
        views, carts, page_views, add_to_carts = clicks.get(d, (0, 0, 0, 0))
        placed = orders.get(d, 0)
        rows.append({"day": d, "sessions_with_view": views, "sessions_with_cart": carts, "orders": placed,
                     "page_views": page_views, "add_to_carts": add_to_carts,
                     "view_to_cart_rate": carts / views if views else None,
                     "cart_to_order_rate": placed / carts if carts else None})
    return rows


def _source_cohorts(shop: Shop) -> list[dict[str, Any]]:
    """mart_customer_cohorts's rows, from the source: cohort = the month of a customer's first valid order."""
    months: dict[int, set[str]] = {}
    for customer, month in shop.rows(f"SELECT DISTINCT o.customer_id, SUBSTR({DAY}, 1, 7) FROM orders o "
                                     "WHERE o.status <> 'cancelled'"):
        months.setdefault(customer, set()).add(month)
    active: dict[tuple[str, int], int] = {}
    size: dict[str, int] = {}
    for seen in months.values():
        cohort = min(seen)
        size[cohort] = size.get(cohort, 0) + 1
        for month in seen:
            since = (int(month[:4]) - int(cohort[:4])) * 12 + int(month[5:]) - int(cohort[5:])
            active[cohort, since] = active.get((cohort, since), 0) + 1
    return [{"cohort_month": f"{c}-01", "months_since": since, "active_customers": n, "cohort_size": size[c],
             "retention": n / size[c]} for (c, since), n in sorted(active.items())]


def _source_low_stock(shop: Shop, category: int | None) -> list[dict[str, Any]]:
    """The low_stock dataset from the source: active products with at most 5 left or under 14 days of cover at
    the rate of the 30 days ending on the last day with a sale, most urgent first."""
    as_of = shop.rows(f"""SELECT MAX({DAY}) FROM orders o WHERE o.status <> 'cancelled'
        AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)""")[0][0]
    start = (date.fromisoformat(as_of) - timedelta(days=30)).isoformat()
    sold = {product: _int(units) for product, units in shop.rows(f"""
        SELECT l.product_id, SUM(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
        WHERE o.status <> 'cancelled' AND {DAY} > :start GROUP BY l.product_id""", start=start)}
    rows = []
    for product, name, category_id, category_name, stock, active in shop.rows(
            "SELECT p.id, p.name, p.category_id, c.name, p.stock, p.is_active FROM products p "
            "JOIN categories c ON c.id = p.category_id"):
        units = sold.get(product, 0)
        if not active or not (stock <= 5 or stock * 30 < units * 14):
            continue
        if category is not None and category_id != category:
            continue
        rows.append({"product_id": product, "product_name": name, "category_name": category_name, "stock": stock,
                     "units_sold_30d": units, "days_of_cover": stock * 30 // units if units else None,
                     "as_of_day": as_of})
    rows.sort(key=lambda r: (r["days_of_cover"] is None, r["days_of_cover"] or 0, r["stock"], r["product_id"]))
    return rows[:200]


def _source_top_products(shop: Shop, category: int | None) -> list[dict[str, Any]]:
    """The top_products dataset from the source: the 20 products with the most revenue (whole history), ranked
    among the products of the category when one is given."""
    where = " AND p.category_id = :c" if category is not None else ""
    sold = [{"product_id": p, "product_name": name, "category_name": cname, "units": _int(units), "orders": orders,
             "revenue_cents": _int(revenue), "last_sold_day": last}
            for p, name, cname, units, orders, revenue, last in shop.rows(f"""
                SELECT p.id, p.name, c.name, SUM(l.quantity), COUNT(DISTINCT o.id), SUM(l.line_total_cents),
                       MAX({DAY})
                {SALES}{where} GROUP BY p.id, p.name, c.name""", c=category)]
    sold.sort(key=lambda r: (-r["revenue_cents"], r["product_id"]))
    return [{"rank": 1 + sum(other["revenue_cents"] > r["revenue_cents"] for other in sold), **r} for r in sold[:20]]


def _problem_field(shop: Shop, path: str, **params: str) -> str:
    r = shop.admin.request("GET", path, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in r.json()["errors"]]
    assert len(fields) == 1
    return fields[0]


ENDPOINTS = ["/api/analytics/dashboards", "/api/analytics/dashboards/sales",
             "/api/analytics/dashboards/sales/visuals/kpis", "/api/analytics/datasets",
             "/api/analytics/datasets/daily_sales", "/api/analytics/dashboards/nope",
             "/api/analytics/datasets/daily_sales?format=csv"]


def test_an_empty_lake_says_empty_and_every_visual_answers_with_no_rows(shop: Shop) -> None:
    listed = shop.get("/api/analytics/dashboards")
    assert [d["id"] for d in listed] == ["sales", "customers", "funnel", "inventory"]
    for summary in listed:
        board = shop.get(f"/api/analytics/dashboards/{summary['id']}")
        assert board["empty"] is True
        assert (board["as_of"], board["run_id"], board["date_bounds"], board["categories"]) == (None, None, None, [])
        for visual in board["visuals"]:
            data = shop.visual(summary["id"], visual["id"], **{"from": FROM, "to": TO})
            assert (data["rows"], data["empty"], data["as_of"]) == ([], True, None)
            assert data["columns"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_only_admins_reach_the_analytics_api(shop: Shop, path: str) -> None:
    anonymous = shop.anonymous.request("GET", path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    customer = shop.customer.request("GET", path)
    assert customer.status_code == 403
    assert customer.headers["content-type"] == "application/problem+json"


def test_the_dashboard_describes_its_filters_visuals_and_data(processed: Shop) -> None:
    board = processed.get("/api/analytics/dashboards/sales")
    assert board["empty"] is False
    assert board["filters"] == [{"id": "date", "type": "date_range", "default_days": 30},
                                {"id": "category", "type": "category"}]
    visuals = {v["id"]: v for v in board["visuals"]}
    assert {v["type"] for v in visuals.values()} == {"kpi", "line", "bar", "table"}
    assert visuals["revenue_by_category"]["drill"] == {"filter": "category", "field": "category_slug"}
    assert visuals["revenue_by_category"]["filters"] == ["date"]
    assert visuals["revenue_over_time"]["encoding"] == {"x": "day", "y": "revenue_cents"}
    assert all(1 <= v["width"] <= 12 for v in visuals.values())
    first, last = processed.rows(f"SELECT MIN({DAY}), MAX({DAY}) FROM orders o WHERE o.status <> 'cancelled'")[0]
    assert board["date_bounds"] == {"min": first, "max": last}
    assert board["categories"] == [{"slug": s, "name": n} for n, s in sorted(
        (n, s) for s, n in processed.rows("SELECT slug, name FROM categories"))]
    with Lake(processed.settings) as lake:
        commits = [lake.last_commit(m) for m in board["marts"]]
    newest = max((c for c in commits if c is not None), key=lambda c: c.committed_at)
    assert (board["as_of"], board["run_id"]) == (newest.committed_at, newest.properties["run-id"])
    heatmap = processed.get("/api/analytics/dashboards/customers")["visuals"][0]
    assert (heatmap["type"], heatmap["encoding"]) == (
        "heatmap", {"x": "months_since", "y": "cohort_month", "value": "retention"})


@pytest.mark.parametrize("with_category", [False, True])
def test_sales_kpis_equal_the_source_for_the_period_and_the_one_before(processed: Shop, with_category: bool) -> None:
    category_id, slug, _ = _category(processed)
    params = {"from": FROM, "to": TO} | ({"category": slug} if with_category else {})
    data = processed.visual("sales", "kpis", **params)
    cat = category_id if with_category else None
    now = _source_kpis(processed, FROM, TO, cat)
    before = _source_kpis(processed, "2025-10-16", "2025-11-30", cat)
    assert (data["period"], data["previous_period"]) == (
        {"from": FROM, "to": TO}, {"from": "2025-10-16", "to": "2025-11-30"})
    assert data["filters"] == {"from": FROM, "to": TO, "category": slug if with_category else None}
    assert [c["name"] for c in data["columns"]] == ["metric", "label", "value", "previous", "change_pct", "format"]
    got = {row["metric"]: row for row in data["rows"]}
    assert list(got) == ["revenue", "orders", "average_order_value", "customers"]
    assert now["revenue"] and now["orders"]
    for metric, row in got.items():
        assert (row["value"], row["previous"]) == (now[metric], before[metric]), metric
        prev = before[metric]
        assert row["change_pct"] == (None if not prev else (now[metric] - prev) * 100 / prev)  # type: ignore[operator]
    assert got["revenue"]["format"] == "cents" and got["customers"]["format"] == "count"


def test_kpis_without_dates_cover_the_whole_history_as_in_the_marts(processed: Shop) -> None:
    data = processed.visual("sales", "kpis")
    daily = processed.mart("mart_daily_sales")
    got = {row["metric"]: row["value"] for row in data["rows"]}
    assert got["revenue"] == sum(r["revenue_cents"] for r in daily)
    assert got["orders"] == sum(r["orders"] for r in daily)
    assert got["customers"] == len({r["customer_id"] for r in processed.mart("mart_customer_sales_daily")})
    assert data["period"] == {"from": min(r["day"] for r in daily), "to": max(r["day"] for r in daily)}


@pytest.mark.parametrize("with_category", [False, True])
def test_revenue_per_day_has_every_day_of_the_period_and_equals_the_source(processed: Shop,
                                                                           with_category: bool) -> None:
    category_id, slug, _ = _category(processed)
    params = {"from": FROM, "to": TO} | ({"category": slug} if with_category else {})
    rows = processed.visual("sales", "revenue_over_time", **params)["rows"]
    where = " AND p.category_id = :c" if with_category else ""
    expected = {day: _int(revenue) for day, revenue in processed.rows(
        f"SELECT {DAY}, SUM(l.line_total_cents) {SALES} AND {DAY} BETWEEN :lo AND :hi{where} GROUP BY {DAY}",
        lo=FROM, hi=TO, c=category_id)}
    assert [r["day"] for r in rows] == [(date(2025, 12, 1) + timedelta(days=i)).isoformat() for i in range(46)]
    assert {r["day"]: r["revenue_cents"] for r in rows if r["revenue_cents"]} == expected
    if not with_category:
        marts = {r["day"]: r for r in processed.mart("mart_daily_sales") if FROM <= r["day"] <= TO}
        assert {r["day"]: (r["revenue_cents"], r["orders"]) for r in rows if r["orders"]} == {
            d: (r["revenue_cents"], r["orders"]) for d, r in marts.items()}


def test_revenue_by_category_ignores_the_category_filter_and_equals_the_source(processed: Shop) -> None:
    _, slug, _ = _category(processed)
    data = processed.visual("sales", "revenue_by_category", **{"from": FROM, "to": TO, "category": slug})
    assert data["filters"] == {"from": FROM, "to": TO, "category": None}
    expected = {s: (n, _int(r), o) for s, n, r, o in processed.rows(
        f"SELECT c.slug, c.name, SUM(l.line_total_cents), COUNT(DISTINCT o.id) {SALES} "
        f"AND {DAY} BETWEEN :lo AND :hi GROUP BY c.slug, c.name", lo=FROM, hi=TO)}
    got = {r["category_slug"]: (r["category_name"], r["revenue_cents"], r["orders"]) for r in data["rows"]}
    assert got == expected
    assert [r["revenue_cents"] for r in data["rows"]] == sorted((r["revenue_cents"] for r in data["rows"]),
                                                                reverse=True)
    # The drill field's values are slugs the category filter takes.
    last = data["rows"][-1]["category_slug"]
    drilled = processed.visual("sales", "kpis", **{"from": FROM, "to": TO, "category": last})
    assert drilled["filters"]["category"] == last


@pytest.mark.parametrize("with_category", [False, True])
def test_top_products_equal_the_mart_and_the_source(processed: Shop, with_category: bool) -> None:
    category_id, slug, _ = _category(processed)
    params = {"category": slug} if with_category else {}
    data = processed.visual("sales", "top_products", **{"from": FROM}, **params)
    assert data["filters"] == {"from": None, "to": None, "category": slug if with_category else None}
    rows = data["rows"]
    mart = sorted((r for r in processed.mart("mart_product_sales")
                   if not with_category or r["category_id"] == category_id),
                  key=lambda r: (-r["revenue_cents"], r["product_id"]))[:20]
    assert [(r["product_id"], r["revenue_cents"], r["units"]) for r in rows] == [
        (r["product_id"], r["revenue_cents"], r["units"]) for r in mart]
    if not with_category:
        assert [r["rank"] for r in rows] == [r["revenue_rank"] for r in mart]
    assert rows == _source_top_products(processed, category_id if with_category else None)
    assert rows and rows[0]["rank"] == 1


def test_mart_datasets_filter_by_date_as_the_marts_read_and_equal_the_source(processed: Shop) -> None:
    for dataset, mart, keys, source in [
            ("daily_sales", "mart_daily_sales", ("day",), _source_daily_sales),
            ("funnel_daily", "mart_funnel_daily", ("day",), _source_funnel),
            ("order_status_daily", "mart_order_status_daily", ("day", "status"), _source_order_status)]:
        everything = processed.get(f"/api/analytics/datasets/{dataset}")
        assert everything["filters"] == {"from": None, "to": None, "category": None}
        expected = sorted(processed.mart(mart), key=lambda r: tuple(r[k] for k in keys))
        assert everything["rows"] == expected, dataset
        assert expected == source(processed), dataset
        some = processed.get(f"/api/analytics/datasets/{dataset}", **{"from": FROM, "to": TO})["rows"]
        assert some == [r for r in expected if FROM <= r["day"] <= TO], dataset
        assert some and len(some) < len(expected)
    columns = processed.get("/api/analytics/datasets/daily_sales")["columns"]
    assert {c["name"]: c["type"] for c in columns}["day"] == "date"
    assert {c["name"]: c["type"] for c in columns}["revenue_cents"] == "integer"


def test_orders_by_status_equal_the_source_orders_cancelled_ones_included(processed: Shop) -> None:
    rows = processed.visual("sales", "orders_by_status", **{"from": FROM, "to": TO})["rows"]
    expected = [r for r in _source_order_status(processed) if FROM <= r["day"] <= TO]
    assert rows == expected
    assert {r["status"] for r in rows} >= {"cancelled", "delivered"}


def test_new_and_returning_customers_equal_the_source(processed: Shop) -> None:
    rows = processed.visual("customers", "new_vs_returning", **{"from": FROM, "to": TO})["rows"]
    expected = {day: (new, returning) for day, new, returning in processed.rows(f"""
        WITH valid AS (SELECT o.customer_id, {DAY} AS day FROM orders o WHERE o.status <> 'cancelled'),
             firsts AS (SELECT customer_id, MIN(day) AS first_day FROM valid GROUP BY customer_id)
        SELECT v.day, COUNT(DISTINCT CASE WHEN f.first_day = v.day THEN v.customer_id END),
               COUNT(DISTINCT CASE WHEN f.first_day < v.day THEN v.customer_id END)
        FROM valid v JOIN firsts f ON f.customer_id = v.customer_id
        WHERE v.day BETWEEN :lo AND :hi GROUP BY v.day""", lo=FROM, hi=TO)}
    assert {r["day"]: (r["new_customers"], r["returning_customers"]) for r in rows} == expected


def test_cohorts_and_the_funnel_steps_equal_the_marts_and_the_source(processed: Shop) -> None:
    cohorts = processed.visual("customers", "cohort_retention", **{"from": FROM, "to": TO})["rows"]
    assert cohorts == sorted((r for r in processed.mart("mart_customer_cohorts")
                              if "2025-12-01" <= r["cohort_month"] <= TO),
                             key=lambda r: (r["cohort_month"], r["months_since"]))
    assert {r["cohort_month"] for r in cohorts} == {"2025-12-01", "2026-01-01"}
    assert cohorts == [r for r in _source_cohorts(processed) if "2025-12-01" <= r["cohort_month"] <= TO]
    assert {r["cohort_month"] for r in processed.visual("customers", "cohort_retention")["rows"]} == {
        r["cohort_month"] for r in _source_cohorts(processed)}
    steps = processed.visual("funnel", "steps", **{"from": FROM, "to": TO})["rows"]
    funnel = [r for r in processed.mart("mart_funnel_daily") if FROM <= r["day"] <= TO]
    counts = [sum(r[c] for r in funnel) for c in ("sessions_with_view", "sessions_with_cart", "orders")]
    assert [r["count"] for r in steps] == counts
    assert [r["share_of_views"] for r in steps] == [c / counts[0] for c in counts]
    source = [r for r in _source_funnel(processed) if FROM <= r["day"] <= TO]
    assert counts == [sum(r[c] for r in source) for c in ("sessions_with_view", "sessions_with_cart", "orders")]
    assert counts[0] > counts[1] > 0 and counts[2] > 0


def test_inventory_and_low_stock_equal_the_marts_and_the_source(processed: Shop) -> None:
    stock = processed.visual("inventory", "stock_by_category")["rows"]
    expected = {slug: (_int(units), count) for slug, units, count in processed.rows(
        "SELECT c.slug, SUM(CASE WHEN p.is_active THEN p.stock ELSE 0 END), "
        "SUM(CASE WHEN p.is_active THEN 1 ELSE 0 END) FROM categories c LEFT JOIN products p "
        "ON p.category_id = c.id GROUP BY c.slug")}
    assert {r["category_slug"]: (r["stock_units"], r["active_products"]) for r in stock} == expected
    everywhere = processed.visual("inventory", "low_stock")["rows"]
    assert {r["product_id"] for r in everywhere} == {
        r["product_id"] for r in processed.mart("mart_inventory") if r["low_stock"]}
    assert everywhere == _source_low_stock(processed, None)
    # Filtered by the category of the most urgent product: a category the filter must narrow to, not an empty one.
    category_id, slug, name = processed.rows(
        "SELECT c.id, c.slug, c.name FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = :p",
        p=everywhere[0]["product_id"])[0]
    low = processed.visual("inventory", "low_stock", category=slug)["rows"]
    mart = {r["product_id"] for r in processed.mart("mart_inventory") if r["low_stock"] and r["category_name"] == name}
    assert {r["product_id"] for r in low} == mart
    assert low == _source_low_stock(processed, category_id)
    assert 0 < len(low) < len(everywhere) < 200


def test_csv_downloads_carry_the_same_rows(processed: Shop) -> None:
    path = "/api/analytics/dashboards/sales/visuals/revenue_by_category"
    params = {"from": FROM, "to": TO}
    data = processed.visual("sales", "revenue_by_category", **params)
    r = processed.admin.request("GET", path, params=params | {"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="sales-revenue_by_category.csv"'
    lines = r.text.splitlines()
    assert lines[0] == ",".join(c["name"] for c in data["columns"])
    assert len(lines) == 1 + len(data["rows"])
    assert lines[1].split(",")[2] == str(data["rows"][0]["revenue_cents"])


def test_bad_filters_are_problems_naming_the_parameter(processed: Shop) -> None:
    path = "/api/analytics/dashboards/sales/visuals/kpis"
    assert _problem_field(processed, path, **{"from": "2026-13-01"}) == "from"
    assert _problem_field(processed, path, **{"from": "yesterday"}) == "from"
    assert _problem_field(processed, path, to="2026-02-30") == "to"
    assert _problem_field(processed, path, **{"from": "2026-02-01", "to": "2026-01-01"}) == "to"
    assert _problem_field(processed, path, category="no-such-category") == "category"
    assert _problem_field(processed, path, category="Not A Slug!") == "category"
    assert _problem_field(processed, "/api/analytics/datasets/top_products", category="nope") == "category"
    assert _problem_field(processed, path, format="xml") == "format"
    for missing in ("/api/analytics/dashboards/nope", "/api/analytics/dashboards/sales/visuals/nope",
                    "/api/analytics/datasets/nope"):
        r = processed.admin.request("GET", missing)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", missing


def test_results_are_cached_until_the_pipeline_commits_new_marts(processed: Shop) -> None:
    category_id, slug, _ = _category(processed)
    params = {"from": "2025-12-02", "to": TO, "category": slug}  # asked for by no other test
    first = processed.visual("sales", "kpis", **params)
    again = processed.visual("sales", "kpis", **params)
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["rows"] == first["rows"]
    product, price = processed.rows("SELECT id, price_cents FROM products WHERE category_id = :c AND is_active "
                                    "ORDER BY id LIMIT 1", c=category_id)[0]
    customer = processed.rows("SELECT id FROM customers WHERE email = 'analyst1@example.com'")[0][0]
    now = datetime.now(UTC)
    placed = datetime(2026, 1, 10, 12, tzinfo=UTC)
    with processed.engine.begin() as conn:
        order = conn.execute(t.orders.insert().values(
            customer_id=customer, status="placed", total_cents=2 * price, item_count=2, placed_at=placed,
            created_at=now, updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(t.order_lines.insert().values(
            order_id=order, product_id=product, quantity=2, unit_price_cents=price, line_total_cents=2 * price,
            created_at=now, updated_at=now))
    unchanged = processed.visual("sales", "kpis", **params)
    assert unchanged["cached"] is True  # the database changed, the lake did not
    processed.pipeline()
    after = processed.visual("sales", "kpis", **params)
    assert after["cached"] is False
    assert after["run_id"] != first["run_id"] and after["as_of"] > first["as_of"]
    values = {row["metric"]: row["value"] for row in after["rows"]}
    old = {row["metric"]: row["value"] for row in first["rows"]}
    assert values["revenue"] == old["revenue"] + 2 * price
    assert values["orders"] == old["orders"] + 1
    assert values["customers"] == old["customers"] + 1  # a customer who had never ordered
    assert values == _source_kpis(processed, "2025-12-02", TO, category_id)
    assert processed.visual("sales", "kpis", **params)["cached"] is True


def test_concurrent_requests_for_one_uncached_result_run_its_query_once(processed: Shop) -> None:
    params = {"from": "2025-11-03", "to": "2026-02-03"}  # asked for by no other test
    path = "/api/analytics/dashboards/sales/visuals/revenue_over_time"
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: processed.admin.request("GET", path, params=params), range(32)))
    assert all(r.status_code == 200 for r in answers)
    bodies = [r.json() for r in answers]
    assert sum(not b["cached"] for b in bodies) == 1
    assert all(b["rows"] == bodies[0]["rows"] for b in bodies)
    assert len(bodies[0]["rows"]) == 93
