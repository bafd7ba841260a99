"""The app tier's contract on real processes: access rules, problem+json errors, cache coherence, images."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from support import Api, app_stack, metric


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]):
    with app_stack(tmp_path_factory.mktemp("store"), count=2, profile_env=profile_env) as app:
        instances = app.instances
        category_id = app.db.add_category("kitchen", "Kitchen")
        Api(instances[0].url).sign_up("boss@example.com")
        app.db.make_admin("boss@example.com")
        admin = Api(instances[0].url).sign_in("boss@example.com")
        r = admin.request("POST", "/api/admin/products", json={
            "sku": "KETTLE-1", "name": "Copper kettle", "description": "Whistles politely",
            "category_id": category_id, "price_cents": 4500, "stock": 20})
        assert r.status_code == 201, r.text
        yield app, instances, admin, category_id, r.json()["id"]


def _order_for(api: Api, product_id: int) -> int:
    api.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 1})
    r = api.request("POST", "/api/orders")
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_a_customer_cannot_see_another_customers_order(stack) -> None:
    _, instances, _, _, product_id = stack
    alice = Api(instances[0].url).sign_up("alice@example.com")
    mallory = Api(instances[1].url).sign_up("mallory@example.com")
    order_id = _order_for(alice, product_id)

    assert alice.request("GET", f"/api/orders/{order_id}").status_code == 200
    stolen = mallory.request("GET", f"/api/orders/{order_id}")
    assert stolen.status_code == 404
    assert stolen.headers["content-type"] == "application/problem+json"
    assert [o["id"] for o in mallory.request("GET", "/api/orders").json()] == []
    assert Api(instances[0].url).request("GET", f"/api/orders/{order_id}").status_code == 401


def test_carts_are_private_to_their_owner(stack) -> None:
    _, instances, _, _, product_id = stack
    bob = Api(instances[0].url).sign_up("bob@example.com")
    eve = Api(instances[1].url).sign_up("eve@example.com")
    bob.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 2})

    assert eve.request("GET", "/api/cart").json()["items"] == []
    eve.request("DELETE", f"/api/cart/items/{product_id}")
    assert bob.request("GET", "/api/cart").json()["item_count"] == 2


def _admin_routes(category_id: int, product_id: int) -> list[tuple[str, str, dict[str, object]]]:
    """Every route of the admin API, with a request an admin would be answered for."""
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    return [
        ("GET", "/api/admin/products", {}),
        ("GET", f"/api/admin/products/{product_id}", {}),
        ("POST", "/api/admin/products", {"json": {"sku": "X-1", "name": "X", "category_id": category_id,
                                                  "price_cents": 1, "stock": 1}}),
        ("PATCH", f"/api/admin/products/{product_id}", {"json": {"price_cents": 1, "stock": 0}}),
        ("PUT", f"/api/admin/products/{product_id}/image",
         {"files": {"image": ("x.png", png.getvalue(), "image/png")}}),
    ]


def test_the_admin_api_is_for_admins_only(stack) -> None:
    _, instances, admin, category_id, product_id = stack
    customer = Api(instances[0].url).sign_up("notadmin@example.com")
    anonymous = Api(instances[1].url)
    before = admin.request("GET", f"/api/admin/products/{product_id}").json()
    routes = _admin_routes(category_id, product_id)
    assert {(m, p.replace(str(product_id), "{product_id}")) for m, p, _ in routes} == {
        (method.upper(), path) for path, item in admin.request("GET", "/openapi.json").json()["paths"].items()
        if path.startswith("/api/admin/") for method in item}, "a new admin route: add it here"
    for method, path, kwargs in routes:
        for who, api, status in (("anonymous", anonymous, 401), ("customer", customer, 403)):
            r = api.request(method, path, **kwargs)
            assert r.status_code == status, (who, method, path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json", (who, method, path)
    # Nothing a refused request sent took effect: no product X-1, price, stock and image unchanged.
    assert admin.request("GET", f"/api/admin/products/{product_id}").json() == before
    listed = admin.request("GET", "/api/admin/products")
    assert listed.status_code == 200
    assert "X-1" not in {p["sku"] for p in listed.json()["items"]}


def test_signed_out_tokens_stop_working(stack) -> None:
    _, instances, _, _, _ = stack
    carol = Api(instances[0].url).sign_up("carol@example.com")
    assert carol.request("GET", "/api/me").json()["email"] == "carol@example.com"
    assert carol.request("POST", "/api/auth/signout").status_code == 204
    assert carol.request("GET", "/api/me").status_code == 401


def test_a_wrong_password_is_refused(stack) -> None:
    _, instances, _, _, _ = stack
    api = Api(instances[0].url)
    api.sign_up("dave@example.com")
    wrong = api.request("POST", "/api/auth/signin", json={"email": "dave@example.com", "password": "not-it-at-all"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("body", "field"), [
    ({"sku": "B-1", "name": "Bad", "category_id": 1, "price_cents": -5, "stock": 1}, "price_cents"),
    ({"sku": "B-2", "name": "Bad", "category_id": 1, "price_cents": "12.50", "stock": 1}, "price_cents"),
    ({"sku": "B-3", "name": "", "category_id": 1, "price_cents": 5, "stock": 1}, "name"),
    ({"sku": "B-4", "name": "Bad", "category_id": 999, "price_cents": 5, "stock": 1}, "category_id"),
    ({"sku": "KETTLE-1", "name": "Dup", "category_id": 1, "price_cents": 5, "stock": 1}, "sku"),
])
def test_bad_product_input_is_a_problem_naming_the_field(stack, body: dict[str, object], field: str) -> None:
    _, _, admin, _, _ = stack
    r = admin.request("POST", "/api/admin/products", json=body)
    assert r.status_code in (409, 422)
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


def test_unknown_ids_are_404_problems_naming_the_resource_on_every_route_with_an_id(stack) -> None:
    _, instances, admin, category_id, product_id = stack
    api = Api(instances[1].url)
    shopper = Api(instances[0].url).sign_up("nobody-in-particular@example.com")
    missing = 987654
    cases = [
        (api, "GET", f"/api/products/{missing}", {}, "product"),
        (api, "GET", "/api/categories/no-such-thing", {}, "category"),
        (api, "GET", "/api/products?category=no-such-thing", {}, "category"),
        (shopper, "PUT", f"/api/cart/items/{missing}", {"json": {"quantity": 1}}, "product"),
        (shopper, "GET", f"/api/orders/{missing}", {}, "order"),
        *((admin, m, p.replace(str(product_id), str(missing)), kw, "product")
          for m, p, kw in _admin_routes(category_id, product_id) if str(product_id) in p),
        (api, "GET", "/api/media/products/aa/nothing.jpg", {}, "object"),
        (admin, "GET", "/api/analytics/dashboards/no-such-dashboard", {}, "dashboard"),
        (admin, "GET", "/api/analytics/datasets/no-such-dataset", {}, "dataset"),
    ]
    for who, method, path, kwargs, resource in cases:
        r = who.request(method, path, **kwargs)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", (method, path)
        body = r.json()
        assert body["status"] == 404 and body["detail"].startswith(f"{resource} "), (method, path, body)
    # Another customer's order is as unknown as a made-up one, and says so the same way.
    owner = Api(instances[0].url).sign_up("owner-of-an-order@example.com")
    theirs = _order_for(owner, product_id)
    r = shopper.request("GET", f"/api/orders/{theirs}")
    assert r.status_code == 404 and r.json()["detail"] == f"order {theirs} not found"
    assert api.request("GET", "/api/media/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_a_price_change_is_visible_on_every_instance_at_once(stack) -> None:
    _, instances, admin, _, product_id = stack
    readers = [Api(i.url) for i in instances]
    for reader in readers:  # warm the shared cache through both instances
        for _ in range(2):
            assert reader.request("GET", f"/api/products/{product_id}").status_code == 200
            reader.request("GET", "/api/products?category=kitchen")
    new_price = readers[0].request("GET", f"/api/products/{product_id}").json()["price_cents"] + 101

    r = admin.request("PATCH", f"/api/admin/products/{product_id}", json={"price_cents": new_price})
    assert r.status_code == 200

    for reader in readers:
        assert reader.request("GET", f"/api/products/{product_id}").json()["price_cents"] == new_price
        listing = reader.request("GET", "/api/products?category=kitchen").json()["items"]
        assert {p["id"]: p["price_cents"] for p in listing}[product_id] == new_price
        search = reader.request("GET", "/api/products?q=copper").json()["items"]
        assert [p["price_cents"] for p in search] == [new_price]
    assert sum(metric(i.url, "lakefront_cache_hits_total") for i in instances) > 0
    assert sum(metric(i.url, "lakefront_cache_fallbacks_total") for i in instances) == 0


def test_fifty_concurrent_requests_for_a_just_expired_product_reach_the_database_once(stack) -> None:
    app, instances, _, _, product_id = stack
    path = f"/api/products/{product_id}"
    Api(instances[0].url).request("GET", path)
    # What one load costs in statements on this engine (SQLite adds its BEGIN): measured, not assumed.
    app.expire_cache_key(f"product:{product_id}")
    before = app.total("lakefront_db_queries_total")
    assert Api(instances[1].url).request("GET", path).status_code == 200
    one_load = app.total("lakefront_db_queries_total") - before
    assert one_load >= 1

    app.expire_cache_key(f"product:{product_id}")
    queries, misses = app.total("lakefront_db_queries_total"), app.total("lakefront_cache_misses_total")
    barrier = threading.Barrier(50)

    def get(i: int) -> int:
        barrier.wait()
        return Api(instances[i % 2].url).request("GET", path).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(get, range(50)))

    assert statuses == [200] * 50
    assert app.total("lakefront_cache_misses_total") - misses == 1
    assert app.total("lakefront_db_queries_total") - queries == one_load


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (10, 120, 200, 128)).save(out, "PNG")
    return out.getvalue()


def test_an_uploaded_image_is_reencoded_with_a_thumbnail_under_generated_keys(stack) -> None:
    _, instances, admin, _, product_id = stack
    r = admin.request("PUT", f"/api/admin/products/{product_id}/image",
                      files={"image": ("evil.exe", _png(1600, 1200), "application/octet-stream")})
    assert r.status_code == 200, r.text
    product = r.json()
    assert product["image_key"].endswith(".jpg") and "evil" not in product["image_key"]

    for key, longest in ((product["image_key"], 800), (product["thumb_key"], 320)):
        got = httpx.get(f"{instances[1].url}/api/media/{key}")
        assert got.headers["content-type"] == "image/jpeg"
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "JPEG"
        assert max(img.size) == longest


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "empty"),
    (b"<?php echo 'not an image'; ?>", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not a readable image"),
])
def test_uploads_that_are_not_images_are_refused_and_change_nothing(stack, payload: bytes, message: str) -> None:
    _, _, admin, _, product_id = stack
    before = admin.request("GET", f"/api/admin/products/{product_id}").json()["image_key"]
    r = admin.request("PUT", f"/api/admin/products/{product_id}/image",
                      files={"image": ("photo.jpg", payload, "image/jpeg")})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "image"
    assert message in r.json()["errors"][0]["message"]
    assert admin.request("GET", f"/api/admin/products/{product_id}").json()["image_key"] == before


def test_an_oversized_upload_is_refused(stack) -> None:
    _, _, admin, _, product_id = stack
    r = admin.request("PUT", f"/api/admin/products/{product_id}/image",
                      files={"image": ("big.png", b"\x89PNG" + b"\x00" * (8 * 1024 * 1024 + 10), "image/png")})
    assert r.status_code == 422
    assert "larger than" in r.json()["errors"][0]["message"]


def test_the_openapi_document_describes_the_store(stack) -> None:
    _, instances, _, _, _ = stack
    doc = httpx.get(f"{instances[0].url}/openapi.json").json()
    for path in ("/api/products", "/api/products/{product_id}", "/api/orders", "/api/cart/items/{product_id}",
                 "/api/auth/signup", "/api/admin/products/{product_id}/image"):
        assert path in doc["paths"]
