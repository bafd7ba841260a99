"""Product images: check an upload, re-encode it, make a thumbnail, name it with a generated key.

Whatever the file name or the client's content type claim, the bytes must decode as a real
image of a supported format within the pixel limit; what is stored is always our own
re-encoding (JPEG), so nothing a client sent is ever served back verbatim.
"""

from __future__ import annotations

import io
import uuid
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from lakefront.shop.errors import InvalidInput

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})
CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    image_size: int
    thumb_size: int


@dataclass(frozen=True)
class ProcessedImage:
    image_key: str
    thumb_key: str
    image: bytes
    thumb: bytes
    width: int
    height: int


def _encode(img: Image.Image, longest_side: int, quality: int) -> bytes:
    copy = img.copy()
    copy.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _open_checked(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise InvalidInput("image", "the file is empty")
    if len(data) > limits.max_bytes:
        raise InvalidInput("image", f"the file is larger than {limits.max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise InvalidInput("image", f"unsupported image format {probe.format}")
            if probe.width * probe.height > limits.max_pixels:
                raise InvalidInput("image", f"the image has more than {limits.max_pixels} pixels")
            probe.verify()  # structural check; verify() leaves the object unusable, so open again
            img = Image.open(io.BytesIO(data))
            img.load()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput("image", f"not a readable image ({type(exc).__name__})") from None
    return img


def process_image(data: bytes, limits: ImageLimits, key_prefix: str = "products") -> ProcessedImage:
    """Validate and re-encode an uploaded image; raise InvalidInput naming the field otherwise."""
    img = _open_checked(data, limits)
    img = ImageOps.exif_transpose(img)
    if img.mode not in ("RGB", "L"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        rgba = img.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        img = background
    img = img.convert("RGB")
    name = uuid.uuid4().hex
    return encode_product_image(img, limits, f"{key_prefix}/{name[:2]}/{name}")


def encode_product_image(img: Image.Image, limits: ImageLimits, key_stem: str) -> ProcessedImage:
    """Encode a decoded RGB image as the stored image and its thumbnail under `key_stem`."""
    return ProcessedImage(
        image_key=f"{key_stem}.jpg",
        thumb_key=f"{key_stem}-thumb.jpg",
        image=_encode(img, limits.image_size, quality=85),
        thumb=_encode(img, limits.thumb_size, quality=80),
        width=img.width,
        height=img.height,
    )
