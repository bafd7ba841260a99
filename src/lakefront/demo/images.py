"""A deterministic picture per product: its category's colours, a few shapes, its name."""

from __future__ import annotations

import os
import random
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from lakefront.data.objects import ObjectStore
from lakefront.demo.catalog import Product
from lakefront.demo.vocabulary import RGB
from lakefront.shop.media import CONTENT_TYPE, ImageLimits, ProcessedImage, encode_product_image

# Drawn at this size; the stored image is never upscaled, so this bounds the work per product.
CANVAS = 600

_TRANSPOSES = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)


@lru_cache(maxsize=1)
def _gradient_mask() -> Image.Image:
    return Image.linear_gradient("L").resize((CANVAS, CANVAS), Image.Resampling.BILINEAR)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: the same glyphs on every machine, so the same bytes for the same seed.
    return ImageFont.load_default(size=size)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _shade(colour: RGB, factor: float) -> RGB:
    return (min(255, round(colour[0] * factor)), min(255, round(colour[1] * factor)),
            min(255, round(colour[2] * factor)))


def render_product_image(product: Product, seed: int) -> Image.Image:
    """Draw the product's picture; the same product and seed always give the same pixels."""
    # Reproducible pictures.
    rng = random.Random(f"lakefront-demo:{seed}:image:{product.sku}")  # nosec B311
    first, second = product.category.spec.colours
    mask = _gradient_mask()
    transpose = rng.choice(_TRANSPOSES)
    if transpose is not None:
        mask = mask.transpose(transpose)
    img = Image.composite(Image.new("RGB", (CANVAS, CANVAS), first),
                          Image.new("RGB", (CANVAS, CANVAS), second), mask)
    draw = ImageDraw.Draw(img)

    for _ in range(rng.randint(3, 6)):
        colour = _shade(_mix(first, second, rng.random()), rng.uniform(0.6, 1.3))
        x, y = rng.randrange(-100, CANVAS - 50), rng.randrange(-100, CANVAS - 150)
        size = rng.randrange(80, 320)
        box = (x, y, x + size, y + round(size * rng.uniform(0.6, 1.4)))
        kind = rng.randrange(4)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rounded_rectangle(box, radius=size // 6, fill=colour)
        elif kind == 2:
            draw.ellipse(box, outline=colour, width=rng.randint(6, 18))
        else:
            points = [(x + rng.randrange(size), y + rng.randrange(size)) for _ in range(3)]
            draw.polygon(points, fill=colour)

    draw.text((28, 24), product.category.spec.name.upper(), font=_font(26), fill=(255, 255, 255),
              stroke_width=2, stroke_fill=_shade(first, 0.5))
    lines = textwrap.wrap(product.name, width=18)[:3]
    band_top = CANVAS - 40 - 58 * len(lines)
    draw.rectangle((0, band_top, CANVAS, CANVAS), fill=(250, 248, 244))
    for i, line in enumerate(lines):
        draw.text((32, band_top + 20 + 58 * i), line, font=_font(46), fill=_shade(first, 0.55))
    return img


def image_keys(product: Product) -> tuple[str, str]:
    """The product's (image, thumbnail) keys, known before the picture is drawn."""
    stem = f"demo/products/{product.sku}"
    return f"{stem}.jpg", f"{stem}-thumb.jpg"


def make_product_image(product: Product, seed: int, limits: ImageLimits) -> ProcessedImage:
    return encode_product_image(render_product_image(product, seed), limits, f"demo/products/{product.sku}")


class ImageJob:
    """Draws and stores every product's picture on worker threads while the caller does other work.

    Pillow releases the GIL while drawing, resampling and encoding, so the pictures cost little
    wall time next to the Python-bound order and event generation.
    """

    def __init__(self, products: list[Product], seed: int, store: ObjectStore, limits: ImageLimits,
                 on_done: Callable[[], None]) -> None:
        self.started = time.perf_counter()
        self.finished = self.started
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                       thread_name_prefix="demo-image")
        self.lock = threading.Lock()

        def one(product: Product) -> None:
            processed = make_product_image(product, seed, limits)
            if (processed.image_key, processed.thumb_key) != image_keys(product):
                raise RuntimeError(f"image keys of {product.sku} differ from the ones in its row")
            store.put(processed.image_key, processed.image, CONTENT_TYPE)
            store.put(processed.thumb_key, processed.thumb, CONTENT_TYPE)
            with self.lock:
                self.finished = time.perf_counter()
            on_done()

        self.futures = [self.pool.submit(one, product) for product in products]

    def wait(self) -> float:
        """Block until every picture is stored (raising the first failure); return the seconds taken."""
        try:
            for future in self.futures:
                future.result()
        finally:
            self.stop()
        return self.finished - self.started

    def stop(self) -> None:
        """Drop the pictures not yet started and wait for the ones being drawn."""
        self.pool.shutdown(wait=True, cancel_futures=True)
