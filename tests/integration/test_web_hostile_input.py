"""Paths an attacker types, through a real web instance in front of a real app instance: never a 500,
never a different app-tier URL than the one meant, never a forged log line."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from webstack import Browser, Stack, api_admin_token, api_create_product, browsing, running_stack, wait_for

from lakefront.logs import TRACEBACK_PREFIX

HUGE = "99999999999999999999"
JUST_OVER = str(2**63)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-hostile"), [("tools", "Tools")]) as s:
        token = api_admin_token(s, "seed-admin@example.com")
        api_create_product(s, token, sku="HAM-1", name="Claw Hammer", category_id=1, price_cents=1500)
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[Browser]:
    """An admin, so that admin and order pages get as far as their ids instead of a sign-in redirect."""
    with browsing(stack, "hostile-admin@example.com", "Hostile Admin", admin=True) as b:
        yield b


def fetch(stack: Stack, browser: Browser, path: str) -> httpx.Response:
    # A fresh connection per hostile request, so one answer cannot hide behind another's failure.
    return httpx.get(stack.web_url + path, cookies=browser.http.cookies, headers={"Connection": "close"},
                     timeout=30)


@pytest.mark.parametrize("path", [
    "/c/%00", "/c/%0a", "/c/tools%0d%0aX-Injected:%201", "/c/%1b%5b31m", "/c/a%c2%85b",
    "/media/x%00.jpg", "/media/products/%0a.jpg", "/static/%00", "/dashboards/%00", "/p/1%0a",
    f"/p/{HUGE}", f"/p/{JUST_OVER}", "/p/0", "/p/007", f"/p/{HUGE}/some-slug",
    f"/orders/{HUGE}", f"/orders/{JUST_OVER}", f"/admin/products/{HUGE}/edit", f"/admin/products/{JUST_OVER}/edit",
])
def test_a_hostile_path_is_the_404_page_never_a_500(stack: Stack, admin: Browser, path: str) -> None:
    response = fetch(stack, admin, path)
    assert response.status_code == 404, response.text[:300]
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text


def test_the_largest_id_still_reaches_the_app_tier_and_is_simply_not_found(stack: Stack, admin: Browser) -> None:
    largest = 2**63 - 1
    assert fetch(stack, admin, f"/p/{largest}").status_code == 404
    assert fetch(stack, admin, f"/admin/products/{largest}/edit").status_code == 404
    wait_for(lambda: f"GET /api/admin/products/{largest} 404" in stack.log_text("app"), "the app tier's answer")
    assert f"GET /api/products/{largest} 404" in stack.log_text("app")


@pytest.mark.parametrize("action", ["add", "", "remove"])
@pytest.mark.parametrize("product_id", [HUGE, JUST_OVER])
def test_cart_forms_for_an_id_beyond_64_bits_are_404(stack: Stack, admin: Browser, action: str,
                                                      product_id: str) -> None:
    admin.get("/")
    path = f"/cart/items/{product_id}" + (f"/{action}" if action else "")
    response = admin.post(path, {"quantity": "1"})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/c/tools%3F", "/c/tools%23top", "/c/tools%3Fsort=name", "/c/%2e%2e",
                                  "/c/.%2e", "/media/products/..%2f..%2fsecret_key"])
def test_a_slug_or_key_cannot_change_which_app_tier_url_is_asked(stack: Stack, admin: Browser, path: str) -> None:
    # Unencoded, "tools?" would have asked the app tier for the category "tools" and shown its page.
    response = fetch(stack, admin, path)
    assert response.status_code == 404
    assert "Claw Hammer" not in response.text


def test_a_real_category_and_product_still_work(stack: Stack, admin: Browser) -> None:
    assert "Claw Hammer" in fetch(stack, admin, "/c/tools").text
    assert fetch(stack, admin, "/p/1").status_code == 200


def web_lines(stack: Stack) -> list[str]:
    return stack.log_text("web").splitlines()


def test_a_newline_in_the_path_leaves_one_log_line_with_the_escape_visible(stack: Stack) -> None:
    rid = uuid.uuid4().hex
    response = httpx.get(f"{stack.web_url}/x%0aFORGED%20line", headers={"X-Request-Id": rid}, timeout=30)
    assert response.status_code == 404

    def logged() -> bool:
        return any(rid in line for line in web_lines(stack))

    wait_for(logged, "the request line")
    lines = web_lines(stack)
    mine = [line for line in lines if rid in line]
    assert len(mine) == 1
    assert re.search(r" web-1 INFO request rid=\w+ GET /x\\nFORGED line 404 ", mine[0])
    assert not any(line.startswith("FORGED") for line in lines)
    # Every line of the log is an event (timestamp, process) or a marked traceback line.
    event = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ [A-Z]+ ")
    assert all(event.match(line) or line.startswith(TRACEBACK_PREFIX) for line in lines), lines
