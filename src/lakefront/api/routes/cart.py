"""The signed-in customer's cart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from lakefront.api.deps import Ctx, Customer
from lakefront.api.openapi import SIGNED_IN, responses
from lakefront.api.schemas import CartItemPut, CartPublic, Id, SessionId
from lakefront.shop import cart
from lakefront.shop.cart import CartView

router = APIRouter(prefix="/api/cart", tags=["cart"], responses=responses(*SIGNED_IN))


@router.get("", response_model=CartPublic)
def view(ctx: Ctx, customer: Customer) -> CartView:
    """The cart with current prices and totals."""
    return cart.view(ctx, customer["id"])


@router.put("/items/{product_id}", response_model=CartPublic, responses=responses(404))
def put_item(ctx: Ctx, customer: Customer, product_id: Id, body: CartItemPut,
             x_session_id: Annotated[SessionId | None, Header()] = None) -> CartView:
    """Set the quantity of a product in the cart."""
    return cart.set_quantity(ctx, customer["id"], product_id, body.quantity, x_session_id)


@router.delete("/items/{product_id}", response_model=CartPublic)
def delete_item(ctx: Ctx, customer: Customer, product_id: Id) -> CartView:
    """Remove a product from the cart."""
    return cart.remove(ctx, customer["id"], product_id)
