"""Browsing: home, category listings, search, product pages and product images."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import lakefront.web.paths  # noqa: F401  (registers {name:id}: the ids these routes take)
from lakefront.media_keys import is_image_key
from lakefront.web.pages import SORTS, analytics_session, api, page_number, render

log = logging.getLogger("lakefront.web")

PER_PAGE = 24
MAX_QUERY = 200


def _sort(request: Request, default: str) -> str:
    sort = request.query_params.get("sort", default)
    return sort if sort in SORTS else default


async def home(request: Request) -> Response:
    data = await api(request).home()
    return await render(request, "catalog/home.html", {"home": data})


async def category(request: Request) -> Response:
    slug = request.path_params["slug"]
    sort = _sort(request, "popular")
    client = api(request)
    found = await client.category(slug)
    results = await client.products(category=slug, sort=sort, page=page_number(request), per_page=PER_PAGE)
    return await render(request, "catalog/category.html", {
        "title": found.name, "category": found, "results": results, "sort": sort,
        "base_query": {"sort": sort},
    })


async def search(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:MAX_QUERY]
    sort = _sort(request, "popular")
    results = None
    if q:
        results = await api(request).products(q=q, sort=sort, page=page_number(request), per_page=PER_PAGE)
    return await render(request, "catalog/search.html", {
        "title": f"Search: {q}" if q else "Search", "q": q, "results": results, "sort": sort,
        "base_query": {"q": q, "sort": sort},
    })


async def product(request: Request) -> Response:
    product_id = request.path_params["product_id"]
    client = api(request)
    found = await client.product(product_id)
    if not found.is_active:
        raise HTTPException(404)
    # Batched with other views and sent after the page (web/pageviews.py): no call on the page's path.
    request.app.state.page_views.add(analytics_session(request), found.id, client.token)
    return await render(request, "catalog/product.html", {
        "title": found.name, "product": found, "max_quantity": max(1, min(found.stock, 99)),
    })


async def media(request: Request) -> Response:
    key = request.path_params["key"]
    if not is_image_key(key):  # only product images are public: nothing else is even asked for
        raise HTTPException(404)
    content, content_type = await api(request).media(key)
    # Keys are generated per upload and never reused, so the bytes behind one never change.
    return Response(content, media_type=content_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


routes = [
    Route("/", home, name="home"),
    Route("/c/{slug}", category, name="category"),
    Route("/search", search, name="search"),
    Route("/p/{product_id:id}", product, name="product"),
    Route("/p/{product_id:id}/{slug}", product, name="product_slug"),
    Route("/media/{key:path}", media, name="media"),
]
