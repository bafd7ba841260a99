"""Product pictures: drawn deterministically, encoded under the product's keys."""

from __future__ import annotations

import io
from datetime import date

from PIL import Image

from lakefront.demo.catalog import build_catalog
from lakefront.demo.images import CANVAS, image_keys, make_product_image, render_product_image
from lakefront.demo.plan import Plan, phase_rng
from lakefront.shop.media import ImageLimits

PLAN = Plan.build(scale=0.01, seed=2, until=date(2026, 6, 1), max_categories=20)
LIMITS = ImageLimits(max_bytes=8 << 20, max_pixels=40_000_000, image_size=800, thumb_size=320)


def test_the_same_product_and_seed_draw_the_same_pixels() -> None:
    _, products = build_catalog(PLAN, phase_rng(2, "catalog"))
    first = render_product_image(products[0], 2)
    assert first.size == (CANVAS, CANVAS) and first.mode == "RGB"
    assert first.tobytes() == render_product_image(products[0], 2).tobytes()


def test_other_products_or_seeds_draw_other_pictures() -> None:
    _, products = build_catalog(PLAN, phase_rng(2, "catalog"))
    first = render_product_image(products[0], 2).tobytes()
    assert first != render_product_image(products[1], 2).tobytes()
    assert first != render_product_image(products[0], 3).tobytes()


def test_encoded_images_are_jpegs_under_the_keys_of_the_product_row() -> None:
    _, products = build_catalog(PLAN, phase_rng(2, "catalog"))
    product = products[0]
    processed = make_product_image(product, 2, LIMITS)
    assert (processed.image_key, processed.thumb_key) == image_keys(product)
    assert processed.image_key == f"demo/products/{product.sku}.jpg"
    with Image.open(io.BytesIO(processed.thumb)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == LIMITS.thumb_size
    assert processed.image == make_product_image(product, 2, LIMITS).image
