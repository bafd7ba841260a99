"""The web tier's only way to reach the app tier: typed calls over HTTP through the internal listener.

Every value put into an app-tier URL path goes through lakefront.web.paths (the 404 page for one that
cannot name anything, percent-encoded otherwise). The models below mirror ``lakefront/api/schemas.py``
(the wire contract) on purpose instead of importing it: the web tier is deployed and scaled apart from
the app tier and may only depend on what crosses the wire.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import BaseModel, TypeAdapter, ValidationError

from lakefront.web import paths

log = logging.getLogger("lakefront.web")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


class Wire(BaseModel):
    # The app tier may add fields before the web tier knows them; ignoring them keeps old web
    # instances working during a rolling deploy.
    model_config = {"extra": "ignore"}


class Category(Wire):
    id: int
    slug: str
    name: str
    description: str = ""
    product_count: int = 0


class ProductSummary(Wire):
    id: int
    sku: str
    slug: str
    name: str
    price_cents: int
    category_id: int
    category_slug: str
    thumb_key: str | None = None
    in_stock: bool


class Product(ProductSummary):
    description: str = ""
    category_name: str
    stock: int
    image_key: str | None = None
    is_active: bool = True
    updated_at: datetime


class Page(Wire, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    pages: int


class Home(Wire):
    categories: list[Category]
    popular: list[ProductSummary]
    newest: list[ProductSummary]


class Customer(Wire):
    id: int
    email: str
    name: str
    is_admin: bool = False


class Token(Wire):
    token: str
    customer: Customer


class CartLine(Wire):
    product: ProductSummary
    quantity: int
    line_total_cents: int


class Cart(Wire):
    items: list[CartLine]
    item_count: int
    total_cents: int


class OrderLine(Wire):
    product_id: int
    product_name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class OrderSummary(Wire):
    id: int
    status: str
    total_cents: int
    item_count: int
    placed_at: datetime


class Order(OrderSummary):
    lines: list[OrderLine]


# Analytics dashboards (the QuickSight role): definitions and data come from the app tier's
# /api/analytics, which reads the committed marts; the web tier only lays them out and proxies data.
class DashboardSummary(Wire):
    id: str
    title: str
    description: str = ""


class DashboardFilter(Wire):
    id: str
    type: str
    default_days: int | None = None


class Visual(Wire):
    # Kept open: the browser draws from the visual's definition, so fields the app tier adds later
    # (new encodings, options) reach it without a web-tier release.
    model_config = {"extra": "allow"}

    id: str
    title: str
    type: str
    dataset: str = ""
    filters: list[str] = []
    width: int = 12
    encoding: dict[str, Any] = {}
    format: dict[str, str] = {}
    drill: dict[str, str] | None = None


class DateBounds(Wire):
    min: date
    max: date


class CategoryRef(Wire):
    slug: str
    name: str


class Dashboard(DashboardSummary):
    filters: list[DashboardFilter] = []
    visuals: list[Visual] = []
    as_of: datetime | None = None
    run_id: str | None = None
    date_bounds: DateBounds | None = None
    categories: list[CategoryRef] = []
    empty: bool = False


@dataclass
class Download:
    content: bytes
    content_type: str
    disposition: str


class AppUnavailable(Exception):
    """The app tier could not answer: unreachable, timed out, 5xx, or an answer we cannot read."""


@dataclass
class ApiError(Exception):
    """A 4xx problem from the app tier (application/problem+json), with per-field messages."""

    status: int
    title: str
    detail: str = ""
    field_errors: dict[str, str] = field(default_factory=dict)
    retry_after_s: int | None = None
    """From Retry-After, on a 429: when the client may try again."""

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


def _field_name(raw: object) -> str:
    # The API may name a field "price_cents", "body.price_cents" or as a location list;
    # forms only care about the last part.
    if isinstance(raw, list | tuple):
        raw = ".".join(str(part) for part in raw)
    return str(raw or "").rsplit(".", 1)[-1]


@dataclass
class Reply:
    """One app-tier answer, read whole: what the calls below need of it."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def reason_phrase(self) -> str:
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    def json(self) -> Any:
        return json.loads(self.content)


def _problem(response: Reply) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors: dict[str, str] = {}
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            name = _field_name(item.get("field"))
            errors.setdefault(name, str(item.get("message", "")))
    retry_after = response.headers.get("retry-after", "")
    return ApiError(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase or "Error"),
        detail=str(body.get("detail") or ""),
        field_errors=errors,
        retry_after_s=int(retry_after) if retry_after.isdigit() else None,
    )


def _visual_path(dashboard_id: str, visual_id: str) -> str:
    return f"/api/analytics/dashboards/{paths.name_part(dashboard_id)}/visuals/{paths.name_part(visual_id)}"


_PRODUCT_PAGE = TypeAdapter(Page[ProductSummary])
_ADMIN_PAGE = TypeAdapter(Page[Product])
_CATEGORIES = TypeAdapter(list[Category])
_ORDERS = TypeAdapter(list[OrderSummary])
_DASHBOARDS = TypeAdapter(list[DashboardSummary])


class AppClient:
    """Holds the keep-alive connection pool to the app tier; one per web instance.

    aiohttp rather than httpx: httpx's pool checked every pooled socket for readability on each
    request, and that plus its layers were two thirds of a web instance's CPU per product page
    (py-spy, bench/RESULTS.md).
    """

    def __init__(self, base_url: str, timeout_s: float = 10.0, fallbacks: Sequence[str] = ()) -> None:
        self.base_urls = [url.rstrip("/") for url in (base_url, *fallbacks)]
        """The internal listener on each balancer node; calls go to the current one until it fails."""
        self._current = 0
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 3.0))
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return self.base_urls[self._current]

    @property
    def current(self) -> int:
        return self._current

    def node_failed(self, index: int) -> int:
        """Node `index` refused a connection: later calls go to the next node (sticky, as a client that
        resolved a name again would be). Returns the next node's index. Only the node in use moves on, so
        concurrent calls that failed on the same node move once, not back and forth."""
        following = (index + 1) % len(self.base_urls)
        if self._current == index:
            self._current = following
        return following

    @property
    def http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop it belongs to.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30, ttl_dns_cache=None)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                                  headers={"Accept": "application/json"},
                                                  skip_auto_headers=("User-Agent",))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def bind(self, request_id: str, token: str | None, forwarded_for: str = "") -> Api:
        return Api(self, request_id, token, forwarded_for)


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _safe_to_retry(method: str, headers: Mapping[str, str], exc: BaseException) -> bool:
    """Never sent, idempotent by method, or made idempotent by its key (checkout)."""
    return (isinstance(exc, aiohttp.ClientConnectorError) or method in _IDEMPOTENT
            or "Idempotency-Key" in headers)


def _body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """httpx-style keywords (json, params, files) as aiohttp's."""
    files = kwargs.pop("files", None)
    if files:
        form = aiohttp.FormData()
        for name, (filename, content, content_type) in files.items():
            form.add_field(name, content, filename=filename, content_type=content_type)
        kwargs["data"] = form
    return kwargs


class Api:
    """App-tier calls on behalf of one incoming request (its request id and signed-in user)."""

    def __init__(self, client: AppClient, request_id: str, token: str | None, forwarded_for: str = "") -> None:
        self._client = client
        self.request_id = request_id
        self.token = token
        self.forwarded_for = forwarded_for
        """The X-Forwarded-For chain to pass on: the app tier takes the shopper's address from it."""

    async def _send(self, method: str, path: str, *, extra_headers: dict[str, str] | None = None,
                    **kwargs: Any) -> Reply:
        headers = {"X-Request-Id": self.request_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        if extra_headers:
            headers.update(extra_headers)
        retried, moved, node = False, 0, self._client.current
        while True:
            url = self._client.base_urls[node] + path
            try:
                async with self._client.http.request(method, url, headers=headers, **_body(dict(kwargs))) as answer:
                    response = Reply(answer.status, answer.headers, await answer.read())
                break
            except (TimeoutError, aiohttp.ClientError) as exc:
                # A pooled keep-alive connection can be closed under us (the balancer reloading its
                # config, an instance dying): retry once when repeating the request cannot do harm,
                # as RFC 9112 section 9.3.1 allows and browsers do. Nobody listening means the balancer
                # node died: then the retry, and later calls, go to the next node, each node once.
                if _safe_to_retry(method, headers, exc):
                    if isinstance(exc, aiohttp.ClientConnectorError) and moved < len(self._client.base_urls) - 1:
                        moved += 1
                        node = self._client.node_failed(node)
                        log.info("retrying rid=%s %s %s on %s after %s", self.request_id, method, path,
                                 self._client.base_urls[node], type(exc).__name__)
                        continue
                    if not retried:
                        retried = True
                        log.info("retrying rid=%s %s %s after %s", self.request_id, method, path,
                                 type(exc).__name__)
                        continue
                log.warning("app tier unreachable rid=%s %s %s: %s", self.request_id, method, path,
                            type(exc).__name__)
                raise AppUnavailable(str(exc)) from exc
        if response.status_code >= 500:
            log.warning("app tier error rid=%s %s %s -> %s", self.request_id, method, path,
                        response.status_code)
            raise AppUnavailable(f"{method} {path} -> {response.status_code}")
        if response.status_code >= 400:
            raise _problem(response)
        return response

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = await self._send(method, path, **kwargs)
        return self._read(lambda: model.model_validate_json(response.content), method, path)

    async def _adapted(self, adapter: TypeAdapter[T], method: str, path: str, **kwargs: Any) -> T:
        response = await self._send(method, path, **kwargs)
        return self._read(lambda: adapter.validate_json(response.content), method, path)

    def _read(self, parse: Callable[[], R], method: str, path: str) -> R:
        try:
            return parse()
        except ValidationError as exc:
            # A contract mismatch is the app tier's fault, not the shopper's: show the 503 page.
            log.error("unreadable app tier answer rid=%s %s %s: %s", self.request_id, method, path,
                      str(exc).splitlines()[0])
            raise AppUnavailable(f"unreadable answer from {path}") from exc

    # Catalog
    async def home(self) -> Home:
        return await self._model(Home, "GET", "/api/home")

    async def categories(self) -> list[Category]:
        return await self._adapted(_CATEGORIES, "GET", "/api/categories")

    async def category(self, slug: str) -> Category:
        return await self._model(Category, "GET", f"/api/categories/{paths.name_part(slug)}")

    async def products(self, *, category: str | None = None, q: str | None = None, sort: str | None = None,
                       page: int = 1, per_page: int = 24) -> Page[ProductSummary]:
        params: dict[str, str | int] = {"page": page, "per_page": per_page}
        if category:
            params["category"] = category
        if q:
            params["q"] = q
        if sort:
            params["sort"] = sort
        return await self._adapted(_PRODUCT_PAGE, "GET", "/api/products",
                                params=params)

    async def product(self, product_id: int) -> Product:
        return await self._model(Product, "GET", f"/api/products/{paths.id_part(product_id)}")

    async def media(self, key: str) -> tuple[bytes, str]:
        response = await self._send("GET", f"/api/media/{paths.key_part(key)}")
        return response.content, response.headers.get("content-type", "application/octet-stream")

    async def page_views(self, views: list[dict[str, object]]) -> None:
        """Record a batch of page views; each carries its shopper's token, if any (web/pageviews.py)."""
        await self._send("POST", "/api/events/page-views", json={"views": views})

    # Accounts
    async def signup(self, email: str, name: str, password: str) -> None:
        """Ask for the account. The answer is the same whether or not the email was free: sign in next."""
        await self._send("POST", "/api/auth/signup", json={"email": email, "name": name, "password": password})

    async def signin(self, email: str, password: str) -> Token:
        return await self._model(Token, "POST", "/api/auth/signin",
                                json={"email": email, "password": password})

    async def signout(self) -> None:
        await self._send("POST", "/api/auth/signout")

    async def me(self) -> Customer:
        return await self._model(Customer, "GET", "/api/me")

    # Cart and orders
    async def cart(self) -> Cart:
        return await self._model(Cart, "GET", "/api/cart")

    async def set_cart_item(self, product_id: int, quantity: int, session_id: str | None = None) -> None:
        # The session id ties the add-to-cart event to the page views before it (the funnel).
        headers = {"X-Session-Id": session_id} if session_id else None
        await self._send("PUT", f"/api/cart/items/{paths.id_part(product_id)}", json={"quantity": quantity},
                         extra_headers=headers)

    async def remove_cart_item(self, product_id: int) -> None:
        await self._send("DELETE", f"/api/cart/items/{paths.id_part(product_id)}")

    async def place_order(self, idempotency_key: str) -> Order:
        return await self._model(Order, "POST", "/api/orders",
                                extra_headers={"Idempotency-Key": idempotency_key})

    async def orders(self) -> list[OrderSummary]:
        response = await self._send("GET", "/api/orders")
        body = response.json()
        # Tolerate a paged answer as well as a bare list: both carry the same rows.
        rows = body.get("items", []) if isinstance(body, dict) else body
        try:
            return _ORDERS.validate_python(rows)
        except ValidationError as exc:
            raise AppUnavailable("unreadable answer from /api/orders") from exc

    async def order(self, order_id: int) -> Order:
        return await self._model(Order, "GET", f"/api/orders/{paths.id_part(order_id)}")

    # Administration
    async def admin_products(self, q: str | None, page: int, per_page: int = 25) -> Page[Product]:
        params: dict[str, str | int] = {"page": page, "per_page": per_page}
        if q:
            params["q"] = q
        return await self._adapted(_ADMIN_PAGE, "GET", "/api/admin/products",
                                params=params)

    async def admin_product(self, product_id: int) -> Product:
        return await self._model(Product, "GET", f"/api/admin/products/{paths.id_part(product_id)}")

    async def admin_create_product(self, data: dict[str, Any]) -> Product:
        return await self._model(Product, "POST", "/api/admin/products", json=data)

    async def admin_update_product(self, product_id: int, changes: dict[str, Any]) -> Product:
        return await self._model(Product, "PATCH",
                                f"/api/admin/products/{paths.id_part(product_id)}", json=changes)

    async def admin_upload_image(self, product_id: int, filename: str, content: bytes,
                                 content_type: str) -> Product:
        return await self._model(Product, "PUT",
                                f"/api/admin/products/{paths.id_part(product_id)}/image",
                                files={"image": (filename, content, content_type)})

    # Analytics (admin only: the app tier answers 401/403 to anyone else)
    async def dashboards(self) -> list[DashboardSummary]:
        return await self._adapted(_DASHBOARDS, "GET", "/api/analytics/dashboards")

    async def dashboard(self, dashboard_id: str) -> Dashboard:
        return await self._model(Dashboard, "GET", f"/api/analytics/dashboards/{paths.name_part(dashboard_id)}")

    async def visual_data(self, dashboard_id: str, visual_id: str, filters: dict[str, str]) -> bytes:
        """The visual's rows as the app tier's JSON, unparsed: the web tier passes it to the browser."""
        response = await self._send("GET", _visual_path(dashboard_id, visual_id),
                                    params=filters)
        return response.content

    async def visual_csv(self, dashboard_id: str, visual_id: str, filters: dict[str, str]) -> Download:
        response = await self._send("GET", _visual_path(dashboard_id, visual_id),
                                    params={**filters, "format": "csv"}, extra_headers={"Accept": "text/csv"})
        return Download(response.content, response.headers.get("content-type", "text/csv"),
                        response.headers.get("content-disposition", ""))
