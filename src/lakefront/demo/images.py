"""A deterministic picture per product: its category's colours, a few shapes, its name."""

from __future__ import annotations

import random
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from lakefront.demo.catalog import Product
from lakefront.demo.vocabulary import RGB
from lakefront.store.media import ImageLimits, ProcessedImage, encode_product_image

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
    rng = random.Random(f"lakefront-demo:{seed}:image:{product.sku}")
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


def make_product_image(product: Product, seed: int, limits: ImageLimits) -> ProcessedImage:
    return encode_product_image(render_product_image(product, seed), limits, f"demo/products/{product.sku}")
