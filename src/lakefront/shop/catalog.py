"""Catalog use cases: browse, search, product pages (cached), and the admin's product edits."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TypedDict, cast

from lakefront.data.repos.rows import CategoryRow, NewProduct, ProductChanges, ProductColumns, ProductFields, ProductRow
from lakefront.data.types import utcnow
from lakefront.data.uow import UnitOfWork
from lakefront.media_keys import is_image_key
from lakefront.shop import cachekeys
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import Conflict, InvalidInput, NotFound
from lakefront.shop.media import CONTENT_TYPE, process_image

MAX_PER_PAGE = 100
MAX_QUERY_WORDS = 8


class PublicProduct(ProductColumns):
    """A product row, JSON-ready (times in ISO 8601), with whether it is in stock."""

    created_at: str
    updated_at: str
    in_stock: bool


class ProductPage(TypedDict):
    items: list[PublicProduct]
    page: int
    per_page: int
    total: int
    pages: int


class Home(TypedDict):
    categories: list[CategoryRow]
    popular: list[PublicProduct]
    newest: list[PublicProduct]


def public_product(product: ProductRow) -> PublicProduct:
    """JSON-ready product: the same shape whether it came from the cache or the database."""
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in product.items()}
    out["in_stock"] = int(product["stock"]) > 0
    out["is_active"] = bool(out["is_active"])
    return cast(PublicProduct, out)


def _paged(items: list[ProductRow], total: int, page: int, per_page: int) -> ProductPage:
    return {"items": [public_product(p) for p in items], "page": page, "per_page": per_page, "total": total,
            "pages": max(1, math.ceil(total / per_page))}


def _check_paging(page: int, per_page: int) -> None:
    if page < 1:
        raise InvalidInput("page", "must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput("per_page", f"must be between 1 and {MAX_PER_PAGE}")


def _fill(ctx: ShopContext) -> UnitOfWork:
    """A read that fills the shared cache: from a standby, unless a catalog write is younger than the
    standby's lag bound (the standby may not have it yet, and the cache would keep the stale rows)."""
    fresh = ctx.uow.reads_may_lag and ctx.cache.recently_written(cachekeys.CATALOG)
    return ctx.uow(fresh=fresh)


def mark_written(ctx: ShopContext, keys: list[str], namespaces: list[str]) -> None:
    """After a catalog write commits: retire what it made stale, and keep refills off lagging standbys."""
    ctx.cache.invalidate(keys, namespaces, written=cachekeys.CATALOG, written_for_s=ctx.uow.fresh_window_s)


def categories(ctx: ShopContext) -> list[CategoryRow]:
    def load() -> list[CategoryRow]:
        with _fill(ctx) as uow:
            return uow.catalog.categories()

    return ctx.cache.get_or_load(cachekeys.categories(ctx.cache.version(cachekeys.CATALOG)),
                                 cachekeys.CATEGORIES_TTL_S, load)


def category(ctx: ShopContext, slug: str) -> CategoryRow:
    found = next((c for c in categories(ctx) if c["slug"] == slug), None)
    if found is None:
        raise NotFound("category", slug)
    return found


def home(ctx: ShopContext) -> Home:
    def load() -> dict[str, list[PublicProduct]]:
        with _fill(ctx) as uow:
            popular, _ = uow.catalog.page(sort="popular", limit=8)
            newest, _ = uow.catalog.page(sort="newest", limit=8)
        return {"popular": [public_product(p) for p in popular], "newest": [public_product(p) for p in newest]}

    data = ctx.cache.get_or_load(cachekeys.home(ctx.cache.version(cachekeys.CATALOG)), cachekeys.HOME_TTL_S, load)
    return {"categories": categories(ctx), "popular": data["popular"], "newest": data["newest"]}


def product(ctx: ShopContext, product_id: int, *, include_inactive: bool = False) -> PublicProduct:
    def load() -> PublicProduct | None:
        with _fill(ctx) as uow:
            found = uow.catalog.product(product_id)
        return None if found is None else public_product(found)

    found = ctx.cache.get_or_load(cachekeys.product(product_id), cachekeys.PRODUCT_TTL_S, load)
    if found is None or (not found["is_active"] and not include_inactive):
        raise NotFound("product", product_id)
    return found


def products(ctx: ShopContext, *, category_slug: str | None = None, query: str | None = None,
             sort: str = "popular", page: int = 1, per_page: int = 24) -> ProductPage:
    """A page of active products in a category and/or matching every word of a search query."""
    _check_paging(page, per_page)
    words = (query or "").split()[:MAX_QUERY_WORDS]
    category_id = category(ctx, category_slug)["id"] if category_slug else None

    def load() -> ProductPage:
        with _fill(ctx) as uow:
            items, total = uow.catalog.page(category_id=category_id, words=words, sort=sort,
                                            offset=(page - 1) * per_page, limit=per_page)
        return _paged(items, total, page, per_page)

    generation = ctx.cache.version(cachekeys.CATALOG)
    if words:
        key = cachekeys.search(generation, " ".join(words).lower(), category_slug or "", sort, page, per_page)
        return ctx.cache.get_or_load(key, cachekeys.SEARCH_TTL_S, load)
    key = cachekeys.listing(generation, category_slug or "", sort, page, per_page)
    return ctx.cache.get_or_load(key, cachekeys.LISTING_TTL_S, load)


# Admin


def _invalidate_product(ctx: ShopContext, product_id: int) -> None:
    mark_written(ctx, [cachekeys.product(product_id)], [cachekeys.CATALOG])


def admin_products(ctx: ShopContext, *, query: str | None, page: int, per_page: int) -> ProductPage:
    """Every product, active or not, straight from the primary: admins see their own edits."""
    _check_paging(page, per_page)
    with ctx.uow(write=True) as uow:
        items, total = uow.catalog.page(words=(query or "").split()[:MAX_QUERY_WORDS], sort="name",
                                        offset=(page - 1) * per_page, limit=per_page, include_inactive=True)
    return _paged(items, total, page, per_page)


def _commit_and_read(ctx: ShopContext, uow: UnitOfWork, product_id: int) -> PublicProduct:
    """Commit a product write, retire what it made stale, and return the product as it now is."""
    uow.after_commit(lambda: _invalidate_product(ctx, product_id))
    uow.commit()
    stored = uow.catalog.product(product_id)
    assert stored is not None
    return public_product(stored)


def _slugify(name: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower())
    return "-".join(filter(None, slug.split("-")))[:160] or "product"


def create_product(ctx: ShopContext, values: ProductFields) -> PublicProduct:
    now = utcnow()
    with ctx.uow(write=True) as uow:
        if not uow.catalog.category_exists(values["category_id"]):
            raise InvalidInput("category_id", f"no category {values['category_id']}")
        if uow.catalog.sku_taken(values["sku"]):
            raise Conflict(f"SKU {values['sku']!r} is already used", "sku")
        new: NewProduct = {**values, "slug": _slugify(values["name"])}
        return _commit_and_read(ctx, uow, uow.catalog.add_product(new, now))


def update_product(ctx: ShopContext, product_id: int, changes: ProductChanges) -> PublicProduct:
    now = utcnow()
    with ctx.uow(write=True) as uow:
        if uow.catalog.product(product_id) is None:
            raise NotFound("product", product_id)
        if "category_id" in changes and not uow.catalog.category_exists(changes["category_id"]):
            raise InvalidInput("category_id", f"no category {changes['category_id']}")
        if "name" in changes:
            changes = {**changes, "slug": _slugify(changes["name"])}
        if changes:
            uow.catalog.update_product(product_id, changes, now)
        return _commit_and_read(ctx, uow, product_id)


def set_product_image(ctx: ShopContext, product_id: int, data: bytes) -> PublicProduct:
    """Check and re-encode an upload, store both sizes, then point the product at them."""
    with ctx.uow(fresh=True) as uow:  # an admin may upload right after creating it
        if uow.catalog.product(product_id) is None:
            raise NotFound("product", product_id)
    image = process_image(data, ctx.image_limits)
    # Objects first, row second: a crash in between leaves an unreferenced object, never a broken page.
    ctx.images.put(image.image_key, image.image, CONTENT_TYPE)
    ctx.images.put(image.thumb_key, image.thumb, CONTENT_TYPE)
    return update_product(ctx, product_id, {"image_key": image.image_key, "thumb_key": image.thumb_key})


def media(ctx: ShopContext, key: str) -> tuple[bytes, str]:
    """A product image's bytes and type; NotFound for any key not shaped like one, without reading the store."""
    if not is_image_key(key):
        raise NotFound("object", key)
    try:
        return ctx.images.get(key)
    except (FileNotFoundError, ValueError):
        raise NotFound("object", key) from None
