"""The dashboards in a real Chromium (Debian's), through the public load balancer of a `lakefront up` stack.

Demo data, one `lakefront pipeline` run, then an admin opens every dashboard. The numbers on the page are
checked against SQL run on the source database (not the lake), so a mistake anywhere between the store
and the browser shows up as a difference, to the cent.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack, start_stack
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, wait_until, watch

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DASHBOARDS = ("sales", "customers", "funnel", "inventory")
SHOTS = ARTIFACTS / "dashboards"
RENDERED = "document.body.dataset.rendered === '1'"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # No schedule: the test runs the pipeline once itself, so the lake cannot change under it.
    stack = start_stack(tmp_path_factory.mktemp("dashboards"), LAKEFRONT_EXTRACT__INTERVAL_S="0",
                        LAKEFRONT_DEMO__SCALE="0.02")
    try:
        done = stack.lakefront("pipeline", timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        yield stack
    finally:
        stack.stop()


class Source:
    """Independent figures: SQL on the store's own database."""

    def __init__(self, stack: Stack) -> None:
        self.path = stack.var_dir / "db" / "lakefront.sqlite3"

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, params).fetchall()

    def last_day(self) -> date:
        return date.fromisoformat(self.rows(
            "SELECT MAX(DATE(placed_at)) FROM orders WHERE status <> 'cancelled'")[0][0])

    def sales(self, start: date, end: date, category: str | None = None) -> tuple[int, int]:
        """(revenue in cents, orders): whole orders without a category, that category's lines with one."""
        if category is None:
            revenue, orders = self.rows(
                "SELECT COALESCE(SUM(total_cents), 0), COUNT(*) FROM orders WHERE status <> 'cancelled' "
                "AND DATE(placed_at) BETWEEN ? AND ?", start.isoformat(), end.isoformat())[0]
        else:
            revenue, orders = self.rows(
                "SELECT COALESCE(SUM(l.line_total_cents), 0), COUNT(DISTINCT o.id) FROM order_lines l "
                "JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id "
                "JOIN categories c ON c.id = p.category_id WHERE o.status <> 'cancelled' AND c.slug = ? "
                "AND DATE(o.placed_at) BETWEEN ? AND ?", category, start.isoformat(), end.isoformat())[0]
        return int(revenue), int(orders)

    def categories_by_revenue(self) -> list[tuple[str, str]]:
        """(slug, name) of the categories that sold something, best first."""
        return [(slug, name) for slug, name, _ in self.rows(
            "SELECT c.slug, c.name, SUM(l.line_total_cents) AS revenue FROM order_lines l "
            "JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id "
            "JOIN categories c ON c.id = p.category_id WHERE o.status <> 'cancelled' "
            "GROUP BY c.slug, c.name ORDER BY revenue DESC")]

    def products_sold(self, category: str) -> set[str]:
        return {name for (name,) in self.rows(
            "SELECT DISTINCT p.name FROM order_lines l JOIN orders o ON o.id = l.order_id "
            "JOIN products p ON p.id = l.product_id JOIN categories c ON c.id = p.category_id "
            "WHERE o.status <> 'cancelled' AND c.slug = ?", category)}


@pytest.fixture(scope="module")
def source(shop: Stack) -> Source:
    return Source(shop)


@pytest.fixture(scope="module")
def tab(shop: Stack) -> Iterator[Any]:
    """A Chromium tab signed in as the demo admin; it records every URL the pages load."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/ensure-debian-packages (make test does)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.loaded = []  # type: ignore[attr-defined]
        page.on("request", lambda request: page.loaded.append(request.url))
        # Under the Content-Security-Policy, ECharts included: any violation or console error fails.
        page.problems = watch(page)  # type: ignore[attr-defined]
        try:
            page.goto(f"{shop.public_url}/signin")
            page.fill("input[name=email]", "admin@lakefront.local")
            page.fill("input[name=password]", "lakefront-admin")
            page.click("form[action='/signin'] button[type=submit]")
            page.wait_for_load_state()
            yield page
            assert page.problems == [], "the dashboards broke their Content-Security-Policy or logged errors"
        finally:
            context.close()
            browser.close()


def open_dashboard(page: Any, stack: Stack, path: str) -> None:
    page.goto(f"{stack.public_url}{path}")
    wait_until(page, RENDERED)


def redrawn(page: Any, action: Any) -> None:
    """Do something that changes the filters, and wait until every visual has drawn again."""
    before = int(page.evaluate("Number(document.body.dataset.renderCount || 0)"))
    action()
    wait_until(page, f"Number(document.body.dataset.renderCount) > {before} && {RENDERED}")


def kpi(page: Any, metric: str) -> int:
    card = page.locator(f"[data-visual=kpis] [data-metric={metric}]")
    return int(card.get_attribute("data-value"))


def kpi_previous(page: Any, metric: str) -> int:
    return int(page.locator(f"[data-visual=kpis] [data-metric={metric}]").get_attribute("data-previous"))


def test_every_dashboard_draws_with_the_data_date_and_nothing_from_outside(shop: Stack, tab: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.goto(f"{shop.public_url}/dashboards")
    assert [tab.locator("[data-dashboard]").nth(i).get_attribute("data-dashboard")
            for i in range(tab.locator("[data-dashboard]").count())] == list(DASHBOARDS)
    for dashboard in DASHBOARDS:
        open_dashboard(tab, shop, f"/dashboards/{dashboard}")
        assert tab.locator(".as-of time").inner_text().endswith(" UTC")
        assert tab.locator("[data-error]").count() == 0, tab.locator("[data-error]").first.inner_text()
        sections = tab.locator("[data-visual]")
        assert sections.count() >= 2
        for i in range(sections.count()):
            section = sections.nth(i)
            kind, rows = section.get_attribute("data-type"), int(section.get_attribute("data-rows") or -1)
            name = f"{dashboard}/{section.get_attribute('data-visual')}"
            if kind == "table" and rows == 0:
                # A list can be empty with good data (nothing low on stock today); it must say so.
                assert section.locator(".empty").inner_text() == "No data for these filters.", name
                continue
            assert rows > 0, f"{name} drew no rows"
            if kind in ("line", "bar", "heatmap"):
                assert section.locator(".chart canvas").count() >= 1
            elif kind == "table":
                assert section.locator("tbody tr").count() == rows
            else:
                assert section.locator(".kpi").count() == rows
        # The URL now carries the filters the page shows, so a copied link reproduces the view.
        if tab.locator("input[name=from]").count():
            assert f"from={tab.input_value('input[name=from]')}" in tab.url
        tab.screenshot(path=str(SHOTS / f"{dashboard}.png"), full_page=True)
    outside = [url for url in tab.loaded if not url.startswith(shop.public_url)]
    assert outside == []
    assert tab.problems == []


def test_sales_figures_match_the_source_and_follow_the_date_range_and_category(
    shop: Stack, tab: Any, source: Source
) -> None:
    last = source.last_day()
    start = last - timedelta(days=29)
    open_dashboard(tab, shop, "/dashboards/sales")
    assert (tab.input_value("input[name=from]"), tab.input_value("input[name=to]")) == (
        start.isoformat(), last.isoformat())
    assert (kpi(tab, "revenue"), kpi(tab, "orders")) == source.sales(start, last)
    before = source.sales(start - timedelta(days=30), start - timedelta(days=1))
    assert (kpi_previous(tab, "revenue"), kpi_previous(tab, "orders")) == before

    # The 30 days before: first the start moves back, then the end.
    new_start, new_end = start - timedelta(days=30), start - timedelta(days=1)
    redrawn(tab, lambda: tab.fill("input[name=from]", new_start.isoformat()))
    assert (kpi(tab, "revenue"), kpi(tab, "orders")) == source.sales(new_start, last)
    redrawn(tab, lambda: tab.fill("input[name=to]", new_end.isoformat()))
    expected = source.sales(new_start, new_end)
    assert (kpi(tab, "revenue"), kpi(tab, "orders")) == expected
    assert f"from={new_start.isoformat()}&to={new_end.isoformat()}" in tab.url
    shown = tab.locator("[data-visual=kpis] [data-metric=revenue] .kpi-value").inner_text()
    assert shown == f"${expected[0] // 100:,}.{expected[0] % 100:02d}"

    slug = source.categories_by_revenue()[0][0]
    redrawn(tab, lambda: tab.select_option("select[name=category]", slug))
    expected_in_category = source.sales(new_start, new_end, slug)
    assert (kpi(tab, "revenue"), kpi(tab, "orders")) == expected_in_category
    assert expected_in_category[0] < expected[0]
    assert f"category={slug}" in tab.url

    # The URL alone reproduces the view.
    url = tab.url
    open_dashboard(tab, shop, url.removeprefix(shop.public_url))
    assert (kpi(tab, "revenue"), kpi(tab, "orders")) == expected_in_category
    assert tab.input_value("select[name=category]") == slug


def click_bar(page: Any, visual: str, label: str) -> None:
    """A real mouse click in the middle of the bar labelled `label` (a horizontal bar chart)."""
    chart = page.locator(f"[data-chart={visual}]")
    point = page.evaluate(
        """([visual, label]) => {
            const chart = echarts.getInstanceByDom(document.querySelector(`[data-chart=${visual}]`));
            const option = chart.getOption();
            const index = option.yAxis[0].data.indexOf(label);
            const value = option.series[0].data[index];
            return chart.convertToPixel({seriesIndex: 0}, [value / 2, label]);
        }""", [visual, label])
    box = chart.bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


def test_clicking_a_category_bar_drills_into_its_products_and_downloads_them(
    shop: Stack, tab: Any, source: Source, tmp_path: Path
) -> None:
    open_dashboard(tab, shop, "/dashboards/sales")
    names = tab.locator("[data-visual=top_products] td[data-col=category_name]").all_inner_texts()
    assert len(set(names)) > 1  # every category, before the drill-down
    slug, name = source.categories_by_revenue()[1]
    redrawn(tab, lambda: click_bar(tab, "revenue_by_category", name))
    assert f"category={slug}" in tab.url
    assert tab.input_value("select[name=category]") == slug
    products = tab.locator("[data-visual=top_products] td[data-col=product_name]").all_inner_texts()
    assert products and set(products) <= source.products_sold(slug)
    assert set(tab.locator("[data-visual=top_products] td[data-col=category_name]").all_inner_texts()) == {name}

    link = tab.locator("[data-visual=top_products] [data-csv]")
    assert f"category={slug}" in (link.get_attribute("href") or "")
    with tab.expect_download() as info:
        link.click()
    saved = tmp_path / "top_products.csv"
    info.value.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["product_name"] for row in rows] == products
    assert {row["category_name"] for row in rows} == {name}


def test_a_chart_tooltip_draws_its_colour_swatches_under_the_policy(shop: Stack, tab: Any) -> None:
    open_dashboard(tab, shop, "/dashboards/sales")
    chart = tab.locator("[data-chart=revenue_over_time]")
    box = chart.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    swatch = chart.locator(".swatch").first
    swatch.wait_for()
    # The class gives the colour: a style attribute (what ECharts' own marker is) would be refused.
    assert tab.evaluate("el => getComputedStyle(el).backgroundColor", swatch.element_handle()) == "rgb(11, 110, 153)"
    assert tab.problems == []
