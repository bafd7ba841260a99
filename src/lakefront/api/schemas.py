"""The app tier's wire contract: what each endpoint accepts (XCreate/XUpdate) and returns (XPublic).

Money is always integer cents. Timestamps are ISO 8601 in UTC. Images are referred to by
object-store keys; GET /api/media/{key} returns their bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

# Every bound below keeps a value the database cannot hold (or should never see) out of SQL: such a
# value is a 422 naming the field here, not an OverflowError or a driver error (a 500) there.
ID_MAX = 2**63 - 1
Id = Annotated[int, Interval(ge=1, le=ID_MAX)]
"""A row id: BIGINT in every table (data/tables.py)."""
PageNumber = Annotated[int, Interval(ge=1, le=10_000)]
PerPage = Annotated[int, Interval(ge=1, le=100)]
Quantity = Annotated[int, Interval(ge=1, le=99)]
Cents = Annotated[int, Interval(ge=0, le=100_000_000)]
Stock = Annotated[int, Interval(ge=0, le=1_000_000)]

# One line of text: no control characters (NUL included), which no name, key or search needs and
# which would otherwise travel into SQL, object keys and logs.
LINE = r"^[^\x00-\x1f\x7f]*$"
# Free text may keep its line breaks and tabs.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Slug = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=LINE)]
"""A category slug as a client may type it: anything printable up to the column's length; unknown is a 404."""
SearchWords = Annotated[str, StringConstraints(max_length=200, pattern=LINE)]
ObjectKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE)]
"""An object-store key as products refer to images (at most the image_key column's 200 characters)."""
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                      pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=LINE)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=LINE)]
Sort = Literal["popular", "price_asc", "price_desc", "name", "newest"]


class ProblemError(BaseModel):
    field: str
    """The input at fault: a body field (dotted for nested ones), a query or path parameter, or a header."""
    message: str


class Problem(BaseModel):
    """An error as RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = Field(default_factory=list)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """A request body: each field takes the JSON type the document declares, not something pydantic can
    coerce into it (false for 0, "12" for 12, 0 for false)."""

    model_config = ConfigDict(strict=True)


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


class SignUp(Input):
    email: Email
    name: Name
    password: Password


class SignIn(Input):
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


class CartItemPut(Input):
    quantity: Quantity


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


Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=LINE)]
ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160, pattern=LINE)]
Description = Annotated[str, StringConstraints(max_length=10_000, pattern=TEXT)]


class ProductCreate(Input):
    sku: Sku
    name: ProductName
    description: Description = ""
    category_id: Id
    price_cents: Cents
    stock: Stock
    is_active: bool = True


class ProductUpdate(Input):
    name: ProductName | None = None
    description: Description | None = None
    category_id: Id | None = None
    price_cents: Cents | None = None
    stock: Stock | None = None
    is_active: bool | None = None


class EventCreate(Input):
    kind: Literal["page_view"]
    session_id: SessionId
    product_id: Id | None = None


MAX_BATCH = 500
BearerToken = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]


class PageView(Input):
    session_id: SessionId
    product_id: Id | None = None
    token: BearerToken | None = None
    """The bearer token of the shopper who viewed the page, if signed in; an invalid or expired one
    records the view as anonymous."""


class PageViewBatch(Input):
    views: Annotated[list[PageView], Field(min_length=1, max_length=MAX_BATCH)]


class HealthPublic(Public):
    status: Literal["ok"]
    instance: str
    tier: Literal["app"]
    database: str
