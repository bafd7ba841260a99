"""Hostile input over every route of both tiers: never a 5xx, and the connection stays usable.

The routes come from the tiers themselves (the app tier's OpenAPI document, the web tier's route
table), so a route added later is attacked too. Every hostile request goes over one keep-alive
connection per tier, followed on that same connection by a legitimate request: a server that
answered and then dropped the connection without saying `Connection: close` fails here, because
the balancer would have sent the next shopper's request down it.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from webstack import Browser, Stack, api_admin_token, api_create_product, running_stack

from lakefront.settings import Settings
from lakefront.web.app import create_app as create_web
from support import Api, AppStack, app_stack

# Path segments as an attacker types them (already percent-encoded where it matters).
PATH_VALUES = [
    "99999999999999999999", "9223372036854775808", "-1", "0", "1e999", "%00", "x%00.jpg", "%0a",
    "%0d%0aSet-Cookie:%20x=1", "%ff%fe", "..%2f..%2fetc%2fpasswd", "%2e%2e", "a" * 3000, "%F0%9F%92%A9",
    "%25%32%35", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "'%20OR%201=1--",
]
# Extra values for `{key:path}` parameters: keys that exist elsewhere in the object store, and escapes.
KEY_VALUES = ["lake/raw/customers/dt=2026-01-01/x-part-00000.parquet", "lake/_manifests/raw/customers/1-x.json",
              "../../etc/passwd", "products/%00/x.jpg", "products//x.jpg", "demo/products/" + "x" * 600 + ".jpg"]
QUERY_VALUES = [
    "100000000000000000", "99999999999999999999", "-5", "0", "%00", "%0a%0d", "a" * 5000, "%ff", "9999-99-99",
    "2026-02-30", "//evil.example/", "%3Cscript%3E", "1e309", "NaN", "[]",
]
QUERY_NAMES = ["page", "per_page", "q", "category", "sort", "from", "to", "format", "next", "saved", "id"]
# Form fields any of the web tier's forms reads.
FORM_NAMES = ["email", "name", "password", "next", "quantity", "idempotency_key", "sku", "description",
              "category_id", "price", "stock", "is_active", "q"]
FORM_VALUES = ["\x00", "a\r\nb", "9" * 40, "-1", "1e999", "x" * 70_000, "\udcff".encode("utf-8", "surrogatepass")
               .decode("latin-1"), "<script>alert(1)</script>", "0.001", "NaN"]
HEADER_VARIANTS: list[dict[str, str]] = [
    {"Authorization": "Bearer " + "x" * 5000},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"Authorization": "Bearer"},
    {"X-Session-Id": "s" * 1000, "Idempotency-Key": "k" * 1000},
    {"X-Request-Id": "r" * 1000},
    {"Cookie": "lf_session=" + "A" * 4000},
    {"Cookie": "lf_session=eyJ0b2tlbiI6ICJ4In0=.forged.sig"},
    {"Content-Type": "application/json", "Content-Length": "0"},
]


@dataclass
class Probe:
    """One keep-alive connection to an instance; each hostile request is followed by a healthy one."""

    host: str
    port: int
    base_headers: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def close(self) -> None:
        self.conn.close()

    def _exchange(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def attack(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        self.sent += 1
        what = f"{method} {path[:120]} {(body or b'')[:80]!r} {sorted((headers or {}).keys())}"
        try:
            status, content = self._exchange(method, path, body, {**self.base_headers, **(headers or {})})
        except (http.client.HTTPException, OSError) as exc:
            self.failures.append(f"{what}: no answer ({type(exc).__name__}: {exc})")
            self.conn.close()  # start the next attack on a fresh connection
            return
        if status >= 500:
            self.failures.append(f"{what}: {status} {content[:200]!r}")
        try:
            # The same connection (http.client reconnects only if the answer said Connection: close).
            after, _ = self._exchange("GET", "/healthz", None, {})
        except (http.client.HTTPException, OSError) as exc:
            self.failures.append(f"{what}: the next request on the connection failed ({type(exc).__name__})")
            self.conn.close()
            return
        if after != 200:
            self.failures.append(f"{what}: the next request on the connection got {after}")


def fill(template: str, value: str) -> str:
    """A route path with every {param} (or {param:convertor}) replaced by one hostile value."""
    return re.sub(r"\{[^}]+\}", value, template)


def query(value: str) -> str:
    return "&".join(f"{name}={value}" for name in QUERY_NAMES)


# A valid value per body field the API declares, so that one hostile field at a time gets past the others.
VALID = {"email": "corpus@example.com", "password": "correct horse battery", "name": "Corpus", "kind": "page_view",
         "session_id": "s-1", "product_id": 1, "quantity": 1, "sku": "SKU-CORPUS", "description": "",
         "category_id": 1, "price_cents": 100, "stock": 1, "is_active": True}


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def hostile_values(schema: dict[str, Any]) -> list[Any]:
    """Values of the wrong size or kind for a body field, by its declared type."""
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    if kinds & {"integer", "number"}:
        return [10**20, -(10**20), 2**63, 2**63 - 1, 0, 1e308, "12", None, True]
    if "boolean" in kinds:
        return ["yes", 2, None]
    return ["\x00", "a" * 20_000, "\u202e\r\n", "", 123, ["x"], {"$ne": ""}, None]


def hostile_bodies(operation: dict[str, Any], components: dict[str, Any]) -> Iterator[tuple[bytes, dict[str, str]]]:
    as_json = {"Content-Type": "application/json"}
    yield b"", as_json
    yield b"{", as_json
    yield b"\xff\xfe\x00", as_json
    yield b"[" * 50_000 + b"]" * 50_000, as_json
    yield json.dumps({"x": "y" * (3 * 1024 * 1024)}).encode(), as_json
    yield b"null", as_json
    yield b'{"a": 1}', {"Content-Type": "text/plain"}
    yield b"--b\r\nContent-Disposition: form-data; name=image; filename=x\r\n\r\n\x89PNG\r\n--b--\r\n", {
        "Content-Type": "multipart/form-data; boundary=b"}
    yield b"--b\r\n" * 1000, {"Content-Type": "multipart/form-data; boundary=b"}
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    properties = resolve(schema, components).get("properties", {}) if schema else {}
    valid = {name: VALID.get(name, 1) for name in properties}
    for name, prop in properties.items():
        for value in hostile_values(resolve(prop, components)):
            yield json.dumps({**valid, name: value}).encode(), as_json


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[tuple[AppStack, str]]:
    """An app instance of each profile with one product, and an admin's token."""
    with app_stack(tmp_path_factory.mktemp("hostile-app"), profile_env=profile_env) as stack:
        category_id = stack.db.add_category("kitchen", "Kitchen")
        url = stack.instances[0].url
        Api(url).sign_up("hostile-boss@example.com")
        stack.db.make_admin("hostile-boss@example.com")
        admin = Api(url).sign_in("hostile-boss@example.com")
        created = admin.request("POST", "/api/admin/products", json={
            "sku": "KET-1", "name": "Kettle", "category_id": category_id, "price_cents": 1999, "stock": 5})
        assert created.status_code == 201, created.text
        yield stack, str(admin.token)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A web instance in front of an app instance (the web tier's behaviour does not depend on the profile)."""
    with running_stack(tmp_path_factory.mktemp("hostile-web"), [("kitchen", "Kitchen")]) as s:
        api_create_product(s, api_admin_token(s), sku="KET-1", name="Kettle", category_id=1, price_cents=1999)
        yield s


def app_operations(port: int) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, Any]]:
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    probe.request("GET", "/openapi.json")
    spec = json.loads(probe.getresponse().read())
    probe.close()
    operations = [(method.upper(), path, op) for path, item in spec["paths"].items()
                  for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")]
    return operations, spec.get("components", {}).get("schemas", {})


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_no_hostile_request_to_the_app_tier_gets_a_5xx_or_breaks_the_connection(
        app: tuple[AppStack, str], who: str) -> None:
    stack, token = app
    port = stack.instances[0].port
    operations, components = app_operations(port)
    assert len(operations) >= 20, "the OpenAPI document lists the routes under attack"
    probe = Probe("127.0.0.1", port, {"Authorization": f"Bearer {token}"} if who == "admin" else {})
    try:
        for method, template, operation in operations:
            has_params = "{" in template
            values = PATH_VALUES + (KEY_VALUES if "{key" in template else [])
            for value in values if has_params else []:
                probe.attack(method, fill(template, value), b"{}" if method in ("POST", "PUT", "PATCH") else None,
                             {"Content-Type": "application/json"})
            concrete = fill(template, "1")
            for value in QUERY_VALUES:
                probe.attack(method, f"{concrete}?{query(value)}")
            for headers in HEADER_VARIANTS:
                probe.attack(method, concrete, None, headers)
            if method in ("POST", "PUT", "PATCH"):
                for body, headers in hostile_bodies(operation, components):
                    probe.attack(method, concrete, body, headers)
    finally:
        probe.close()
    assert probe.sent > 900
    assert not probe.failures, f"{len(probe.failures)} of {probe.sent}:\n" + "\n".join(probe.failures[:40])
    log = stack.instances[0].log.read_text(errors="replace")
    assert "Traceback" not in log


def web_routes(stack: Stack) -> list[tuple[str, str]]:
    settings = Settings(var_dir=stack.var_dir, secret_key="hostile-input-routes")
    found: list[tuple[str, str]] = []
    for route in create_web(settings, "web-routes").routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or {"GET"}
        if not getattr(route, "endpoint", None) and hasattr(route, "routes"):  # a Mount: static files
            found.append(("GET", f"{path}/{{path}}"))
            continue
        found += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return found


def signed_in_admin(stack: Stack) -> tuple[str, str]:
    """The cookie header and a valid CSRF token of an admin's web session."""
    browser = Browser(stack.web_url)
    try:
        email = "hostile-admin@example.com"
        browser.signup(email, "Hostile Admin")
        stack.make_admin(email)
        browser.http.cookies.clear()  # sign in again: the session took is_admin from the first sign-in
        browser.signin(email)
        browser.get("/admin/products/new")
        cookies = "; ".join(f"{name}={value}" for name, value in browser.http.cookies.items())
        return cookies, browser.last_csrf
    finally:
        browser.close()


def form(value: str, csrf: str) -> bytes:
    fields = {name: value for name in FORM_NAMES}
    if csrf:
        fields["csrf_token"] = csrf
    return urlencode(fields, quote_via=quote).encode()


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_no_hostile_request_to_the_web_tier_gets_a_5xx_or_breaks_the_connection(stack: Stack, who: str) -> None:
    routes = web_routes(stack)
    assert len(routes) >= 20, "the web tier's route table lists the routes under attack"
    cookie, csrf = signed_in_admin(stack) if who == "admin" else ("", "")
    probe = Probe("127.0.0.1", stack.web_port, {"Cookie": cookie} if cookie else {})
    as_form = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        for method, template in routes:
            has_params = "{" in template
            values = PATH_VALUES + (KEY_VALUES if ":path}" in template or "{path}" in template else [])
            for value in values if has_params else []:
                probe.attack(method, fill(template, value), form("x", csrf) if method == "POST" else None,
                             as_form if method == "POST" else None)
            concrete = fill(template, "1")
            for value in QUERY_VALUES:
                probe.attack(method, f"{concrete}?{query(value)}")
            for headers in HEADER_VARIANTS:
                probe.attack(method, concrete, None, {k: v for k, v in headers.items() if k != "Cookie" or not cookie})
            if method == "POST":
                for value in FORM_VALUES:
                    probe.attack(method, concrete, form(value, csrf), as_form)
                    probe.attack(method, concrete, form(value, ""), as_form)
                probe.attack(method, concrete, b"\xff" * 100, as_form)
                probe.attack(method, concrete, b"--b\r\n" * 2000, {"Content-Type": "multipart/form-data; boundary=b"})
                probe.attack(method, concrete, b"x=1", {"Content-Type": "multipart/form-data"})
    finally:
        probe.close()
    assert probe.sent > 700
    assert not probe.failures, f"{len(probe.failures)} of {probe.sent}:\n" + "\n".join(probe.failures[:40])
    assert "Traceback" not in stack.log_text("web")
