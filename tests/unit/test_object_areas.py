"""The object store's areas: one bucket each, named from one prefix, and the one key shape served publicly."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from lakefront.demo.catalog import build_catalog
from lakefront.demo.images import image_keys
from lakefront.demo.plan import Plan, phase_rng
from lakefront.demo.vocabulary import CATEGORIES
from lakefront.media_keys import is_image_key
from lakefront.settings import SettingsError, load_settings
from lakefront.shop.media import ImageLimits, process_image

LIMITS = ImageLimits(max_bytes=1_000_000, max_pixels=1_000_000, image_size=64, thumb_size=32)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("LAKEFRONT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_each_area_gets_a_bucket_named_from_the_prefix_unless_named_itself() -> None:
    assert load_settings().objects.buckets == {
        "images": "lakefront-images", "lake": "lakefront-lake", "backups": "lakefront-backups"}
    named = load_settings(objects={"bucket": "shop", "lake_bucket": "shop-analytics-lake"})
    assert named.objects.buckets == {"images": "shop-images", "lake": "shop-analytics-lake",
                                     "backups": "shop-backups"}


def test_the_longest_prefix_still_gives_bucket_names_s3_accepts() -> None:
    buckets = load_settings(objects={"bucket": "b" * 55}).objects.buckets

    assert max(len(name) for name in buckets.values()) == 63


@pytest.mark.parametrize(("objects", "named"), [
    ({"bucket": "b" * 56}, "objects.bucket"),
    ({"bucket": "Shop"}, "objects.bucket"),
    ({"bucket": "shop..lake"}, "objects.bucket"),
    ({"images_bucket": "192.168.0.1"}, "objects.images_bucket"),
    ({"lake_bucket": "xn--lake"}, "objects.lake_bucket"),
    ({"backups_bucket": "-backups"}, "objects.backups_bucket"),
    ({"lake_bucket": "lakefront-images"}, "objects"),
])
def test_a_bucket_name_s3_would_refuse_or_two_areas_sharing_one_is_one_line_naming_it(
        objects: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(objects=objects)

    message = str(info.value)
    assert message.startswith(f"invalid setting {named}:")
    assert "\n" not in message


def test_uploaded_and_demo_image_keys_have_the_public_shape() -> None:
    upload = process_image(_png(), LIMITS)
    # Scale 1: every category code, a thousand product ids.
    _, products = build_catalog(Plan.build(scale=1, seed=3, until=date(2026, 6, 1), max_categories=len(CATEGORIES)),
                                phase_rng(3, "catalog"))
    demo = [key for product in products for key in image_keys(product)]

    assert len(products) >= 1000
    for key in (upload.image_key, upload.thumb_key, *demo):
        assert is_image_key(key), key


@pytest.mark.parametrize("key", [
    "lake/raw/customers/dt=2026-01-01/20260101T000000Z-0badc0de-part-00000.parquet",
    "lake/marts/mart_daily_sales/20260101T000000Z-0badc0de.parquet",
    "lake/_manifests/raw/customers/00000001-20260101T000000Z-0badc0de.json",
    "products/x.jpg",
    "products/aa/nothing.jpg",
    "products/ab/cd0123456789abcdef0123456789abcd.jpg",  # the fan-out must be the name's first two digits
    "products/AB/AB0123456789ABCDEF0123456789ABCD.jpg",
    "products/ab/ab0123456789abcdef0123456789ab.jpg",  # a uuid4 has 32 hex digits
    "products/ab/ab0123456789abcdef0123456789abcd.png",
    "products/ab/ab0123456789abcdef0123456789abcd.jpg\n",
    "products/ab/ab0123456789abcdef0123456789abcd.jpg/../../lake/raw/x.parquet",
    "../products/ab/ab0123456789abcdef0123456789abcd.jpg",
    "demo/products/KIT-000007.jpg.json",
    "demo/products/../../lake/raw/customers.csv",
    "demo/customers.csv",
    "backups/db.sql.gz",
    "",
])
def test_anything_but_a_product_image_key_is_not_public(key: str) -> None:
    assert not is_image_key(key)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()
