"""Checkout and carts on real app-tier processes, in both profiles (SQLite; MariaDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from support import Api, AppStack, app_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]):
    with app_stack(tmp_path_factory.mktemp("api"), count=2, profile_env=profile_env) as app:
        category_id = app.db.add_category()
        admin = Api(app.instances[0].url).sign_up("admin@example.com")
        app.db.make_admin("admin@example.com")
        yield app, app.instances, admin, category_id


def _product(admin: Api, category_id: int, sku: str, stock: int, price: int = 1999) -> int:
    r = admin.request("POST", "/api/admin/products", json={
        "sku": sku, "name": f"Product {sku}", "category_id": category_id, "price_cents": price, "stock": stock})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_hundred_concurrent_checkouts_of_ten_in_stock_sell_exactly_ten(stack) -> None:
    app, instances, admin, category_id = stack
    product_id = _product(admin, category_id, "SCARCE-1", stock=10)
    # 100 signed-in customers, half on each instance (made directly: 100 Argon2 sign-ins would take a while).
    buyers = [Api(instances[i % 2].url, token) for i, token in enumerate(app.db.add_customers("buyer", 100))]
    for buyer in buyers:
        assert buyer.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 1}).status_code == 200

    def checkout(buyer: Api) -> int:
        return buyer.request("POST", "/api/orders").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(checkout, buyers))

    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    assert app.db.scalar("SELECT stock FROM products WHERE id = :id", id=product_id) == 0
    assert app.db.scalar("SELECT SUM(quantity) FROM order_lines WHERE product_id = :id", id=product_id) == 10


def test_a_failed_checkout_leaves_no_half_written_order(stack) -> None:
    app, instances, admin, category_id = stack
    plenty = _product(admin, category_id, "PLENTY-1", stock=100)
    scarce = _product(admin, category_id, "SCARCE-2", stock=1)
    buyer = Api(instances[0].url).sign_up("halfway@example.com")
    buyer.request("PUT", f"/api/cart/items/{plenty}", json={"quantity": 3})
    buyer.request("PUT", f"/api/cart/items/{scarce}", json={"quantity": 2})

    r = buyer.request("POST", "/api/orders")

    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert app.db.scalar("SELECT stock FROM products WHERE id = :id", id=plenty) == 100
    assert app.db.scalar("SELECT stock FROM products WHERE id = :id", id=scarce) == 1
    assert app.db.scalar("SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
                         "WHERE c.email = 'halfway@example.com'") == 0
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
    app, instances, admin, category_id = stack
    product_id = _product(admin, category_id, "IDEM-1", stock=5)
    buyer = Api(instances[0].url).sign_up("retry@example.com")
    buyer.request("PUT", f"/api/cart/items/{product_id}", json={"quantity": 1})
    key = {"Idempotency-Key": "checkout-7f3a9c1e"}

    first = buyer.request("POST", "/api/orders", headers=key)
    # The retry lands on the other instance, as it would after a lost response.
    second = Api(instances[1].url, buyer.token).request("POST", "/api/orders", headers=key)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert app.db.scalar("SELECT stock FROM products WHERE id = :id", id=product_id) == 4


def test_stock_never_goes_below_zero_in_the_database(stack) -> None:
    app: AppStack = stack[0]
    assert app.db.scalar("SELECT COUNT(*) FROM products WHERE stock < 0") == 0



def test_customers_filling_their_first_carts_at_once_all_succeed(stack) -> None:
    # UPDATE-then-INSERT took a gap lock on the missing cart row and then inserted into the gap:
    # two customers adding their first item at once deadlocked on InnoDB (a 500, or a 503 at best).
    app, instances, admin, category_id = stack
    products = [_product(admin, category_id, f"CART-{n}", stock=1000) for n in range(3)]
    shoppers = [Api(instances[i % 2].url, token) for i, token in enumerate(app.db.add_customers("carts", 40))]

    def fill(shopper: Api) -> list[int]:
        return [shopper.request("PUT", f"/api/cart/items/{product}", json={"quantity": q}).status_code
                for q in (1, 2) for product in products]

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = [s for result in pool.map(fill, shoppers) for s in result]

    assert statuses == [200] * len(statuses)
    assert app.db.scalar("SELECT COUNT(*) FROM cart_items WHERE product_id IN (:a, :b, :c)",
                         a=products[0], b=products[1], c=products[2]) == 40 * 3
    assert app.db.scalar("SELECT SUM(quantity) FROM cart_items WHERE product_id = :id", id=products[0]) == 40 * 2
