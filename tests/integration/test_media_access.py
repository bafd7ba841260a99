"""Only product images are public: through the app tier's /api/media and the web tier's /media, a key of the
lake (the raw customers extract, a mart) or a made-up one is a 404, in both profiles, while a product image is 200.

Issue #11: lake keys built from run ids the admin API shows used to download through both tiers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lakefront.analytics.extract import run_extract
from lakefront.data.objects import make_object_store
from lakefront.settings import ExtractSettings
from support import Api, AppStack, Instance, Instances, app_stack, free_port, profile_settings, start_instance

# Image-shaped, but stored in the lake bucket only: the shape check lets it through, the bucket does not.
IMAGE_SHAPED_IN_LAKE = "products/cd/cd0123456789abcdef0123456789abcd.jpg"
BACKUP = "base/20260101T000000000Z/db.sql.gz"
IMAGE_SHAPED_IN_BACKUPS = "products/ba/ba0123456789abcdef0123456789abcd.jpg"
MART = "lake/marts/mart_daily_sales/dt=2026-01-01/20260101T000000Z-0badc0de-part-00000.parquet"


@dataclass
class Shop:
    app: AppStack
    web: Instance
    orphan_web: Instance
    """A web instance whose app tier is not there: what it answers shows what it would have forwarded."""
    image_keys: list[str]
    not_public: dict[str, str]
    """Keys that must never be served, by what they are."""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


def _web_env(app: AppStack, app_port: int) -> dict[str, str]:
    # The web tier reaches the app tier at the internal listener's port; never the default ports.
    return app.env | {"LAKEFRONT_LB__INTERNAL_PORT": str(app_port), "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()),
                      "LAKEFRONT_LB__ADMIN_PORT": str(free_port()),
                      "LAKEFRONT_SECRET_KEY": "media-tests-secret-key-0123456789"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[Shop]:
    var_dir: Path = tmp_path_factory.mktemp("media")
    with app_stack(var_dir, 1, profile_env) as app:
        url = app.instances[0].url
        Api(url).sign_up("boss@example.com")
        Api(url).sign_up("shopper@example.com", name="Private Person")
        app.db.make_admin("boss@example.com")
        admin = Api(url).sign_in("boss@example.com")
        created = admin.request("POST", "/api/admin/products", json={
            "sku": "MUG-1", "name": "Mug", "description": "", "category_id": app.db.add_category(),
            "price_cents": 900, "stock": 5})
        assert created.status_code == 201, created.text
        uploaded = admin.request("PUT", f"/api/admin/products/{created.json()['id']}/image",
                                 files={"image": ("mug.png", _png(), "image/png")})
        assert uploaded.status_code == 200, uploaded.text
        product = uploaded.json()

        settings = profile_settings(var_dir, profile_env, extract=ExtractSettings(safety_lag_s=0))
        results = run_extract(settings, tables=["customers"])
        raw = next(key for r in results for key in r.files)
        lake = make_object_store(settings, "lake")
        images = make_object_store(settings, "images")
        backups = make_object_store(settings, "backups")
        try:
            # Where `lakefront backup` writes (control/backup), and an image-shaped key in the same bucket.
            backups.put(BACKUP, b"PAR1 -- MariaDB dump", "application/gzip")
            backups.put(IMAGE_SHAPED_IN_BACKUPS, b"not an image of ours", "image/jpeg")
            lake.put(MART, b"PAR1 marts", "application/vnd.apache.parquet")
            lake.put(IMAGE_SHAPED_IN_LAKE, b"not an image of ours", "image/jpeg")
            # Even a lake key that somehow sits in the images bucket is not served: the key's shape decides.
            images.put(raw, b"PAR1 copy", "application/vnd.apache.parquet")
        finally:
            for store in (lake, images, backups):
                close = getattr(store, "close", None)
                if close is not None:
                    close()

        group = Instances()
        try:
            group.items.append(start_instance("web", "web-1", _web_env(app, app.instances[0].port), var_dir))
            group.items.append(start_instance("web", "web-orphan", _web_env(app, free_port()), var_dir))
            yield Shop(app, group.items[0], group.items[1], [product["image_key"], product["thumb_key"]],
                       {"raw customers extract": raw, "mart": MART, "image-shaped lake key": IMAGE_SHAPED_IN_LAKE,
                        "backup": BACKUP, "image-shaped backup key": IMAGE_SHAPED_IN_BACKUPS,
                        "made-up": "secret.txt", "made-up image": "products/x.jpg",
                        "traversal": "products/../lake/raw/customers.csv"})
        finally:
            group.stop()


def _get(base: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=30) as client:
        return client.get(path)


@pytest.mark.parametrize("what", ["raw customers extract", "mart", "image-shaped lake key", "backup",
                                  "image-shaped backup key", "made-up",
                                  "made-up image", "traversal"])
def test_a_key_that_is_not_a_product_image_is_a_404_through_both_tiers(shop: Shop, what: str) -> None:
    key = shop.not_public[what]

    for base, path in ((shop.app.instances[0].url, f"/api/media/{key}"), (shop.web.url, f"/media/{key}")):
        response = _get(base, path)
        assert response.status_code == 404, (base, key)
        assert b"PAR1" not in response.content and b"not an image of ours" not in response.content


def test_a_product_image_and_its_thumbnail_are_served_through_both_tiers(shop: Shop) -> None:
    for key in shop.image_keys:
        for base, path in ((shop.app.instances[0].url, f"/api/media/{key}"), (shop.web.url, f"/media/{key}")):
            response = _get(base, path)
            assert response.status_code == 200, (base, key)
            assert response.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(response.content)).format == "JPEG"


def test_the_web_tier_forwards_only_image_shaped_keys(shop: Shop) -> None:
    # With no app tier behind it, a forwarded request is a 503; one never forwarded stays a 404.
    assert _get(shop.orphan_web.url, f"/media/{shop.image_keys[0]}").status_code == 503
    assert _get(shop.orphan_web.url, f"/media/{IMAGE_SHAPED_IN_LAKE}").status_code == 503
    for what, key in shop.not_public.items():
        if key not in (IMAGE_SHAPED_IN_LAKE, IMAGE_SHAPED_IN_BACKUPS):
            assert _get(shop.orphan_web.url, f"/media/{key}").status_code == 404, what
