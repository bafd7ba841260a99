"""Dashboards through the web tier, without a browser: access rules, the empty lake, the data and CSV proxies.

Two real stacks (an app and a web instance each): one whose lake is empty, one with demo data that
`lakefront pipeline` has processed. The browser side (charts, filters, drill-down) is
tests/e2e/test_dashboards_browser.py.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from webstack import BIN, Browser, Stack

from lakefront.web.routes.dashboards import format_change, format_metric

DASHBOARDS = ("sales", "customers", "funnel", "inventory")
ADMIN = ("admin@lakefront.local", "lakefront-admin")
CUSTOMER = ("customer@lakefront.local", "lakefront-demo")
UNTIL = "2026-03-01"


def _cli(stack: Stack, *args: str) -> None:
    done = subprocess.run([str(BIN), *args], env=stack.env, cwd=stack.var_dir, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"lakefront {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def _started(var_dir: Path, *, pipeline: bool) -> Stack:
    stack = Stack(var_dir)
    try:
        # Demo data (with its admin and customer accounts); the lake stays empty unless the pipeline runs.
        _cli(stack, "seed", "--scale", "0.01", "--seed", "11", "--until", UNTIL)
        if pipeline:
            _cli(stack, "pipeline")
        stack.start_app()
        stack.start_web()
    except BaseException:
        stack.stop_all()
        raise
    return stack


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = _started(tmp_path_factory.mktemp("dash-empty"), pipeline=False)
    yield stack
    stack.stop_all()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = _started(tmp_path_factory.mktemp("dash-loaded"), pipeline=True)
    yield stack
    stack.stop_all()


def signed_in(stack: Stack, who: tuple[str, str]) -> Browser:
    browser = Browser(stack.web_url)
    browser.signin(*who)
    return browser


@pytest.fixture(scope="module")
def admin(loaded: Stack) -> Iterator[Browser]:
    browser = signed_in(loaded, ADMIN)
    yield browser
    browser.close()


def api_token(stack: Stack, who: tuple[str, str]) -> str:
    response = httpx.post(f"{stack.app_url}/api/auth/signin", json={"email": who[0], "password": who[1]},
                          timeout=30)
    response.raise_for_status()
    return str(response.json()["token"])


def data_paths(dashboard: str, visual: str) -> list[str]:
    return [f"/dashboards/{dashboard}/data/{visual}", f"/dashboards/{dashboard}/data/{visual}.csv"]


@pytest.mark.parametrize(("value", "kind", "text"), [
    (123456, "cents", "$1,234.56"), (-5, "cents", "-$0.05"), (1234567, "count", "1,234,567"),
    (0.125, "percent", "12.5%"), (12, "days", "12 days"), (None, "cents", "\u2014"),
    ("2026-03-01", "date", "2026-03-01"),
])
def test_values_are_formatted_for_people(value: object, kind: str, text: str) -> None:
    assert format_metric(value, kind) == text


def test_changes_carry_an_arrow_and_a_sign() -> None:
    assert format_change(12.34) == "\u25b2 +12.3%"
    assert format_change(-3.0) == "\u25bc -3.0%"


def test_signed_out_visitors_are_sent_to_sign_in_for_pages_and_data(empty: Stack) -> None:
    browser = Browser(empty.web_url)
    try:
        for path in ("/dashboards", "/dashboards/sales"):
            response = browser.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/signin?next={path}"
        for path in data_paths("sales", "kpis"):
            response = browser.get(path, params={"from": "2026-01-01"})
            assert response.status_code == 303
            # Back to the dashboard after signing in, not to a bare JSON or CSV answer.
            assert response.headers["location"] == "/signin?next=/dashboards/sales"
    finally:
        browser.close()


def test_customers_get_403_on_pages_data_and_csv(empty: Stack) -> None:
    browser = signed_in(empty, CUSTOMER)
    try:
        assert 'href="/dashboards"' not in browser.get("/").text
        for path in ("/dashboards", "/dashboards/sales"):
            response = browser.get(path)
            assert response.status_code == 403
            assert "Not allowed" in response.text
        for path in data_paths("sales", "kpis"):
            response = browser.get(path)
            assert response.status_code == 403
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == 403
    finally:
        browser.close()


def test_an_empty_lake_shows_how_to_fill_it_instead_of_an_error(empty: Stack) -> None:
    browser = signed_in(empty, ADMIN)
    try:
        assert 'href="/dashboards"' in browser.get("/").text  # the admin's navigation leads here
        listing = browser.get("/dashboards")
        assert listing.status_code == 200
        assert re.findall(r'data-dashboard="([a-z_]+)"', listing.text) == list(DASHBOARDS)
        for dashboard in DASHBOARDS:
            page = browser.get(f"/dashboards/{dashboard}")
            assert page.status_code == 200, page.text
            assert "No data yet" in page.text
            assert "<code>lakefront pipeline</code>" in page.text
            assert "No pipeline run yet" in page.text
            assert "echarts" not in page.text  # nothing to draw: no chart code either
    finally:
        browser.close()


def test_unknown_dashboards_and_visuals_are_404(admin: Browser) -> None:
    assert admin.get("/dashboards/nope").status_code == 404
    assert admin.get("/dashboards/sales/data/nope").status_code == 404
    # An id that could climb out of the API's path never reaches the app tier.
    assert admin.get("/dashboards/sales/data/%2E%2E").status_code == 404
    assert admin.get("/dashboards/sales/data/kpis%2E%2E").status_code == 404


def test_the_data_proxy_returns_the_app_tiers_json(loaded: Stack, admin: Browser) -> None:
    params = {"from": "2026-02-01", "to": "2026-02-28", "category": _first_category(loaded)}
    token = api_token(loaded, ADMIN)
    direct = httpx.get(f"{loaded.app_url}/api/analytics/dashboards/sales/visuals/revenue_over_time",
                       params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert direct.status_code == 200, direct.text
    proxied = admin.get("/dashboards/sales/data/revenue_over_time", params=params)
    assert proxied.status_code == 200
    assert proxied.headers["content-type"] == "application/json"
    assert proxied.headers["cache-control"] == "private, no-store"
    got, want = proxied.json(), direct.json()
    got.pop("cached", None), want.pop("cached", None)
    assert got == want
    assert [row["day"] for row in got["rows"]][:2] == ["2026-02-01", "2026-02-02"]
    assert len(got["rows"]) == 28


def test_bad_filters_come_back_as_a_problem_naming_the_field(admin: Browser) -> None:
    response = admin.get("/dashboards/sales/data/kpis", params={"from": "yesterday"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "from" in [error["field"] for error in response.json()["errors"]]


def test_the_csv_proxy_downloads_the_visuals_rows(loaded: Stack, admin: Browser) -> None:
    params = {"from": "2026-02-01", "to": "2026-02-28"}
    data = admin.get("/dashboards/sales/data/revenue_by_category", params=params).json()
    response = admin.get("/dashboards/sales/data/revenue_by_category.csv", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["category_slug"] for row in rows] == [row["category_slug"] for row in data["rows"]]
    assert [int(row["revenue_cents"]) for row in rows] == [row["revenue_cents"] for row in data["rows"]]
    february = loaded.count("SELECT SUM(total_cents) FROM orders WHERE status <> 'cancelled' "
                            "AND DATE(placed_at) BETWEEN '2026-02-01' AND '2026-02-28'")
    assert sum(int(row["revenue_cents"]) for row in rows) == february


def test_the_page_shows_the_data_date_the_url_filters_and_server_rendered_kpis(loaded: Stack, admin: Browser) -> None:
    page = admin.get("/dashboards/sales", params={"from": "2026-02-01", "to": "2026-02-14"})
    assert page.status_code == 200
    assert re.search(r"Data as of <time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", page.text)
    assert re.search(r'src="/static/vendor/echarts/echarts\.min\.js\?v=[0-9a-f]+"', page.text)
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from outside the site
    assert 'name="from" value="2026-02-01"' in page.text and 'name="to" value="2026-02-14"' in page.text
    revenue = loaded.count("SELECT SUM(total_cents) FROM orders WHERE status <> 'cancelled' "
                           "AND DATE(placed_at) BETWEEN '2026-02-01' AND '2026-02-14'")
    orders = loaded.count("SELECT COUNT(*) FROM orders WHERE status <> 'cancelled' "
                          "AND DATE(placed_at) BETWEEN '2026-02-01' AND '2026-02-14'")
    assert f'data-metric="revenue" data-value="{revenue}"' in page.text
    assert f'data-metric="orders" data-value="{orders}"' in page.text
    assert format_metric(revenue, "cents") in page.text
    # The CSV links carry the same filters, so a download is what the page shows.
    assert 'href="/dashboards/sales/data/kpis.csv?from=2026-02-01&amp;to=2026-02-14"' in page.text


def test_without_dates_in_the_url_the_page_opens_on_the_last_days_of_data(loaded: Stack, admin: Browser) -> None:
    last = date.fromisoformat(_last_order_day(loaded))
    page = admin.get("/dashboards/sales")
    start = date.fromordinal(last.toordinal() - 29)
    assert f'name="from" value="{start.isoformat()}"' in page.text
    assert f'name="to" value="{last.isoformat()}"' in page.text


def _first_category(stack: Stack) -> str:
    import sqlite3

    with sqlite3.connect(stack.db_path) as db:
        return str(db.execute("SELECT slug FROM categories ORDER BY id LIMIT 1").fetchone()[0])


def _last_order_day(stack: Stack) -> str:
    import sqlite3

    with sqlite3.connect(stack.db_path) as db:
        return str(db.execute("SELECT MAX(DATE(placed_at)) FROM orders WHERE status <> 'cancelled'").fetchone()[0])


def test_a_bad_date_in_the_url_is_pointed_out_and_the_default_used(admin: Browser) -> None:
    page = admin.get("/dashboards/sales", params={"from": "2026-13-40", "category": "no-such"})
    assert page.status_code == 200
    assert 'id="from-error">enter a date as YYYY-MM-DD' in page.text
    assert 'id="category-error">no such category' in page.text
