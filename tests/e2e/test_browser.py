"""A customer buys a product in a real Chromium (Debian's), through the public load balancer."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(os.environ.get("LAKEFRONT_TEST_ARTIFACTS", "test-artifacts"))


# Registered before any page script runs (Playwright injects it outside the page's CSP): every
# violation of the Content-Security-Policy is reported to the test.
REPORT_VIOLATIONS = """
window.__violations = 0;
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations += 1;
  window.reportViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
                         + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


def wait_until(tab, expression: str, arg: object = None, timeout_ms: float = 20_000) -> None:
    """Poll a JavaScript expression until it is truthy. Not page.wait_for_function: that evaluates its
    predicate with eval() inside the page, which the Content-Security-Policy (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not tab.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true in the page: {expression}")
        tab.wait_for_timeout(50)


def watch(tab) -> list[str]:
    """Collect the tab's problems: CSP violations, console errors, uncaught exceptions. An empty list is a pass."""
    problems: list[str] = []
    tab.expose_function("reportViolation", lambda text: problems.append(f"CSP: {text}"))
    tab.add_init_script(REPORT_VIOLATIONS)
    tab.on("console", lambda message: problems.append(f"console: {message.text} ({message.location.get('url')})")
           if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/ensure-debian-packages (make test does)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        tab.problems = watch(tab)
        try:
            yield tab
            assert tab.problems == [], "the pages broke their Content-Security-Policy or logged errors"
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


def test_the_browser_enforces_the_policy_so_injected_inline_code_does_not_run(stack, page) -> None:
    page.goto(f"{stack.public_url}/search?q=kettle")
    ran = page.evaluate("""() => {
        window.injected = false;
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
        const styled = document.createElement("p");
        styled.setAttribute("style", "color: rgb(1, 2, 3)");
        document.body.appendChild(styled);
        return [window.injected, getComputedStyle(styled).color];
    }""")
    assert ran[0] is False and ran[1] != "rgb(1, 2, 3)"
    wait_until(page, "window.__violations >= 2")
    wait_until(page, "() => new Promise((done) => setTimeout(() => done(true), 100))")  # reports in flight
    blocked = [p for p in page.problems if p.startswith("CSP: ")]
    assert any("script-src" in p for p in blocked) and any("style-src" in p for p in blocked), page.problems
    page.problems.clear()  # the violations were the point; the fixture checks for any others
