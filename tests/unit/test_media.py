"""Image upload rules: decode for real, re-encode, bound the size, name with generated keys."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lakefront.shop.errors import InvalidInput
from lakefront.shop.media import ImageLimits, process_image

LIMITS = ImageLimits(max_bytes=2_000_000, max_pixels=4_000_000, image_size=800, thumb_size=200)


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_every_accepted_format_becomes_a_jpeg_and_a_thumbnail(fmt: str) -> None:
    result = process_image(_encode(Image.new("RGB", (1000, 500), (200, 30, 30)), fmt), LIMITS)
    image, thumb = Image.open(io.BytesIO(result.image)), Image.open(io.BytesIO(result.thumb))
    assert (image.format, image.size) == ("JPEG", (800, 400))
    assert (thumb.format, thumb.size) == ("JPEG", (200, 100))
    assert result.image_key.startswith("products/") and result.thumb_key.endswith("-thumb.jpg")


def test_keys_are_generated_fresh_for_each_upload() -> None:
    data = _encode(Image.new("RGB", (50, 50)), "PNG")
    assert process_image(data, LIMITS).image_key != process_image(data, LIMITS).image_key


def test_transparency_is_flattened_onto_white() -> None:
    result = process_image(_encode(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "PNG"), LIMITS)
    r, g, b = Image.open(io.BytesIO(result.image)).convert("RGB").getpixel((50, 50))
    assert min(r, g, b) > 240


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (300, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    result = process_image(_encode(img, "JPEG", exif=exif), LIMITS)
    assert Image.open(io.BytesIO(result.image)).size == (100, 300)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    data = _encode(Image.new("1", (3000, 3000)), "PNG")  # small file, 9 megapixels
    with pytest.raises(InvalidInput, match="pixels") as info:
        process_image(data, LIMITS)
    assert info.value.field == "image"


@pytest.mark.parametrize("payload", [b"", b"GIF89a" + b"\x00" * 10, b"%PDF-1.7 not an image", b"\xff\xd8\xff\xe0junk"])
def test_bytes_that_are_not_a_whole_image_are_refused(payload: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        process_image(payload, LIMITS)
    assert info.value.field == "image"


def test_an_unsupported_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unsupported image format TIFF"):
        process_image(_encode(Image.new("RGB", (10, 10)), "TIFF"), LIMITS)


def test_a_file_over_the_size_limit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        process_image(b"\x00" * (LIMITS.max_bytes + 1), LIMITS)
