"""Clickstream events reported by the web tier."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lakefront.api.deps import Ctx, MaybeCustomer
from lakefront.api.openapi import responses
from lakefront.api.schemas import EventCreate, PageViewBatch
from lakefront.shop import events

router = APIRouter(prefix="/api", tags=["events"])


# Anonymous or signed in: `{}` in the security list makes the bearer token optional.
@router.post("/events", status_code=204, response_class=Response, responses=responses(401, 503),
             openapi_extra={"security": [{}]})
def record(ctx: Ctx, customer: MaybeCustomer, body: EventCreate) -> Response:
    """Record a page view (anonymous, or the signed-in customer's)."""
    events.record_page_view(ctx, session_id=body.session_id, customer_id=customer["id"] if customer else None,
                            product_id=body.product_id)
    return Response(status_code=204)


@router.post("/events/page-views", status_code=204, response_class=Response, responses=responses(503),
             openapi_extra={"security": [{}]})
def record_batch(ctx: Ctx, body: PageViewBatch) -> Response:
    """Record a batch of page views, each with its shopper's token or none (the web tier batches them)."""
    events.record_page_views(ctx, [(view.session_id, view.product_id, view.token) for view in body.views])
    return Response(status_code=204)
