"""The signed-in customer's cart. Only its owner can see or touch it: every call names the customer."""

from __future__ import annotations

from typing import TypedDict

from lakefront.data.types import utcnow
from lakefront.data.uow import UnitOfWork
from lakefront.shop.catalog import PublicProduct, public_product
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import InvalidInput, NotFound

MAX_QUANTITY = 99
MAX_LINES = 50


class CartItem(TypedDict):
    product: PublicProduct
    quantity: int
    line_total_cents: int


class CartView(TypedDict):
    items: list[CartItem]
    item_count: int
    total_cents: int


def _view(uow: UnitOfWork, customer_id: int) -> CartView:
    lines = uow.carts.lines(customer_id)
    found = uow.catalog.products_by_ids([line["product_id"] for line in lines])
    items: list[CartItem] = []
    for line in lines:
        product = found.get(line["product_id"])
        if product is None:
            continue
        items.append({"product": public_product(product), "quantity": line["quantity"],
                      "line_total_cents": product["price_cents"] * line["quantity"]})
    return {"items": items, "item_count": sum(i["quantity"] for i in items),
            "total_cents": sum(i["line_total_cents"] for i in items)}


def view(ctx: ShopContext, customer_id: int) -> CartView:
    # The primary, so a customer always sees the line they just added.
    with ctx.uow(write=True) as uow:
        return _view(uow, customer_id)


def set_quantity(ctx: ShopContext, customer_id: int, product_id: int, quantity: int,
                 session_id: str | None = None) -> CartView:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput("quantity", f"must be between 1 and {MAX_QUANTITY}")
    now = utcnow()
    with ctx.uow(write=True) as uow:
        product = uow.catalog.product(product_id)
        if product is None or not product["is_active"]:
            raise NotFound("product", product_id)
        existing = {line["product_id"]: line["quantity"] for line in uow.carts.lines(customer_id)}
        if product_id not in existing and len(existing) >= MAX_LINES:
            raise InvalidInput("product_id", f"a cart holds at most {MAX_LINES} different products")
        uow.carts.set_quantity(customer_id, product_id, quantity, now)
        if quantity > existing.get(product_id, 0):
            uow.events.add(kind="add_to_cart", session_id=session_id or f"customer-{customer_id}",
                           customer_id=customer_id, product_id=product_id, now=now)
        result = _view(uow, customer_id)
        uow.commit()
    return result


def remove(ctx: ShopContext, customer_id: int, product_id: int) -> CartView:
    with ctx.uow(write=True) as uow:
        uow.carts.remove(customer_id, product_id)
        result = _view(uow, customer_id)
        uow.commit()
    return result
