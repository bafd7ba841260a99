"""Checkout and order history.

Checkout is one transaction on the primary: it takes stock with conditional UPDATEs (never
below zero, whatever the concurrency), writes the order and its lines at the current prices,
and empties the cart. An Idempotency-Key makes a retried checkout return the first order.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TypedDict, cast

import sqlalchemy.exc

from lakefront.data.repos.rows import NewOrderLine, OrderLineRow, OrderRow, OrderSummaryRow
from lakefront.data.types import utcnow
from lakefront.data.uow import UnitOfWork
from lakefront.shop import cachekeys
from lakefront.shop.catalog import mark_written
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import EmptyCart, InvalidInput, NotFound, OutOfStock

_KEY = re.compile(r"^[A-Za-z0-9_\-]{8,80}$")


class PublicOrderSummary(TypedDict):
    """An order as its customer sees it in their history (whose it is goes without saying)."""

    id: int
    status: str
    total_cents: int
    item_count: int
    placed_at: datetime


class PublicOrder(PublicOrderSummary):
    lines: list[OrderLineRow]


def _summary_public(order: OrderSummaryRow) -> PublicOrderSummary:
    return cast(PublicOrderSummary, {k: v for k, v in order.items() if k != "customer_id"})


def _order_public(order: OrderRow) -> PublicOrder:
    return cast(PublicOrder, {k: v for k, v in order.items() if k != "customer_id"})


def checkout(ctx: ShopContext, customer_id: int, idempotency_key: str | None = None) -> tuple[PublicOrder, bool]:
    """Place an order from the customer's cart. Returns (order, created); created is False on a replay."""
    if idempotency_key is not None and not _KEY.match(idempotency_key):
        raise InvalidInput("Idempotency-Key", "must be 8-80 letters, digits, '-' or '_'")
    now = utcnow()
    try:
        with ctx.uow(write=True) as uow:
            if idempotency_key is not None:
                existing = uow.orders.by_idempotency_key(customer_id, idempotency_key)
                if existing is not None:
                    return _order_public(_get(uow, existing)), False
            lines = sorted(uow.carts.lines(customer_id), key=lambda line: line["product_id"])
            if not lines:
                raise EmptyCart()
            products = uow.catalog.products_by_ids([line["product_id"] for line in lines])
            order_lines: list[NewOrderLine] = []
            sold_out: list[int] = []
            # Ascending product id: concurrent checkouts lock rows in one order, so they cannot deadlock.
            for line in lines:
                product = products.get(line["product_id"])
                if product is None or not product["is_active"]:
                    raise OutOfStock(line["product_id"], product["name"] if product else "?", 0)
                if not uow.catalog.take_stock(product["id"], line["quantity"], now):
                    current = uow.catalog.product(product["id"])
                    raise OutOfStock(product["id"], product["name"], current["stock"] if current else 0)
                if uow.catalog.stock(product["id"]) == 0:
                    sold_out.append(product["id"])
                order_lines.append({"product_id": product["id"], "quantity": line["quantity"],
                                    "unit_price_cents": product["price_cents"],
                                    "line_total_cents": product["price_cents"] * line["quantity"]})
            order_id = uow.orders.add(customer_id=customer_id, lines=order_lines,
                                      idempotency_key=idempotency_key, now=now)
            uow.carts.clear(customer_id)
            order = _get(uow, order_id)
            touched = [cachekeys.product(line["product_id"]) for line in order_lines]
            # Listings show "in stock": retire them only when something actually sold out.
            uow.after_commit(lambda: mark_written(ctx, touched, [cachekeys.CATALOG] if sold_out else []))
            uow.commit()
    except sqlalchemy.exc.IntegrityError:
        # Two attempts with one key raced on a database without serialized writers: the other won.
        if idempotency_key is None:
            raise
        with ctx.uow(write=True) as uow:
            existing = uow.orders.by_idempotency_key(customer_id, idempotency_key)
            if existing is None:
                raise
            return _order_public(_get(uow, existing)), False
    return _order_public(order), True


def _get(uow: UnitOfWork, order_id: int) -> OrderRow:
    order = uow.orders.get(order_id)
    assert order is not None
    return order.copy()


def history(ctx: ShopContext, customer_id: int) -> list[PublicOrderSummary]:
    with ctx.uow(write=True) as uow:  # the primary: an order is visible right after checkout
        return [_summary_public(o) for o in uow.orders.for_customer(customer_id)]


def get(ctx: ShopContext, customer_id: int, order_id: int) -> PublicOrder:
    """One of the customer's own orders. Someone else's order is 'not found', not 'forbidden'."""
    with ctx.uow(write=True) as uow:
        order = uow.orders.get(order_id)
    if order is None or order["customer_id"] != customer_id:
        raise NotFound("order", order_id)
    return _order_public(order)

