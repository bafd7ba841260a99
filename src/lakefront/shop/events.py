"""Clickstream recording: page views sent by the web tier (add-to-cart is recorded by the cart)."""

from __future__ import annotations

from lakefront.data.types import utcnow
from lakefront.shop.context import ShopContext


def record_page_view(ctx: ShopContext, *, session_id: str, customer_id: int | None,
                     product_id: int | None) -> None:
    with ctx.uow(write=True) as uow:
        uow.events.add(kind="page_view", session_id=session_id, customer_id=customer_id,
                       product_id=product_id, now=utcnow())
        uow.commit()
