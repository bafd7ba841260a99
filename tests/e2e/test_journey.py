"""A customer's and an admin's journeys through the public load balancer, in each profile."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from support.web import IDEMPOTENCY, Browser

from .conftest import Stack

pytestmark = pytest.mark.e2e

_PRODUCT_LINK = re.compile(r'href="(/p/(\d+)[^"]*)"')


def _product_in_stock(browser: Browser, listing: str) -> tuple[str, int]:
    page = browser.get(listing)
    assert page.status_code == 200
    for path, product_id in dict.fromkeys(_PRODUCT_LINK.findall(page.text)):
        if "Add to cart" in browser.get(path).text:
            return path, int(product_id)
    raise AssertionError(f"nothing in stock on {listing}")


def test_browse_search_sign_up_buy_and_see_the_order(stack: Stack) -> None:
    browser = Browser(stack.public_url)
    try:
        home = browser.get("/")
        assert home.status_code == 200
        category = re.search(r'href="(/c/[^"?]+)"', home.text)
        assert category, "no category in the navigation"
        listing = browser.get(f"{category.group(1)}?sort=price_asc")
        prices = [int(p.replace(",", "").replace(".", "")) for p in re.findall(r"\$([\d,]+\.\d\d)", listing.text)]
        assert prices == sorted(prices) and prices

        path, product_id = _product_in_stock(browser, category.group(1))
        name = re.search(r"<h1>([^<]+)</h1>", browser.get(path).text).group(1).strip()  # type: ignore[union-attr]
        found = browser.get("/search", params={"q": name.split()[-1]})
        assert f"/p/{product_id}" in found.text

        email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        browser.signup(email, "End To End")
        added = browser.submit(path, f"/cart/items/{product_id}/add", {"quantity": "2"})
        assert added.status_code == 303
        assert name in browser.get("/cart").text

        checkout = browser.get("/checkout")
        key = IDEMPOTENCY.search(checkout.text).group(1)  # type: ignore[union-attr]
        placed = browser.post("/checkout", {"idempotency_key": key})
        assert placed.status_code == 303
        order_path = placed.headers["location"]
        assert re.fullmatch(r"/orders/\d+", order_path)
        order = browser.get(order_path)
        assert order.status_code == 200 and name in order.text
        assert order_path in browser.get("/orders").text
        # The same form posted again (a double click, a retry) is the same order, not a second one.
        again = browser.post("/checkout", {"idempotency_key": key})
        assert again.headers.get("location") in (order_path, "/cart")
        assert browser.get("/orders").text.count('href="/orders/') == 1
    finally:
        browser.close()


def _admin_token(stack: Stack) -> str:
    r = httpx.post(f"{stack.internal_url}/api/auth/signin",
                   json={"email": "admin@lakefront.local", "password": "lakefront-admin"}, timeout=30)
    r.raise_for_status()
    return str(r.json()["token"])


def _web_instances(stack: Stack) -> list[str]:
    return [f"http://127.0.0.1:{i['port']}" for i in stack.state()["instances"] if i["tier"] == "web"]


def test_after_an_admin_changes_a_price_no_page_on_any_instance_shows_the_old_one(stack: Stack) -> None:
    token = _admin_token(stack)
    auth = {"Authorization": f"Bearer {token}"}
    product = httpx.get(f"{stack.internal_url}/api/products?sort=popular&per_page=1", timeout=30).json()["items"][0]
    pid, category = product["id"], product["category_slug"]
    search = f"/search?{httpx.QueryParams(q=product['name'])}"
    pages = [f"/p/{pid}", f"/c/{category}", "/", search]
    webs = _web_instances(stack)
    assert len(webs) == 2
    for base in webs:  # warm every cache on the way: each instance, each page, twice
        for _ in range(2):
            for page in pages:
                assert httpx.get(base + page, timeout=30).status_code == 200

    new_price = product["price_cents"] + 1234
    r = httpx.patch(f"{stack.internal_url}/api/admin/products/{pid}", json={"price_cents": new_price},
                    headers=auth, timeout=30)
    assert r.status_code == 200

    shown_new = f"${new_price // 100:,}.{new_price % 100:02d}"
    shown_old = f"${product['price_cents'] // 100:,}.{product['price_cents'] % 100:02d}"
    for base in webs:  # each web instance directly, not through the balancer
        html = httpx.get(f"{base}/p/{pid}", timeout=30).text
        assert shown_new in html and shown_old not in html, base
        # The home page (most popular first), the category page and a search for its name: each lists
        # the product's card, once, at the new price.
        for listing in ("/", f"/c/{category}", search):
            assert _card_prices(httpx.get(base + listing, timeout=30).text, pid) == [shown_new], base + listing


def _card_prices(html: str, pid: int) -> list[str]:
    """The prices shown on the product cards of `pid` in a listing page."""
    card = re.compile(rf'<li class="card">\s*<a href="/p/{pid}/[^"]*">.*?<span class="price">([^<]+)</span>', re.S)
    return [price.strip() for price in card.findall(html)]


def _log_lines(stack: Stack, name: str) -> list[str]:
    return (stack.var_dir / "log" / name).read_text().splitlines()


def test_the_request_id_set_by_the_load_balancer_travels_through_every_tier(stack: Stack) -> None:
    response = httpx.get(f"{stack.public_url}/search", params={"q": "mug"}, timeout=30)
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f-]{32,36}", rid)

    def seen() -> dict[str, list[Any]]:
        caddy = [json.loads(line) for line in _log_lines(stack, "caddy-access.log") if rid in line]
        web = [line for n in ("web-1.log", "web-2.log") for line in _log_lines(stack, n) if f"rid={rid}" in line]
        app = [line for n in ("app-1.log", "app-2.log") for line in _log_lines(stack, n) if f"rid={rid}" in line]
        return {"caddy": caddy, "web": web, "app": app}

    deadline = time.monotonic() + 10
    while not all(seen().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = seen()
    # One line per tier per request: the public listener and the internal one each log the hop they carried.
    assert {entry["request"]["uri"].split("?")[0] for entry in found["caddy"]} == {"/search", "/api/products"}
    assert len(found["web"]) == 1 and "GET /search 200" in found["web"][0]
    assert len(found["app"]) == 1 and "GET /api/products 200" in found["app"][0]
