"""The shop's rules, exercised through its use cases on a private SQLite file (no servers, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakefront.api.schemas import ProductCreate, ProductUpdate
from lakefront.data import tables
from lakefront.data.cache import CacheAside, NullCache
from lakefront.data.engines import make_engines
from lakefront.data.migrations import migrate
from lakefront.data.objects import DirectoryStore
from lakefront.data.repos.rows import ProductChanges, ProductFields
from lakefront.data.uow import UnitOfWorkFactory
from lakefront.shop import cart, catalog, orders
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import Conflict, EmptyCart, InvalidInput, NotFound, OutOfStock
from lakefront.shop.media import ImageLimits
from lakefront.shop.throttle import Throttle, ThrottlePolicy
from lakefront.shop.tokens import TokenPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path):
    engines = make_engines(f"sqlite:///{tmp_path / 'shop.sqlite3'}", f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    migrate(engines.writer)
    with engines.writer.begin() as conn:
        conn.execute(tables.categories.insert().values(id=1, slug="tea", name="Tea", description="",
                                                       created_at=NOW, updated_at=NOW))
        conn.execute(tables.customers.insert(), [
            {"id": i, "email": f"c{i}@example.com", "name": f"C{i}", "password_hash": "x", "is_admin": False,
             "created_at": NOW, "updated_at": NOW} for i in (1, 2)])
    yield ShopContext(uow=UnitOfWorkFactory(engines), cache=CacheAside(NullCache()),
                      images=DirectoryStore(tmp_path / "objects"),
                      image_limits=ImageLimits(1_000_000, 1_000_000, 400, 100),
                      throttle=Throttle(NullCache(), ThrottlePolicy()), tokens=TokenPolicy())
    engines.dispose()


def _product(ctx: ShopContext, sku: str, price: int = 500, stock: int = 5, active: bool = True) -> int:
    return int(catalog.create_product(ctx, {"sku": sku, "name": f"Tea {sku}", "description": "",
                                            "category_id": 1, "price_cents": price, "stock": stock,
                                            "is_active": active})["id"])


def test_an_order_is_priced_in_integer_cents_from_current_prices(ctx: ShopContext) -> None:
    a, b = _product(ctx, "A", price=333), _product(ctx, "B", price=1)
    cart.set_quantity(ctx, 1, a, 3)
    cart.set_quantity(ctx, 1, b, 1)
    catalog.update_product(ctx, a, {"price_cents": 334})

    order, created = orders.checkout(ctx, 1)

    assert created
    assert (order["total_cents"], order["item_count"]) == (334 * 3 + 1, 4)
    assert all(isinstance(line["line_total_cents"], int) for line in order["lines"])


def test_checkout_never_sells_more_than_the_stock(ctx: ShopContext) -> None:
    pid = _product(ctx, "A", stock=2)
    cart.set_quantity(ctx, 1, pid, 3)
    with pytest.raises(OutOfStock) as info:
        orders.checkout(ctx, 1)
    assert info.value.available == 2
    assert catalog.product(ctx, pid)["stock"] == 2
    assert cart.view(ctx, 1)["item_count"] == 3  # kept, to fix and retry


def test_an_empty_cart_cannot_be_checked_out(ctx: ShopContext) -> None:
    with pytest.raises(EmptyCart):
        orders.checkout(ctx, 1)


def test_the_same_idempotency_key_returns_the_same_order_and_takes_stock_once(ctx: ShopContext) -> None:
    pid = _product(ctx, "A", stock=5)
    cart.set_quantity(ctx, 1, pid, 2)
    first, created_first = orders.checkout(ctx, 1, "key-12345678")
    second, created_second = orders.checkout(ctx, 1, "key-12345678")
    assert (created_first, created_second) == (True, False)
    assert first == second
    assert catalog.product(ctx, pid)["stock"] == 3


def test_idempotency_keys_belong_to_one_customer(ctx: ShopContext) -> None:
    pid = _product(ctx, "A", stock=5)
    cart.set_quantity(ctx, 1, pid, 1)
    cart.set_quantity(ctx, 2, pid, 1)
    mine, _ = orders.checkout(ctx, 1, "shared-key-1")
    theirs, created = orders.checkout(ctx, 2, "shared-key-1")
    assert created and theirs["id"] != mine["id"]


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 81, "semi;colon!"])
def test_a_malformed_idempotency_key_is_refused(ctx: ShopContext, key: str) -> None:
    with pytest.raises(InvalidInput) as info:
        orders.checkout(ctx, 1, key)
    assert info.value.field == "Idempotency-Key"


def test_a_customer_cannot_read_another_customers_order(ctx: ShopContext) -> None:
    pid = _product(ctx, "A")
    cart.set_quantity(ctx, 1, pid, 1)
    order, _ = orders.checkout(ctx, 1)
    assert orders.get(ctx, 1, order["id"])["id"] == order["id"]
    with pytest.raises(NotFound):
        orders.get(ctx, 2, order["id"])
    assert orders.history(ctx, 2) == []


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_cart_quantities_are_bounded(ctx: ShopContext, quantity: int) -> None:
    pid = _product(ctx, "A")
    with pytest.raises(InvalidInput) as info:
        cart.set_quantity(ctx, 1, pid, quantity)
    assert info.value.field == "quantity"


def test_hidden_products_cannot_be_seen_carted_or_bought(ctx: ShopContext) -> None:
    pid = _product(ctx, "A")
    cart.set_quantity(ctx, 1, pid, 1)
    catalog.update_product(ctx, pid, {"is_active": False})
    with pytest.raises(NotFound):
        catalog.product(ctx, pid)
    assert catalog.product(ctx, pid, include_inactive=True)["is_active"] is False
    with pytest.raises(NotFound):
        cart.set_quantity(ctx, 2, pid, 1)
    with pytest.raises(OutOfStock):
        orders.checkout(ctx, 1)


def test_a_duplicate_sku_and_an_unknown_category_are_refused_naming_the_field(ctx: ShopContext) -> None:
    _product(ctx, "A")
    with pytest.raises(Conflict) as dup:
        _product(ctx, "A")
    assert dup.value.field == "sku"
    with pytest.raises(InvalidInput) as bad:
        catalog.create_product(ctx, {"sku": "Z", "name": "Z", "description": "", "category_id": 99,
                                     "price_cents": 1, "stock": 1, "is_active": True})
    assert bad.value.field == "category_id"


def test_search_needs_every_word_and_treats_wildcards_literally(ctx: ShopContext) -> None:
    _product(ctx, "GREEN")
    catalog.update_product(ctx, _product(ctx, "PCT"), {"name": "100% Assam"})
    assert [p["name"] for p in catalog.products(ctx, query="tea green")["items"]] == ["Tea GREEN"]
    assert [p["name"] for p in catalog.products(ctx, query="100%")["items"]] == ["100% Assam"]
    assert catalog.products(ctx, query="%")["total"] == 1  # only the product with a literal %


def test_listing_sorts_and_pages(ctx: ShopContext) -> None:
    for i, price in enumerate((300, 100, 200)):
        _product(ctx, f"S{i}", price=price)
    page = catalog.products(ctx, category_slug="tea", sort="price_asc", per_page=2)
    assert [p["price_cents"] for p in page["items"]] == [100, 200]
    assert (page["total"], page["pages"]) == (3, 2)
    assert [p["price_cents"] for p in catalog.products(ctx, category_slug="tea", sort="price_asc", page=2,
                                                       per_page=2)["items"]] == [300]
    with pytest.raises(InvalidInput):
        catalog.products(ctx, page=0)


def test_the_product_schemas_carry_exactly_the_fields_the_shop_declares() -> None:
    # The admin routes hand the shop a schema's model_dump() as ProductFields / ProductChanges.
    assert set(ProductCreate.model_fields) == ProductFields.__required_keys__ | ProductFields.__optional_keys__
    assert set(ProductUpdate.model_fields) <= ProductChanges.__optional_keys__

