"""The app tier's input bounds, body limit, headers and document, against real instances (both profiles).

Every value the database cannot hold or should never see is a 422 problem naming the field before any
SQL runs; every body past its limit is a 413 problem, whether Content-Length declares it or not.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from support import Api, app_stack

ID_MAX = 2**63 - 1  # BIGINT
JSON_LIMIT = 64 * 1024  # the app.max_json_body_bytes default
UPLOAD_LIMIT = 200_000  # media.max_upload_bytes for this stack, to keep the uploads small
UPLOAD_ROOM = UPLOAD_LIMIT + 64 * 1024  # plus the multipart overhead the upload route allows


@dataclass
class Shop:
    anonymous: Api
    customer: Api
    admin: Api
    product_id: int
    category_id: int
    db: Any = None

    def as_(self, who: str) -> Api:
        return {"anonymous": self.anonymous, "customer": self.customer, "admin": self.admin}[who]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[Shop]:
    env = profile_env | {"LAKEFRONT_MEDIA__MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with app_stack(tmp_path_factory.mktemp("contract"), profile_env=env) as app:
        url = app.instances[0].url
        category_id = app.db.add_category("kitchen", "Kitchen")
        Api(url).sign_up("boss@example.com")
        app.db.make_admin("boss@example.com")
        admin = Api(url).sign_in("boss@example.com")
        r = admin.request("POST", "/api/admin/products", json={
            "sku": "MUG-1", "name": "Mug", "category_id": category_id, "price_cents": 900, "stock": 50})
        assert r.status_code == 201, r.text
        yield Shop(Api(url), Api(url).sign_up("shopper@example.com"), admin, r.json()["id"], category_id, app.db)


def _product(**changes: Any) -> dict[str, Any]:
    return {"sku": "NEW-1", "name": "New", "category_id": 1, "price_cents": 100, "stock": 1} | changes


def _assert_problem(r: httpx.Response, status: int, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body


# (who, method, path, json body, the field the problem must name); N is the out-of-range value.
INTEGERS = [
    ("anonymous", "GET", "/api/products/N", None, "product_id"),
    ("anonymous", "GET", "/api/products?page=N", None, "page"),
    ("anonymous", "GET", "/api/products?per_page=N", None, "per_page"),
    ("anonymous", "POST", "/api/events", {"kind": "page_view", "session_id": "s", "product_id": "N"}, "product_id"),
    ("customer", "GET", "/api/orders/N", None, "order_id"),
    ("customer", "PUT", "/api/cart/items/N", {"quantity": 1}, "product_id"),
    ("customer", "DELETE", "/api/cart/items/N", None, "product_id"),
    ("customer", "PUT", "/api/cart/items/PRODUCT", {"quantity": "N"}, "quantity"),
    ("admin", "GET", "/api/admin/products/N", None, "product_id"),
    ("admin", "GET", "/api/admin/products?page=N", None, "page"),
    ("admin", "PATCH", "/api/admin/products/N", {"stock": 1}, "product_id"),
    ("admin", "PATCH", "/api/admin/products/PRODUCT", {"category_id": "N"}, "category_id"),
    ("admin", "PATCH", "/api/admin/products/PRODUCT", {"price_cents": "N"}, "price_cents"),
    ("admin", "POST", "/api/admin/products", _product(category_id="N"), "category_id"),
    ("admin", "POST", "/api/admin/products", _product(stock="N"), "stock"),
]


def _fill(value: Any, n: int, product_id: int) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, n, product_id) for k, v in value.items()}
    if value == "N":
        return n
    if isinstance(value, str):
        return value.replace("PRODUCT", str(product_id)).replace("N", str(n))
    return value


@pytest.mark.parametrize("n", [ID_MAX + 1, 10**20, -1], ids=["bigint+1", "1e20", "negative"])
@pytest.mark.parametrize(("who", "method", "path", "body", "field"), INTEGERS,
                         ids=[f"{m} {p} {f}" for _, m, p, _, f in INTEGERS])
def test_integers_out_of_range_are_422_problems_naming_the_field(
        shop: Shop, who: str, method: str, path: str, body: dict[str, Any] | None, field: str, n: int) -> None:
    r = shop.as_(who).request(method, _fill(path, n, shop.product_id), json=_fill(body, n, shop.product_id))
    _assert_problem(r, 422, field)


def test_the_largest_bigint_is_a_valid_id_that_finds_nothing(shop: Shop) -> None:
    _assert_problem(shop.anonymous.request("GET", f"/api/products/{ID_MAX}"), 404)
    _assert_problem(shop.customer.request("GET", f"/api/orders/{ID_MAX}"), 404)
    _assert_problem(shop.admin.request("PATCH", f"/api/admin/products/{ID_MAX}", json={"stock": 1}), 404)
    assert shop.anonymous.request("POST", "/api/events", json={
        "kind": "page_view", "session_id": "s", "product_id": ID_MAX}).status_code == 204


def test_an_image_upload_for_an_out_of_range_id_is_refused_before_its_image_is_read(shop: Shop) -> None:
    r = shop.admin.request("PUT", f"/api/admin/products/{ID_MAX + 1}/image",
                           files={"image": ("a.png", _png(), "image/png")})
    _assert_problem(r, 422, "product_id")


STRINGS = [
    ("anonymous", "GET", "/api/categories/tea%00", None, "slug"),
    ("anonymous", "GET", "/api/categories/" + "a" * 81, None, "slug"),
    ("anonymous", "GET", "/api/products?category=tea%00", None, "category"),
    ("anonymous", "GET", "/api/products?q=tea%1b%5b2J", None, "q"),
    ("anonymous", "GET", "/api/products?q=" + "a" * 201, None, "q"),
    ("anonymous", "GET", "/api/media/products/a%00.jpg", None, "key"),
    ("anonymous", "GET", "/api/media/" + "a" * 201, None, "key"),
    ("anonymous", "POST", "/api/auth/signup",
     {"email": "nul\u0000@example.com", "name": "Nul", "password": "long-enough"}, "email"),
    ("anonymous", "POST", "/api/auth/signup",
     {"email": "bell@example.com", "name": "Bell\u0007", "password": "long-enough"}, "name"),
    ("anonymous", "POST", "/api/events", {"kind": "page_view", "session_id": "s\u0000"}, "session_id"),
    ("admin", "POST", "/api/admin/products", _product(name="Mug\u0000"), "name"),
    ("admin", "POST", "/api/admin/products", _product(sku="M\u001b[31m"), "sku"),
    ("admin", "POST", "/api/admin/products", _product(description="x" * 10_001), "description"),
    ("admin", "POST", "/api/admin/products", _product(description="bad\u0000"), "description"),
    ("admin", "GET", "/api/analytics/datasets/sales%00", None, "name"),
    ("admin", "GET", "/api/analytics/datasets/any?category=a%00", None, "category"),
]


@pytest.mark.parametrize(("who", "method", "path", "body", "field"), STRINGS,
                         ids=[f"{m} {p[:40]} {f}" for _, m, p, _, f in STRINGS])
def test_control_characters_and_overlong_strings_are_422_problems_naming_the_field(
        shop: Shop, who: str, method: str, path: str, body: dict[str, Any] | None, field: str) -> None:
    _assert_problem(shop.as_(who).request(method, path, json=body), 422, field)


def test_free_text_keeps_its_line_breaks_and_tabs(shop: Shop) -> None:
    r = shop.admin.request("POST", "/api/admin/products",
                           json=_product(sku="TWO-LINES", category_id=shop.category_id,
                                         description="First line\r\nsecond\tline"))
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "First line\r\nsecond\tline"


@pytest.mark.parametrize(("field", "raw"), [("name", '"\\ud800"'), ("price_cents", '"12"'),
                                            ("price_cents", "true"), ("is_active", "0")])
def test_values_of_the_wrong_json_type_are_refused_not_coerced(shop: Shop, field: str, raw: str) -> None:
    body = f'{{"{field}": {raw}}}'
    r = shop.admin.request("PATCH", f"/api/admin/products/{shop.product_id}", content=body,
                           headers={"Content-Type": "application/json"})
    _assert_problem(r, 422, field)


def test_a_body_that_is_not_json_is_a_422_naming_the_body(shop: Shop) -> None:
    for content in (b"{not json", b"\xff\xfe\x00garbage"):
        r = shop.anonymous.request("POST", "/api/events", content=content,
                                   headers={"Content-Type": "application/json"})
        _assert_problem(r, 422, "body")


def _event_of(size: int) -> bytes:
    base = b'{"kind": "page_view", "session_id": "s", "pad": ""}'
    return base[:-2] + b"x" * (size - len(base)) + base[-2:]


def _chunks(data: bytes) -> Iterator[bytes]:
    # An iterator makes httpx send Transfer-Encoding: chunked, without Content-Length.
    for start in range(0, len(data), 16_384):
        yield data[start:start + 16_384]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_json_body_over_the_limit_is_a_413_problem(shop: Shop, framing: str) -> None:
    def send(body: bytes) -> httpx.Response:
        return shop.anonymous.request("POST", "/api/events", headers={"Content-Type": "application/json"},
                                      content=body if framing == "content-length" else _chunks(body))

    assert send(_event_of(JSON_LIMIT)).status_code == 204  # at the limit (unknown fields are ignored)
    r = send(_event_of(JSON_LIMIT + 1))
    _assert_problem(r, 413)
    assert str(JSON_LIMIT) in r.json()["detail"]


def _png(noise: int = 0) -> bytes:
    side = 64 if noise == 0 else noise
    out = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "lakefront-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_the_image_upload_takes_more_than_json_but_not_more_than_its_own_limit(shop: Shop, framing: str) -> None:
    image = _png(noise=220)
    assert JSON_LIMIT < len(image) < UPLOAD_LIMIT  # larger than any JSON body may be
    path = f"/api/admin/products/{shop.product_id}/image"

    def send(data: bytes) -> httpx.Response:
        body, content_type = _multipart(data)
        return shop.admin.request("PUT", path, headers={"Content-Type": content_type},
                                  content=body if framing == "content-length" else _chunks(body))

    assert send(image).status_code == 200
    _assert_problem(send(b"\x89PNG" + b"\x00" * UPLOAD_ROOM), 413)


def test_every_answer_forbids_sniffing_and_answers_to_signed_in_requests_are_never_stored(shop: Shop) -> None:
    image_key = shop.admin.request("GET", f"/api/admin/products/{shop.product_id}").json()["image_key"]
    public = [shop.anonymous.request("GET", path) for path in
              ("/api/products", f"/api/media/{image_key}", "/api/products/987654", "/openapi.json", "/healthz")]
    for r in public:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert "no-store" not in r.headers.get("cache-control", ""), r.url
    assert public[1].headers["cache-control"] == "public, max-age=31536000, immutable"
    private = [shop.customer.request("GET", path) for path in
               ("/api/cart", "/api/me", "/api/orders/987654", f"/api/media/{image_key}")]
    private.append(shop.anonymous.request("GET", "/api/me", headers={"Authorization": "Bearer not-a-token"}))
    for r in private:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["cache-control"] == "no-store", r.url


def test_a_wrong_method_is_a_405_problem_listing_every_allowed_method(shop: Shop) -> None:
    r = shop.anonymous.request("DELETE", f"/api/admin/products/{shop.product_id}")
    _assert_problem(r, 405)
    assert r.headers["allow"] == "GET, PATCH"
    assert shop.anonymous.request("PUT", "/api/orders").headers["allow"] == "GET, POST"


def test_page_views_are_recorded_with_204(shop: Shop) -> None:
    r = shop.anonymous.request("POST", "/api/events", json={"kind": "page_view", "session_id": "s1",
                                                            "product_id": shop.product_id})
    assert (r.status_code, r.content) == (204, b"")


def test_the_document_declares_every_error_as_a_problem(shop: Shop) -> None:
    doc = shop.anonymous.request("GET", "/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(schemas)
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            answers = operation["responses"]
            for status, answer in answers.items():
                if status.startswith(("4", "5")):
                    assert answer["content"] == problem, (where, status)
            if "requestBody" in operation:
                assert {"413", "422"} <= set(answers), where
            if path == "/api/me" or path.startswith(("/api/cart", "/api/orders", "/api/admin", "/api/analytics")):
                assert {"401", "503"} <= set(answers), where
            if path.startswith(("/api/admin", "/api/analytics")):
                assert "403" in answers, where
            if "{" in path and method != "delete":  # removing what is not in the cart is no error
                assert {"404", "422"} <= set(answers), where
    for path in ("/api/auth/signin", "/api/auth/signup"):
        assert "429" in doc["paths"][path]["post"]["responses"]
    events = doc["paths"]["/api/events"]["post"]
    assert set(events["responses"]) >= {"204"} and "202" not in events["responses"]
    assert events["security"] == [{"bearer": []}, {}]  # signed in or not
    assert doc["paths"]["/api/cart"]["get"]["security"] == [{"bearer": []}]


def test_the_docs_page_loads_nothing_from_outside_this_instance(shop: Shop) -> None:
    page = shop.anonymous.request("GET", "/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), page.text
    assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", page.text)
    assert len(assets) == 3
    for asset in assets:
        assert shop.anonymous.request("GET", asset).status_code == 200, asset
    assert "validatorUrl': null" in page.text or '"validatorUrl": null' in page.text
    assert shop.anonymous.request("GET", "/redoc").status_code == 404
    # Only what /docs needs is served: the bundle's own index.html would load a demo from outside.
    assert shop.anonymous.request("GET", "/docs/assets/index.html").status_code == 404


def test_a_batch_of_page_views_is_recorded_under_each_viewers_account_or_none(shop: Shop) -> None:
    session = "batch-1"
    views = [{"session_id": session, "product_id": shop.product_id},
             {"session_id": session, "product_id": shop.product_id, "token": shop.customer.token},
             {"session_id": session, "product_id": None, "token": "no-such-token"}]
    r = shop.anonymous.request("POST", "/api/events/page-views", json={"views": views})
    assert r.status_code == 204, r.text
    # One view is the customer's; an unknown token is an anonymous view, not a refused batch.
    assert shop.db.scalar("SELECT COUNT(*) FROM events WHERE session_id = :s AND kind = 'page_view'",
                          s=session) == 3
    assert shop.db.scalar("SELECT c.email FROM events e JOIN customers c ON c.id = e.customer_id "
                          "WHERE e.session_id = :s", s=session) == "shopper@example.com"


@pytest.mark.parametrize(("body", "field"), [
    ({"views": []}, "views"),
    ({"views": [{"session_id": "s", "product_id": 1}] * 501}, "views"),
    ({"views": [{"session_id": "s", "product_id": ID_MAX + 1}]}, "views.0.product_id"),
    ({"views": [{"session_id": "s", "token": "a\nb"}]}, "views.0.token"),
])
def test_a_page_view_batch_that_is_empty_too_long_or_out_of_bounds_is_a_422_naming_the_field(
        shop: Shop, body: dict[str, Any], field: str) -> None:
    _assert_problem(shop.anonymous.request("POST", "/api/events/page-views", json=body), 422, field)
