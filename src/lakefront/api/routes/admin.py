"""The admin area: products, their images. Admins only."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, File, Query, UploadFile

from lakefront.api.bootstrap import AppServices
from lakefront.api.deps import Admin, Ctx, services
from lakefront.api.openapi import ADMIN, responses
from lakefront.api.schemas import (
    Id,
    Page,
    PageNumber,
    PerPage,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    SearchWords,
)
from lakefront.data.repos.rows import ProductChanges, ProductFields
from lakefront.shop import catalog
from lakefront.shop.catalog import ProductPage, PublicProduct
from lakefront.shop.errors import InvalidInput

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=responses(*ADMIN))


@router.get("/products", response_model=Page[ProductPublic])
def list_products(ctx: Ctx, _: Admin, q: Annotated[SearchWords | None, Query()] = None,
                  page: PageNumber = 1, per_page: PerPage = 50) -> ProductPage:
    """Every product, active or not."""
    return catalog.admin_products(ctx, query=q, page=page, per_page=per_page)


@router.get("/products/{product_id}", response_model=ProductPublic, responses=responses(404))
def get_product(ctx: Ctx, _: Admin, product_id: Id) -> PublicProduct:
    """One product, active or not."""
    return catalog.product(ctx, product_id, include_inactive=True)


@router.post("/products", response_model=ProductPublic, status_code=201, responses=responses(409))
def create_product(ctx: Ctx, _: Admin, body: ProductCreate) -> PublicProduct:
    """Create a product."""
    # The schema has exactly ProductFields' fields (tests/unit/test_shop_rules.py checks it).
    return catalog.create_product(ctx, cast(ProductFields, body.model_dump()))


@router.patch("/products/{product_id}", response_model=ProductPublic, responses=responses(404))
def update_product(ctx: Ctx, _: Admin, product_id: Id, body: ProductUpdate) -> PublicProduct:
    """Change some of a product's fields."""
    changes = cast(ProductChanges, body.model_dump(exclude_unset=True, exclude_none=True))
    return catalog.update_product(ctx, product_id, changes)


@router.put("/products/{product_id}/image", response_model=ProductPublic, responses=responses(404))
def put_image(ctx: Ctx, _: Admin, product_id: Id, image: Annotated[UploadFile, File()],
              app: Annotated[AppServices, Depends(services)]) -> PublicProduct:
    """Upload a product image (JPEG, PNG, WebP, GIF or BMP); it is checked and re-encoded."""
    limit = app.settings.media.max_upload_bytes
    data = image.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput("image", f"the file is larger than {limit} bytes")
    return catalog.set_product_image(ctx, product_id, data)
