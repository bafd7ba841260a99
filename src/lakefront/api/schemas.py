"""The app tier's wire contract: what each endpoint accepts (XCreate/XUpdate) and returns (XPublic).

Money is always integer cents. Timestamps are ISO 8601 in UTC. Images are referred to by
object-store keys; GET /api/media/{key} returns their bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                      pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Sort = Literal["popular", "price_asc", "price_desc", "name", "newest"]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CategoryPublic(Public):
    id: int
    slug: str
    name: str
    description: str
    product_count: int


class ProductSummary(Public):
    id: int
    sku: str
    slug: str
    name: str
    price_cents: int
    category_id: int
    category_slug: str
    thumb_key: str | None
    in_stock: bool


class ProductPublic(ProductSummary):
    description: str
    category_name: str
    stock: int
    image_key: str | None
    is_active: bool
    updated_at: datetime


class Page(Public, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    pages: int


class HomePublic(Public):
    categories: list[CategoryPublic]
    popular: list[ProductSummary]
    newest: list[ProductSummary]


class SignUp(BaseModel):
    email: Email
    name: Name
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]


class SignIn(BaseModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class CustomerPublic(Public):
    id: int
    email: str
    name: str
    is_admin: bool


class TokenPublic(Public):
    token: str
    customer: CustomerPublic


class SignUpAccepted(Public):
    """The answer to every sign-up, new email or taken: it carries no token, the client signs in next."""

    email: str
    detail: str


class CartItemPut(BaseModel):
    quantity: int = Field(ge=1, le=99)


class CartLinePublic(Public):
    product: ProductSummary
    quantity: int
    line_total_cents: int


class CartPublic(Public):
    items: list[CartLinePublic]
    item_count: int
    total_cents: int


class OrderLinePublic(Public):
    product_id: int
    product_name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class OrderSummary(Public):
    id: int
    status: str
    total_cents: int
    item_count: int
    placed_at: datetime


class OrderPublic(OrderSummary):
    lines: list[OrderLinePublic]


class ProductCreate(BaseModel):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    category_id: int = Field(ge=1)
    price_cents: int = Field(ge=0, le=100_000_000)
    stock: int = Field(ge=0, le=1_000_000)
    is_active: bool = True


class ProductUpdate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    category_id: int | None = Field(None, ge=1)
    price_cents: int | None = Field(None, ge=0, le=100_000_000)
    stock: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = None


class EventCreate(BaseModel):
    kind: Literal["page_view"]
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    product_id: int | None = Field(None, ge=1)


class HealthPublic(Public):
    status: Literal["ok"]
    instance: str
    tier: Literal["app"]
    database: str
