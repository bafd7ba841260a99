"""Clickstream recording: page views sent by the web tier (add-to-cart is recorded by the cart)."""

from __future__ import annotations

from lakefront.data.types import utcnow
from lakefront.shop import customers
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import NotAuthenticated


def record_page_view(ctx: ShopContext, *, session_id: str, customer_id: int | None,
                     product_id: int | None) -> None:
    with ctx.uow(write=True) as uow:
        uow.events.add(kind="page_view", session_id=session_id, customer_id=customer_id,
                       product_id=product_id, now=utcnow())
        uow.commit()


def record_page_views(ctx: ShopContext, views: list[tuple[str, int | None, str | None]]) -> None:
    """Record (session id, product id, bearer token or None) views in one transaction.

    Each distinct token is checked once; a view whose token no longer opens an account counts as
    anonymous rather than failing the others (analytics never refuses a shopper's page view).
    """
    owners: dict[str, int | None] = {}
    for token in {token for _, _, token in views if token}:
        try:
            owners[token] = int(customers.authenticate(ctx, token)["id"])
        except NotAuthenticated:
            owners[token] = None
    now = utcnow()
    with ctx.uow(write=True) as uow:
        uow.events.add_many([{"kind": "page_view", "session_id": session_id,
                              "customer_id": owners.get(token) if token else None, "product_id": product_id}
                             for session_id, product_id, token in views], now=now)
        uow.commit()
