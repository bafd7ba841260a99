"""The shape of product-image keys: the only object keys either tier serves to anyone.

Both tiers check a key against it before asking for the object (the web tier before it forwards, the app tier
before it touches the images bucket), so a lake key, a backup or a made-up name is a 404 whatever the store
holds. It lives outside shop/ because the web tier may not import the shop; it imports nothing itself.
"""

from __future__ import annotations

import re

_UPLOAD = r"products/(?P<fan>[0-9a-f]{2})/(?P=fan)[0-9a-f]{30}"
"""An upload: shop.media names it after a fresh uuid4 (hex), fanned out by its first two digits."""
_DEMO = r"demo/products/[A-Z0-9]{2,8}-[0-9]{6,9}"
"""A demo product's image: demo.images names it after the product's SKU (category code, product id)."""
_IMAGE_KEY = re.compile(rf"(?:{_UPLOAD}|{_DEMO})(?:-thumb)?\.jpg")


def is_image_key(key: str) -> bool:
    """True for a key of the shape product images (and their thumbnails) are stored under."""
    return _IMAGE_KEY.fullmatch(key) is not None
