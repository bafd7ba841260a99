"""The cart, checkout and order history of the signed-in customer."""

from __future__ import annotations

import re
import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import lakefront.web.paths  # noqa: F401  (registers {name:id}: the ids these routes take)
from lakefront.web.client import ApiError
from lakefront.web.pages import (
    analytics_session,
    api,
    checked_form,
    form_str,
    redirect,
    render,
    require_signin,
    signed_in,
    signin_url,
)

MAX_QUANTITY = 99
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _quantity(raw: str, default: int = 1) -> int:
    try:
        return max(1, min(int(raw), MAX_QUANTITY))
    except ValueError:
        return default


async def _cart_page(request: Request, message: str = "", status: int = 200) -> Response:
    cart = await api(request).cart()
    return await render(request, "cart/cart.html", {"title": "Your cart", "cart": cart, "message": message},
                        status=status)


async def cart(request: Request) -> Response:
    require_signin(request)
    return await _cart_page(request)


async def add_to_cart(request: Request) -> Response:
    form = await checked_form(request)
    product_id = request.path_params["product_id"]
    if not signed_in(request):
        return redirect(signin_url(f"/p/{product_id}"))
    client = api(request)
    wanted = _quantity(form_str(form, "quantity"))
    current = await client.cart()
    already = next((line.quantity for line in current.items if line.product.id == product_id), 0)
    try:
        await client.set_cart_item(product_id, min(already + wanted, MAX_QUANTITY), analytics_session(request))
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _cart_page(request, exc.detail or exc.title, status=exc.status)
    return redirect("/cart")


async def update_item(request: Request) -> Response:
    form = await checked_form(request)
    require_signin(request, "/cart")
    try:
        await api(request).set_cart_item(request.path_params["product_id"], _quantity(form_str(form, "quantity")))
    except ApiError as exc:
        return await _cart_page(request, exc.detail or exc.title, status=exc.status)
    return redirect("/cart")


async def remove_item(request: Request) -> Response:
    await checked_form(request)
    require_signin(request, "/cart")
    try:
        await api(request).remove_cart_item(request.path_params["product_id"])
    except ApiError as exc:
        if exc.status != 404:  # already gone is what the shopper wanted
            raise
    return redirect("/cart")


async def checkout_page(request: Request) -> Response:
    require_signin(request)
    current = await api(request).cart()
    if not current.items:
        return redirect("/cart")
    # A fresh key per rendering: a double-click or a retried POST of this form places one order.
    return await render(request, "cart/checkout.html", {
        "title": "Checkout", "cart": current, "idempotency_key": uuid.uuid4().hex,
    })


async def place_order(request: Request) -> Response:
    form = await checked_form(request)
    require_signin(request, "/checkout")
    key = form_str(form, "idempotency_key")
    # The form carries a uuid4 hex; anything else (empty, too long, control characters) never leaves this
    # tier: it would be an invalid header on the way to the app tier.
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise HTTPException(400, "The checkout form is incomplete. Please try again.")
    try:
        order = await api(request).place_order(key)
    except ApiError as exc:
        if exc.status in (409, 422, 400):
            return await _cart_page(request, exc.detail or exc.title, status=exc.status)
        raise
    return redirect(f"/orders/{order.id}")


async def orders(request: Request) -> Response:
    require_signin(request)
    rows = await api(request).orders()
    return await render(request, "orders/list.html", {"title": "Your orders", "orders": rows})


async def order(request: Request) -> Response:
    require_signin(request)
    found = await api(request).order(request.path_params["order_id"])
    return await render(request, "orders/detail.html", {"title": f"Order #{found.id}", "order": found})


routes = [
    Route("/cart", cart, methods=["GET"], name="cart"),
    Route("/cart/items/{product_id:id}/add", add_to_cart, methods=["POST"], name="cart_add"),
    Route("/cart/items/{product_id:id}", update_item, methods=["POST"], name="cart_update"),
    Route("/cart/items/{product_id:id}/remove", remove_item, methods=["POST"], name="cart_remove"),
    Route("/checkout", checkout_page, methods=["GET"], name="checkout"),
    Route("/checkout", place_order, methods=["POST"]),
    Route("/orders", orders, methods=["GET"], name="orders"),
    Route("/orders/{order_id:id}", order, methods=["GET"], name="order"),
]
