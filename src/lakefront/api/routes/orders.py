"""Checkout and order history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from lakefront.api.deps import Ctx, Customer
from lakefront.api.openapi import SIGNED_IN, responses
from lakefront.api.schemas import Id, OrderPublic, OrderSummary
from lakefront.shop import orders
from lakefront.shop.orders import PublicOrder, PublicOrderSummary

router = APIRouter(prefix="/api/orders", tags=["orders"], responses=responses(*SIGNED_IN))
IdempotencyKey = Annotated[str | None, Header(pattern=r"^[A-Za-z0-9_\-]{8,80}$",
                                              description="8-80 letters, digits, '-' or '_'")]


@router.post("", response_model=OrderPublic, status_code=201,
             responses={200: {"model": OrderPublic,
                              "description": "A replay of an earlier checkout with the same Idempotency-Key"},
                        **responses(409)})
def checkout(ctx: Ctx, customer: Customer, response: Response,
             idempotency_key: IdempotencyKey = None) -> PublicOrder:
    """Place an order from the cart; the same Idempotency-Key always returns the same order."""
    order, created = orders.checkout(ctx, customer["id"], idempotency_key)
    if not created:
        response.status_code = 200
    return order


@router.get("", response_model=list[OrderSummary])
def history(ctx: Ctx, customer: Customer) -> list[PublicOrderSummary]:
    """The customer's orders, newest first."""
    return orders.history(ctx, customer["id"])


@router.get("/{order_id}", response_model=OrderPublic, responses=responses(404))
def get(ctx: Ctx, customer: Customer, order_id: Id) -> PublicOrder:
    """One of the customer's own orders."""
    return orders.get(ctx, customer["id"], order_id)
