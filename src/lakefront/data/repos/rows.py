"""The rows repositories hand the shop, and the values it hands them: plain dicts, typed by what the SQL
selects, so a misspelt column is a type error at the boundary rather than a KeyError in a request."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict


class CategoryRow(TypedDict):
    id: int
    slug: str
    name: str
    description: str
    product_count: int
    """Active products in the category."""


class ProductFields(TypedDict):
    """What an admin gives for a new product."""

    sku: str
    name: str
    description: str
    category_id: int
    price_cents: int
    stock: int
    is_active: bool


class ProductColumns(ProductFields):
    """A product's columns but its times, whose type depends on where the row is (ProductRow, PublicProduct)."""

    id: int
    slug: str
    image_key: str | None
    thumb_key: str | None
    popularity: int
    category_slug: str
    category_name: str


class ProductRow(ProductColumns):
    created_at: datetime
    updated_at: datetime


class NewProduct(ProductFields):
    slug: str


class ProductChanges(TypedDict, total=False):
    """The columns an update sets; absent ones stay as they are."""

    slug: str
    name: str
    description: str
    category_id: int
    price_cents: int
    stock: int
    is_active: bool
    image_key: str
    thumb_key: str


class CartLine(TypedDict):
    product_id: int
    quantity: int


class CustomerRow(TypedDict):
    id: int
    email: str
    name: str
    is_admin: bool


class CustomerWithHash(CustomerRow):
    password_hash: str


class TokenOwner(CustomerRow):
    """A token's customer, with the token's own times."""

    created_at: datetime
    expires_at: datetime


class NewOrderLine(TypedDict):
    product_id: int
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class OrderLineRow(NewOrderLine):
    product_name: str


class OrderSummaryRow(TypedDict):
    id: int
    customer_id: int
    status: str
    total_cents: int
    item_count: int
    placed_at: datetime


class OrderRow(OrderSummaryRow):
    lines: list[OrderLineRow]
