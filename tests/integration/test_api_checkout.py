"""Checkout on real app-tier processes over the embedded data layer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from support import Api, add_category, add_customers, app_instances, make_admin, sqlite_db


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    var_dir = tmp_path_factory.mktemp("api")
    with app_instances(var_dir, count=2) as instances:
        category_id = add_category(var_dir)
        admin = Api(instances[0].url).sign_up("admin@example.com")
        make_admin(var_dir, "admin@example.com")
        yield var_dir, instances, admin, category_id


def _product(admin: Api, category_id: int, sku: str, stock: int, price: int = 1999) -> int:
    r = admin.request("POST", "/api/admin/products", json={
        "sku": sku, "name": f"Product {sku}", "category_id": category_id, "price_cents": price, "stock": stock})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_hundred_concurrent_checkouts_of_ten_in_stock_sell_exactly_ten(stack) -> None:
    var_dir, instances, admin, category_id = stack
    product_id = _product(admin, category_id, "SCARCE-1", stock=10)
    # 100 signed-in customers, half on each instance (made directly: 100 Argon2 sign-ins would take a while).
    buyers = [Api(instances[i % 2].url, token) for i, token in enumerate(add_customers(var_dir, "buyer", 100))]
    for buyer in buyers:
        assert buyer.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 1}).status_code == 200

    def checkout(buyer: Api) -> int:
        return buyer.request("POST", "/api/orders").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(checkout, buyers))

    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    with sqlite_db(var_dir) as db:
        stock = db.execute("SELECT stock FROM products WHERE id = ?", (product_id,)).fetchone()[0]
        sold = db.execute("SELECT COALESCE(SUM(quantity), 0) FROM order_lines WHERE product_id = ?",
                          (product_id,)).fetchone()[0]
    assert stock == 0
    assert sold == 10


def test_a_failed_checkout_leaves_no_half_written_order(stack) -> None:
    var_dir, instances, admin, category_id = stack
    plenty = _product(admin, category_id, "PLENTY-1", stock=100)
    scarce = _product(admin, category_id, "SCARCE-2", stock=1)
    buyer = Api(instances[0].url).sign_up("halfway@example.com")
    buyer.request("PUT", f"/api/cart/items/{plenty}", json={"quantity": 3})
    buyer.request("PUT", f"/api/cart/items/{scarce}", json={"quantity": 2})

    r = buyer.request("POST", "/api/orders")

    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    with sqlite_db(var_dir) as db:
        assert db.execute("SELECT stock FROM products WHERE id = ?", (plenty,)).fetchone()[0] == 100
        assert db.execute("SELECT stock FROM products WHERE id = ?", (scarce,)).fetchone()[0] == 1
        orders = db.execute("SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
                            "WHERE c.email = 'halfway@example.com'").fetchone()[0]
    assert orders == 0
    assert buyer.request("GET", "/api/cart").json()["item_count"] == 5  # the cart is kept to fix and retry


def test_checkout_charges_current_prices_and_empties_the_cart(stack) -> None:
    _, instances, admin, category_id = stack
    product_id = _product(admin, category_id, "PRICED-1", stock=5, price=1250)
    buyer = Api(instances[1].url).sign_up("priced@example.com")
    buyer.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 2})
    assert admin.request("PATCH", f"/api/admin/products/{product_id}", json={"price_cents": 1300}).status_code == 200

    order = buyer.request("POST", "/api/orders").json()

    assert order["total_cents"] == 2600
    assert order["lines"] == [{"product_id": product_id, "product_name": "Product PRICED-1", "quantity": 2,
                               "unit_price_cents": 1300, "line_total_cents": 2600}]
    assert buyer.request("GET", "/api/cart").json()["items"] == []
    assert buyer.request("POST", "/api/orders").status_code == 409  # empty cart


def test_a_retried_checkout_with_the_same_idempotency_key_returns_the_same_order(stack) -> None:
    var_dir, instances, admin, category_id = stack
    product_id = _product(admin, category_id, "IDEM-1", stock=5)
    buyer = Api(instances[0].url).sign_up("retry@example.com")
    buyer.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 1})
    key = {"Idempotency-Key": "checkout-7f3a9c1e"}

    first = buyer.request("POST", "/api/orders", headers=key)
    # The retry lands on the other instance, as it would after a lost response.
    second = Api(instances[1].url, buyer.token).request("POST", "/api/orders", headers=key)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    with sqlite_db(var_dir) as db:
        assert db.execute("SELECT stock FROM products WHERE id = ?", (product_id,)).fetchone()[0] == 4


def test_stock_never_goes_below_zero_in_the_database(stack) -> None:
    var_dir = stack[0]
    with sqlite_db(var_dir) as db:
        assert db.execute("SELECT COUNT(*) FROM products WHERE stock < 0").fetchone()[0] == 0

