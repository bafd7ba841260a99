"""A customer buys a product in a real Chromium (Debian's), through the public load balancer."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(os.environ.get("LAKEFRONT_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/ensure-chromium (make test does)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def test_a_customer_buys_a_product(stack, page) -> None:
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{stack.public_url}/signup")
    page.fill("input[name=name]", "Browser Shopper")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "a-long-password")
    page.click("form[action='/signup'] button[type=submit]")
    page.wait_for_load_state()
    assert "Browser Shopper" in page.content() or email in page.content()

    # Browse like a person: a category from the navigation, then the first product that can be bought.
    page.goto(stack.public_url)
    page.locator("a[href^='/c/']").first.click()
    page.wait_for_load_state()
    product_links = page.locator("a[href^='/p/']")
    hrefs = list(dict.fromkeys(product_links.nth(i).get_attribute("href") for i in range(product_links.count())))
    assert hrefs, "the category page lists no products"
    for href in hrefs:
        page.goto(f"{stack.public_url}{href}")
        if page.locator("form.add button[type=submit]").count():
            break
    else:
        pytest.fail("no product in the first category is in stock")

    name = page.locator("h1").first.inner_text().strip()
    image = page.locator("img").first
    image.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", image.element_handle())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "product-page.png"), full_page=True)

    page.click("form.add button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{stack.public_url}/cart")
    assert name in page.content()
    page.goto(f"{stack.public_url}/checkout")
    page.click("form[action='/checkout'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/orders/\d+$"))

    assert name in page.content()
    order_path = page.url.split(stack.public_url, 1)[1]
    page.goto(f"{stack.public_url}/orders")
    assert page.locator(f"a[href='{order_path}']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "order-page.png"), full_page=True)
