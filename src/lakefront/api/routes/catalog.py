"""Catalog reads: home, categories, listings, search, product pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lakefront.api.deps import Ctx
from lakefront.api.openapi import responses
from lakefront.api.schemas import (
    CategoryPublic,
    HomePublic,
    Id,
    Page,
    PageNumber,
    PerPage,
    ProductPublic,
    ProductSummary,
    SearchWords,
    Slug,
    Sort,
)
from lakefront.data.repos.rows import CategoryRow
from lakefront.shop import catalog
from lakefront.shop.catalog import Home, ProductPage, PublicProduct

router = APIRouter(prefix="/api", tags=["catalog"], responses=responses(503))


@router.get("/home", response_model=HomePublic)
def home(ctx: Ctx) -> Home:
    """Categories, popular and newest products for the home page."""
    return catalog.home(ctx)


@router.get("/categories", response_model=list[CategoryPublic])
def categories(ctx: Ctx) -> list[CategoryRow]:
    """Every category with its number of active products."""
    return catalog.categories(ctx)


@router.get("/categories/{slug}", response_model=CategoryPublic, responses=responses(404))
def category(ctx: Ctx, slug: Slug) -> CategoryRow:
    """One category by slug."""
    return catalog.category(ctx, slug)


@router.get("/products", response_model=Page[ProductSummary], responses=responses(404))
def products(
    ctx: Ctx,
    q: Annotated[SearchWords | None, Query(description="Words that must all match")] = None,
    category: Annotated[Slug | None, Query(description="A category slug; unknown is a 404")] = None,
    sort: Sort = "popular",
    page: PageNumber = 1,
    per_page: PerPage = 24,
) -> ProductPage:
    """A page of active products, by category and/or search words, sorted."""
    return catalog.products(ctx, category_slug=category, query=q, sort=sort, page=page, per_page=per_page)


@router.get("/products/{product_id}", response_model=ProductPublic, responses=responses(404))
def product(ctx: Ctx, product_id: Id) -> PublicProduct:
    """One active product."""
    return catalog.product(ctx, product_id)
