"""What the browser is told and given, through a real web instance: security headers on every kind of
response, no caching of private pages, and a session cookie that hides the app tier's token."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from webstack import Browser, Stack, api_admin_token, api_create_product, browsing, running_stack, wait_for

from lakefront.web.security import CSP
from lakefront.web.sessions import COOKIE, SessionCodec

SECRET = "web-tests-secret-key-0123456789"  # what webstack gives the web instance
SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-security"), [("tools", "Tools")]) as s:
        assert s.env["LAKEFRONT_SECRET_KEY"] == SECRET
        token = api_admin_token(s, "seed-admin@example.com")
        product = api_create_product(s, token, sku="HAM-1", name="Claw Hammer", category_id=1, price_cents=1500)
        picture = io.BytesIO()
        Image.new("RGB", (64, 64), (10, 120, 200)).save(picture, format="PNG")
        with httpx.Client(base_url=s.app_url, timeout=30) as api:
            api.put(f"/api/admin/products/{product['id']}/image", headers={"Authorization": f"Bearer {token}"},
                    files={"image": ("hammer.png", picture.getvalue(), "image/png")}).raise_for_status()
        yield s


@pytest.fixture
def visitor(stack: Stack) -> Iterator[Browser]:
    with browsing(stack) as b:
        yield b


@pytest.fixture
def shopper(stack: Stack) -> Iterator[Browser]:
    with browsing(stack, f"shopper-{time.monotonic_ns()}@example.com", "Sam Shopper") as b:
        yield b


def image_path(visitor: Browser) -> str:
    found = re.search(r'<img src="(/media/[^"]+)"', visitor.get("/c/tools").text)
    assert found, "the category page shows no product image"
    return found.group(1)


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_policy_allows_only_this_site_and_no_inline_code() -> None:
    directives = dict(part.split(" ", 1) for part in CSP.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP


def test_every_kind_of_response_carries_the_security_headers(stack: Stack, visitor: Browser) -> None:
    home = visitor.get("/")
    stylesheet = re.search(r'href="(/static/site\.css\?v=\w+)"', home.text)
    assert stylesheet
    responses = {
        "page": home,
        "404 page": visitor.get("/p/424242"),
        "403 page": visitor.post("/signout", csrf=False),
        "redirect": visitor.get("/admin"),
        "static file": visitor.get(stylesheet.group(1)),
        "missing static file": visitor.get("/static/nope.css"),
        "image": visitor.get(image_path(visitor)),
        "health": visitor.get("/healthz"),
        "405": httpx.delete(f"{stack.web_url}/", timeout=30),
    }
    assert [name for name, r in responses.items() if r.status_code >= 500] == []
    assert responses["redirect"].status_code == 303 and responses["image"].status_code == 200
    for response in responses.values():
        assert_security_headers(response)


def test_pages_have_no_inline_script_or_style(visitor: Browser) -> None:
    for path in ("/", "/c/tools", "/p/1", "/signin", "/signup", "/search?q=hammer", "/p/424242"):
        html = visitor.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")", html), path
        assert "<style" not in html and " style=" not in html and not re.search(r" on[a-z]+=", html), path


@pytest.mark.parametrize("path", ["/signin", "/signup"])
def test_sign_in_and_sign_up_pages_are_never_stored(visitor: Browser, path: str) -> None:
    assert visitor.get(path).headers["cache-control"] == "no-store"


def test_private_pages_of_a_signed_in_customer_are_never_stored(shopper: Browser, visitor: Browser) -> None:
    for path in ("/cart", "/orders", "/", "/p/1", "/c/tools", "/p/424242"):
        response = shopper.get(path)
        assert response.status_code in (200, 404), path
        assert response.headers["cache-control"] == "no-store", path
    # Where the signed-out visitor is sent is private too: it names the page it came from.
    assert visitor.get("/orders").headers["cache-control"] == "no-store"


def test_public_pages_for_visitors_and_assets_keep_their_caching(visitor: Browser) -> None:
    assert "no-store" not in visitor.get("/p/1").headers.get("cache-control", "")
    image = visitor.get(image_path(visitor))
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert image.headers["content-type"] == "image/jpeg"
    versioned = re.search(r'href="(/static/site\.css\?v=\w+)"', visitor.get("/").text)
    assert versioned
    assert visitor.get(versioned.group(1)).headers["cache-control"] == "public, max-age=31536000, immutable"
    # Without the current version the browser must ask again: the file may have changed since.
    assert visitor.get("/static/site.css").headers["cache-control"] == "no-cache"
    assert visitor.get("/static/site.css?v=0ld").headers["cache-control"] == "no-cache"


# The session cookie


def cookie_of(browser: Browser) -> str:
    value = browser.http.cookies.get(COOKIE)
    assert value, "no session cookie"
    return value


def decodings(value: str) -> list[bytes]:
    """The cookie as bytes every way it could be read: as sent, as base64 (either alphabet) of the
    whole and of each dotted part (Starlette's signed format), and URL-unquoted."""
    from urllib.parse import unquote

    found = [value.encode(), unquote(value).encode()]
    for part in [value, *value.split(".")]:
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                found.append(decode(part + "=" * (-len(part) % 4)))
    return found


def token_hashes(stack: Stack, email: str) -> set[str]:
    with sqlite3.connect(stack.db_path) as db:
        rows = db.execute("SELECT t.token_hash FROM auth_tokens t JOIN customers c ON c.id = t.customer_id "
                          "WHERE c.email = ?", (email,)).fetchall()
    return {row[0] for row in rows}


def test_the_cookie_holds_the_token_in_no_decoding(stack: Stack) -> None:
    b = Browser(stack.web_url)
    email = "cookie-reader@example.com"
    b.signup(email, "Cookie Reader")
    hashes = token_hashes(stack, email)
    assert hashes
    value = cookie_of(b)
    csrf = b.get("/").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for data in decodings(value):
        text = data.decode("latin-1")
        # Any 43-character window could be the token (token_urlsafe(32)); none hashes to it.
        windows = {text[i:i + 43] for i in range(max(0, len(text) - 42))}
        assert not {hashlib.sha256(w.encode()).hexdigest() for w in windows} & hashes
        for visible in (csrf, "Cookie Reader", "token", "csrf"):
            assert visible not in text
    b.close()


def test_the_cookie_is_http_only_same_site_lax_and_no_longer_than_the_session(visitor: Browser) -> None:
    set_cookie = visitor.signup(f"attrs-{time.monotonic_ns()}@example.com", "A").headers["set-cookie"]
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes
    max_age = next(int(a.split("=", 1)[1]) for a in attributes if a.startswith("max-age="))
    assert SEVEN_DAYS - 60 < max_age <= SEVEN_DAYS


@pytest.mark.parametrize(("headers", "secure"), [
    ({"X-Forwarded-Proto": "https"}, True),
    ({"X-Forwarded-Proto": "http"}, False),
    ({}, False),
])
def test_the_cookie_is_secure_when_the_browser_reached_the_balancer_over_tls(
    stack: Stack, headers: dict[str, str], secure: bool
) -> None:
    b = Browser(stack.web_url)
    b.http.headers.update(headers)
    set_cookie = b.get("/signin").headers["set-cookie"]
    assert ("; secure" in set_cookie.lower()) is secure
    b.close()


def test_the_cookie_is_written_only_when_the_session_changes(stack: Stack) -> None:
    b = Browser(stack.web_url)
    # A page without a form leaves a first-time visitor's session empty: nothing to seal, no cookie.
    assert "set-cookie" not in b.get("/").headers
    assert "set-cookie" in b.get("/signin").headers  # the first form makes the form token
    assert "set-cookie" not in b.get("/signin").headers
    assert "set-cookie" not in b.get("/c/tools").headers
    b.signup(f"quiet-{time.monotonic_ns()}@example.com", "Quiet")
    for path in ("/", "/cart", "/orders", "/c/tools"):
        assert "set-cookie" not in b.get(path).headers, path
    b.close()


def signed_in(browser: Browser) -> bool:
    response = browser.get("/orders")
    return response.status_code == 200


@pytest.mark.parametrize("damage", ["tampered", "truncated", "other secret", "expired", "old signed format",
                                    "garbage"])
def test_a_damaged_cookie_is_no_session_and_is_cleared(stack: Stack, damage: str) -> None:
    b = Browser(stack.web_url)
    b.signup(f"damaged-{time.monotonic_ns()}@example.com", "Damaged")
    assert signed_in(b)
    value = cookie_of(b)
    now = int(time.time())
    session = {"token": "x" * 43, "name": "Mallory", "is_admin": True, "csrf": "c"}
    replacement = {
        "tampered": value[:20] + ("A" if value[20] != "A" else "B") + value[21:],
        "truncated": value[: len(value) // 2],
        "other secret": SessionCodec("another secret entirely", SEVEN_DAYS).seal(session, now),
        "expired": SessionCodec(SECRET, SEVEN_DAYS).seal(session, now - SEVEN_DAYS - 1),
        "old signed format": base64.b64encode(b'{"token": "abc", "name": "X"}').decode() + ".ZxYw.c2lnbmF0dXJl",
        "garbage": "%00%0a<script>",
    }[damage]
    b.http.cookies.clear()
    b.http.cookies.set(COOKIE, replacement, domain="127.0.0.1")
    response = b.get("/orders")
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    cleared = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert cleared and "max-age=0" in cleared[0].lower()
    wait_for(lambda: "session cookie refused" in stack.log_text("web"), "the refusal's log line")
    b.close()


def test_a_form_token_from_another_session_is_refused(stack: Stack, shopper: Browser) -> None:
    other = Browser(stack.web_url)
    other.get("/")
    shopper.get("/")
    refused = shopper.post("/signout", {"csrf_token": other.last_csrf}, csrf=False)
    assert refused.status_code == 403
    assert signed_in(shopper)
    assert shopper.post("/signout").status_code == 303
    assert not signed_in(shopper)
    other.close()


def test_the_500_page_carries_the_security_headers_too(tmp_path: Path) -> None:
    # In process, with a route that fails: the error handler answers outside the middleware list,
    # which is why the headers are added around the whole application.
    from starlette.routing import Route

    from lakefront.settings import Settings
    from lakefront.web.app import create_app

    async def broken(request: object) -> None:
        raise RuntimeError("boom")

    app = create_app(Settings(var_dir=tmp_path, secret_key=SECRET), "web-test")
    app.router.routes.insert(0, Route("/broken", broken))
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as client:
            return await client.get("/broken")

    response = asyncio.run(get())
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert_security_headers(response)
