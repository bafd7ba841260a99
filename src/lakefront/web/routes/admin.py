"""Store administration: the product list, creating and editing products, uploading images."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import lakefront.web.paths  # noqa: F401  (registers {name:id}: the ids these routes take)
from lakefront.web.body_limit import BodyTooLarge
from lakefront.web.client import Api, ApiError, Product
from lakefront.web.pages import (
    api,
    checked_form,
    form_str,
    nav_categories,
    page_number,
    redirect,
    render,
    require_admin,
)

MAX_PRICE_CENTS = 100_000_000
# The API names the price in cents; the form shows it as a decimal under another name.
_API_TO_FORM = {"price_cents": "price"}


def parse_price(raw: str) -> int:
    """'12.34' -> 1234, exactly (Decimal, never float); ValueError with a message for the form."""
    text = raw.strip().lstrip("$").replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("enter a price like 12.34") from None
    if not value.is_finite():
        raise ValueError("enter a price like 12.34")
    if value < 0:
        raise ValueError("the price cannot be negative")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError("at most two digits after the decimal point")
    if cents > MAX_PRICE_CENTS:
        raise ValueError("the price is too high")
    return int(cents)


def format_price(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _int_field(raw: str, name: str, errors: dict[str, str]) -> int | None:
    try:
        return int(raw)
    except ValueError:
        errors[name] = "enter a whole number"
        return None


def _read_product_form(form: FormData, *, with_sku: bool) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(API fields, form values to show again, field errors)."""
    values = {name: form_str(form, name) for name in ("sku", "name", "description", "category_id",
                                                       "price", "stock")}
    values["is_active"] = "1" if form.get("is_active") else ""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"name": values["name"], "description": values["description"],
                            "is_active": bool(values["is_active"])}
    if with_sku:
        data["sku"] = values["sku"]
    try:
        data["price_cents"] = parse_price(values["price"])
    except ValueError as exc:
        errors["price"] = str(exc)
    for name in ("category_id", "stock"):
        number = _int_field(values[name], name, errors)
        if number is not None:
            data[name] = number
    return data, values, errors


def _api_errors(exc: ApiError) -> dict[str, str]:
    return {_API_TO_FORM.get(name, name): message for name, message in exc.field_errors.items()}


def _values_of(found: Product) -> dict[str, str]:
    return {"sku": found.sku, "name": found.name, "description": found.description,
            "category_id": str(found.category_id), "price": format_price(found.price_cents),
            "stock": str(found.stock), "is_active": "1" if found.is_active else ""}


async def _form_page(request: Request, *, product: Product | None, values: dict[str, str],
                     errors: dict[str, str], message: str = "", status: int = 200) -> Response:
    return await render(request, "admin/product_form.html", {
        "title": f"Edit {product.name}" if product else "New product", "product": product,
        "values": values, "errors": errors, "message": message,
        "categories": await nav_categories(request),
    }, status=status)


async def _admin_product(client: Api, product_id: int) -> Product:
    # The admin lookup, unlike the public one, also finds products hidden from the shop.
    return await client.admin_product(product_id)


async def products(request: Request) -> Response:
    require_admin(request)
    q = request.query_params.get("q", "").strip()[:200]
    results = await api(request).admin_products(q or None, page_number(request))
    return await render(request, "admin/products.html", {
        "title": "Products", "q": q, "results": results, "base_query": {"q": q},
    })


async def new_product_page(request: Request) -> Response:
    require_admin(request)
    return await _form_page(request, product=None, values={"is_active": "1"}, errors={})


async def create_product(request: Request) -> Response:
    form = await checked_form(request)
    require_admin(request)
    data, values, errors = _read_product_form(form, with_sku=True)
    if errors:
        return await _form_page(request, product=None, values=values, errors=errors, status=422)
    try:
        created = await api(request).admin_create_product(data)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _form_page(request, product=None, values=values, errors=_api_errors(exc),
                                message=exc.detail or exc.title, status=exc.status)
    return redirect(f"/admin/products/{created.id}/edit?saved=1")


async def edit_product_page(request: Request) -> Response:
    require_admin(request)
    found = await _admin_product(api(request), request.path_params["product_id"])
    saved = "Saved." if request.query_params.get("saved") else ""
    return await _form_page(request, product=found, values=_values_of(found), errors={}, message=saved)


async def update_product(request: Request) -> Response:
    form = await checked_form(request)
    require_admin(request)
    client = api(request)
    found = await _admin_product(client, request.path_params["product_id"])
    data, values, errors = _read_product_form(form, with_sku=False)
    values["sku"] = found.sku
    if errors:
        return await _form_page(request, product=found, values=values, errors=errors, status=422)
    current = found.model_dump()
    changes = {name: value for name, value in data.items() if current.get(name) != value}
    if changes:
        try:
            await client.admin_update_product(found.id, changes)
        except ApiError as exc:
            if exc.status == 404:
                raise
            return await _form_page(request, product=found, values=values, errors=_api_errors(exc),
                                    message=exc.detail or exc.title, status=exc.status)
    return redirect(f"/admin/products/{found.id}/edit?saved=1")


async def upload_image(request: Request) -> Response:
    require_admin(request)
    client = api(request)
    found = await _admin_product(client, request.path_params["product_id"])
    limit = request.app.state.settings.media.max_upload_bytes
    too_large = f"the file is larger than {limit // (1024 * 1024)} MB"
    try:
        form = await checked_form(request)
    except BodyTooLarge:
        # Declared or found while reading (a chunked body): either way this form's own message.
        return await _image_error(request, found, too_large, status=413)
    upload = form.get("image")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _image_error(request, found, "choose an image file")
    # Read one byte past the limit: enough to refuse an oversized file without holding all of it.
    content = await upload.read(limit + 1)
    if len(content) > limit:
        return await _image_error(request, found, too_large, status=413)
    try:
        await client.admin_upload_image(found.id, upload.filename, content,
                                        upload.content_type or "application/octet-stream")
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _image_error(request, found, exc.field_errors.get("image") or exc.detail or exc.title,
                                  status=413 if exc.status == 413 else 422)
    return redirect(f"/admin/products/{found.id}/edit?saved=1")


async def _image_error(request: Request, found: Product, error: str, status: int = 422) -> Response:
    return await _form_page(request, product=found, values=_values_of(found), errors={"image": error},
                            status=status)


routes = [
    Route("/admin", products, methods=["GET"], name="admin"),
    Route("/admin/products/new", new_product_page, methods=["GET"], name="admin_new"),
    Route("/admin/products/new", create_product, methods=["POST"]),
    Route("/admin/products/{product_id:id}/edit", edit_product_page, methods=["GET"], name="admin_edit"),
    Route("/admin/products/{product_id:id}/edit", update_product, methods=["POST"]),
    Route("/admin/products/{product_id:id}/image", upload_image, methods=["POST"], name="admin_image"),
]
