"""Store administration through the web tier: access rules, product forms, image uploads, media."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image
from webstack import Browser, Stack, api_admin_token, api_create_product, browsing, running_stack

from lakefront.web.routes.admin import format_price, parse_price


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web-admin"), [("tools", "Tools"), ("paint", "Paint")]) as s:
        token = api_admin_token(s, "seed-admin@example.com")
        for i in range(1, 26):
            api_create_product(s, token, sku=f"HAM-{i:02d}", name=f"Hammer {i:02d}", category_id=1,
                               price_cents=1000 + i)
        api_create_product(s, token, sku="OLD-SAW", name="Old Saw", category_id=1, price_cents=500,
                           is_active=False)
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[Browser]:
    with browsing(stack, "boss@example.com", "Boss", admin=True) as b:
        yield b


def png_bytes(size: tuple[int, int] = (900, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def product_row(stack: Stack, sku: str) -> tuple[int, int, int, int]:
    import sqlite3

    with sqlite3.connect(stack.db_path) as db:
        row = db.execute("SELECT id, price_cents, stock, is_active FROM products WHERE sku = ?", (sku,)).fetchone()
    assert row is not None, sku
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.mark.parametrize(("text", "cents"), [("12.34", 1234), ("0", 0), ("7", 700), ("19.9", 1990),
                                             ("$1,299.99", 129999), (" 0.01 ", 1)])
def test_prices_typed_as_decimals_become_exact_cents(text: str, cents: int) -> None:
    assert parse_price(text) == cents
    assert parse_price(format_price(cents)) == cents


@pytest.mark.parametrize("text", ["", "abc", "12.345", "-1", "NaN", "Infinity", "1e9"])
def test_bad_prices_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_price(text)


def test_signed_out_visitors_are_sent_to_sign_in_from_admin(stack: Stack) -> None:
    b = Browser(stack.web_url)
    try:
        response = b.get("/admin")
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=/admin"
    finally:
        b.close()


def test_customers_who_are_not_admins_get_403(stack: Stack) -> None:
    b = Browser(stack.web_url)
    try:
        b.signup("plain@example.com", "Plain")
        for path in ("/admin", "/admin/products/new", "/admin/products/1/edit"):
            response = b.get(path)
            assert response.status_code == 403
            assert "Not allowed" in response.text
        refused = b.post("/admin/products/new", {"sku": "X", "name": "X", "category_id": "1", "price": "1",
                                                 "stock": "1"})
        assert refused.status_code == 403
        assert stack.count("SELECT COUNT(*) FROM products WHERE sku = 'X'") == 0
    finally:
        b.close()


def test_admin_product_list_includes_hidden_products_and_searches(admin: Browser) -> None:
    first = admin.get("/admin")
    assert first.status_code == 200
    assert "26 products" in first.text
    assert 'rel="next"' in first.text
    found = admin.get("/admin", params={"q": "saw"})
    assert "Old Saw" in found.text and "Hidden" in found.text
    assert "Hammer 01" not in found.text


def test_a_bad_price_is_shown_next_to_the_field_and_creates_nothing(stack: Stack, admin: Browser) -> None:
    response = admin.submit("/admin/products/new", "/admin/products/new", {
        "sku": "NAIL-1", "name": "Nails", "description": "", "category_id": "1", "price": "12.345",
        "stock": "10", "is_active": "1"})
    assert response.status_code == 422
    assert re.search(r'<p class="field-error" id="price-error">at most two digits', response.text)
    assert 'value="Nails"' in response.text
    assert stack.count("SELECT COUNT(*) FROM products WHERE sku = 'NAIL-1'") == 0


def test_an_error_from_the_app_tier_is_shown_on_the_form(admin: Browser) -> None:
    response = admin.submit("/admin/products/new", "/admin/products/new", {
        "sku": "HAM-01", "name": "Duplicate", "category_id": "1", "price": "1.00", "stock": "1",
        "is_active": "1"})
    assert response.status_code in (409, 422)
    assert 'class="alert"' in response.text


def test_admin_creates_and_edits_a_product(stack: Stack, admin: Browser) -> None:
    response = admin.submit("/admin/products/new", "/admin/products/new", {
        "sku": "PAINT-RED", "name": "Red Paint", "description": "One litre.", "category_id": "2",
        "price": "12.34", "stock": "7", "is_active": "1"})
    assert response.status_code == 303, response.text
    product_id, price, stock, active = product_row(stack, "PAINT-RED")
    assert (price, stock, active) == (1234, 7, 1)
    assert response.headers["location"] == f"/admin/products/{product_id}/edit?saved=1"
    form = admin.get(response.headers["location"])
    assert "Saved." in form.text and 'value="12.34"' in form.text

    edit = f"/admin/products/{product_id}/edit"
    response = admin.submit(edit, edit, {"name": "Red Paint", "description": "One litre.", "category_id": "2",
                                         "price": "9.99", "stock": "3"})
    assert response.status_code == 303
    assert product_row(stack, "PAINT-RED")[1:] == (999, 3, 0)
    # Unticking "shown in the shop" hides it from shoppers; the admin can still edit it.
    assert admin.get(f"/p/{product_id}").status_code == 404
    assert admin.get(edit).status_code == 200


def test_uploaded_image_is_shown_on_the_product_page_and_served_as_cacheable_media(
    stack: Stack, admin: Browser
) -> None:
    product_id = product_row(stack, "HAM-02")[0]
    edit = f"/admin/products/{product_id}/edit"
    response = admin.submit(edit, f"/admin/products/{product_id}/image",
                            files={"image": ("hammer.png", png_bytes(), "image/png")})
    assert response.status_code == 303, response.text

    page = admin.get(f"/p/{product_id}")
    image = re.search(r'<img src="/media/([^"]+)" alt="Hammer 02">', page.text)
    assert image
    listing = admin.get("/c/tools", params={"sort": "name"})
    thumb = re.search(r'<img src="/media/([^"]+)" alt="Hammer 02"', listing.text)
    assert thumb and thumb.group(1) != image.group(1)

    served = admin.get(f"/media/{thumb.group(1)}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    decoded = Image.open(io.BytesIO(served.content))
    assert decoded.format == "JPEG"
    assert max(decoded.size) <= 320
    full = Image.open(io.BytesIO(admin.get(f"/media/{image.group(1)}").content))
    assert max(full.size) > max(decoded.size)


def test_a_file_that_is_not_an_image_is_refused_with_the_app_tiers_reason(stack: Stack, admin: Browser) -> None:
    product_id = product_row(stack, "HAM-03")[0]
    edit = f"/admin/products/{product_id}/edit"
    response = admin.submit(edit, f"/admin/products/{product_id}/image",
                            files={"image": ("notes.png", b"this is not a picture", "image/png")})
    assert response.status_code == 422
    assert re.search(r'<p class="field-error" id="image-error">[^<]+</p>', response.text)
    assert stack.count("SELECT COUNT(*) FROM products WHERE id = ? AND image_key IS NOT NULL", product_id) == 0


def test_missing_media_is_a_404(admin: Browser) -> None:
    assert admin.get("/media/products/does-not-exist.jpg").status_code == 404


LIMIT = 8 * 1024 * 1024  # media.max_upload_bytes' default


@pytest.mark.parametrize(("size", "chunked"), [
    (LIMIT + 128 * 1024, False),  # the declared Content-Length is over the route's limit: nothing is read
    (LIMIT + 128 * 1024, True),  # no Content-Length: the limit is found while reading
    (LIMIT + 1, False),  # the body fits the route's limit, the file itself does not
], ids=["declared", "chunked", "one-byte-over"])
def test_an_upload_over_the_size_limit_gets_the_forms_own_message_and_reaches_nothing(
    stack: Stack, admin: Browser, size: int, chunked: bool
) -> None:
    product_id = product_row(stack, "HAM-04")[0]
    edit = f"/admin/products/{product_id}/edit"
    response = admin.submit(edit, f"/admin/products/{product_id}/image",
                            files={"image": ("huge.png", b"\0" * size, "image/png")}, chunked=chunked)
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    # The product's own form page, with the message under the image field.
    assert f'action="/admin/products/{product_id}/image"' in response.text
    assert re.search(r'<p class="field-error" id="image-error">the file is larger than 8 MB</p>', response.text)
    assert stack.count("SELECT COUNT(*) FROM products WHERE id = ? AND image_key IS NOT NULL", product_id) == 0
    assert admin.get(edit).status_code == 200  # and the connection and session still work


def test_a_form_post_far_over_any_forms_size_is_refused_with_the_413_page(admin: Browser) -> None:
    admin.get("/admin/products/new")
    response = admin.post("/admin/products/new", {"sku": "BIG", "name": "x" * (512 * 1024)}, chunked=True)
    assert response.status_code == 413
    assert "That upload is too large" in response.text
