"""Browsing the shop through a real web instance in front of a real app instance."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from webstack import Browser, Stack, api_admin_token, api_create_product, running_stack, wait_for

KETTLES = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-browse"), [("kitchen", "Kitchen"), ("garden", "Garden")]) as s:
        token = api_admin_token(s)
        kitchen, garden = 1, 2
        for i in range(1, KETTLES + 1):
            # Prices deliberately out of name order, so sorting by price and by name differ.
            api_create_product(s, token, sku=f"KET-{i:02d}", name=f"Kettle {i:02d}", category_id=kitchen,
                               price_cents=(KETTLES + 1 - i) * 100 + 34)
        api_create_product(s, token, sku="GAR-HOSE", name="Garden Hose", category_id=garden, price_cents=1234,
                           stock=5, description="Twenty metres of green hose.")
        api_create_product(s, token, sku="GAR-RAKE", name="Rake", category_id=garden, price_cents=999, stock=0)
        yield s


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    b = Browser(stack.web_url)
    yield b
    b.close()


def names(html: str) -> list[str]:
    return re.findall(r'<span class="name">([^<]+)</span>', html)


def product_id(stack: Stack, sku: str) -> int:
    return stack.count("SELECT id FROM products WHERE sku = ?", sku)


def test_healthz_reports_this_web_instance(browser: Browser) -> None:
    response = browser.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "tier": "web", "instance": "web-1"}


def test_home_page_shows_categories_and_products(browser: Browser) -> None:
    response = browser.get("/")
    assert response.status_code == 200
    assert 'href="/c/kitchen"' in response.text and 'href="/c/garden"' in response.text
    assert "Garden Hose" in response.text
    stylesheet = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', response.text)
    assert stylesheet
    assert browser.get(stylesheet.group(1)).status_code == 200


def test_category_listing_shows_24_products_per_page(browser: Browser) -> None:
    first = browser.get("/c/kitchen")
    assert first.status_code == 200
    assert len(names(first.text)) == 24
    assert "30 products" in first.text
    assert 'rel="next"' in first.text
    second = browser.get("/c/kitchen", params={"page": 2})
    assert len(names(second.text)) == KETTLES - 24
    assert not set(names(first.text)) & set(names(second.text))
    assert 'rel="next"' not in second.text


def test_category_listing_sorts_by_price_and_name(browser: Browser) -> None:
    cheapest_first = names(browser.get("/c/kitchen", params={"sort": "price_asc"}).text)
    assert cheapest_first[0] == "Kettle 30"
    dearest_first = names(browser.get("/c/kitchen", params={"sort": "price_desc"}).text)
    assert dearest_first[0] == "Kettle 01"
    by_name = names(browser.get("/c/kitchen", params={"sort": "name"}).text)
    assert by_name == sorted(by_name)
    assert by_name[0] == "Kettle 01"
    # The pager keeps the chosen order.
    assert "sort=price_asc&amp;page=2" in browser.get("/c/kitchen", params={"sort": "price_asc"}).text


def test_unknown_category_shows_the_404_page(browser: Browser) -> None:
    response = browser.get("/c/no-such-thing")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Traceback" not in response.text


def test_search_finds_products_by_name(browser: Browser) -> None:
    response = browser.get("/search", params={"q": "hose"})
    assert response.status_code == 200
    assert names(response.text) == ["Garden Hose"]
    assert "No products match" in browser.get("/search", params={"q": "submarine"}).text


def test_product_page_shows_price_stock_and_add_to_cart_form(stack: Stack, browser: Browser) -> None:
    hose = product_id(stack, "GAR-HOSE")
    response = browser.get(f"/p/{hose}")
    assert response.status_code == 200
    assert "$12.34" in response.text
    assert "Only 5 left" in response.text
    assert "Twenty metres of green hose." in response.text
    assert f'action="/cart/items/{hose}/add"' in response.text
    assert 'name="csrf_token"' in response.text


def test_out_of_stock_product_has_no_add_to_cart_form(stack: Stack, browser: Browser) -> None:
    rake = product_id(stack, "GAR-RAKE")
    response = browser.get(f"/p/{rake}/rake")
    assert "Out of stock" in response.text
    assert "Add to cart" not in response.text


def test_missing_product_shows_the_404_page(browser: Browser) -> None:
    response = browser.get("/p/999999")
    assert response.status_code == 404
    assert "Page not found" in response.text


def _settled_last_event(stack: Stack) -> int:
    """The last event id once the views earlier tests made have landed: the web tier sends them in
    batches after up to web.page_view_flush_s (0.5 s), so they may still be on their way."""
    last = -1
    while (now := stack.count("SELECT COALESCE(MAX(id), 0) FROM events")) != last:
        last = now
        time.sleep(1.0)
    return last


def test_product_page_view_is_recorded_after_the_page_is_sent(stack: Stack, browser: Browser) -> None:
    hose = product_id(stack, "GAR-HOSE")
    last = _settled_last_event(stack)
    assert browser.get(f"/p/{hose}").status_code == 200
    assert browser.get(f"/p/{hose}").status_code == 200

    def recorded() -> bool:
        new = "SELECT COUNT(*) FROM events WHERE id > ? AND kind = 'page_view' AND product_id = ?"
        return stack.count(new, last, hose) == 2

    wait_for(recorded, "two page views recorded")
    # Both views came from one browser, so one analytics session.
    sessions = stack.count("SELECT COUNT(DISTINCT session_id) FROM events WHERE id > ?", last)
    assert sessions == 1


def test_each_request_is_logged_once_with_the_forwarded_request_id(stack: Stack, browser: Browser) -> None:
    rid = "rid0123456789abcdef"
    response = browser.get("/c/garden", headers={"X-Request-Id": rid})
    assert response.headers["x-request-id"] == rid

    def logged() -> bool:
        return f"rid={rid}" in stack.log_text("web") and f"rid={rid}" in stack.log_text("app")

    wait_for(logged, "request logged by both tiers")
    web_lines = [line for line in stack.log_text("web").splitlines() if f"rid={rid}" in line]
    assert len(web_lines) == 1
    assert re.search(rf" INFO request rid={rid} GET /c/garden 200 [0-9.]+ms$", web_lines[0])
    # The app tier saw the same id on both calls this page made (category and products).
    assert len([line for line in stack.log_text("app").splitlines() if f"rid={rid}" in line]) >= 2


def test_a_request_id_that_is_not_an_id_is_replaced(browser: Browser) -> None:
    response = browser.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
