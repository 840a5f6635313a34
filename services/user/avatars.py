"""Avatar images: what an upload must be, and the thumbnails made from it (pure functions).

An uploaded avatar is decoded with Pillow; it must be a PNG, JPEG or WebP image (the format found in
the bytes, whatever the upload declared) of at most ``MAX_PIXELS`` pixels. Thumbnails are square
PNGs (centre crop) of each size in ``THUMBNAIL_SIZES``.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

ALLOWED_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 5 MiB file may still decode to a huge bitmap: refuse those
THUMBNAIL_SIZES = (256, 64)
THUMBNAIL_TYPE = "image/png"


class NotAnImage(ValueError):
    """The bytes are not an allowed image (the message says why; it holds no user data)."""


def open_image(data: bytes) -> Image.Image:
    """Decode ``data``; ``NotAnImage`` when it is not a PNG, JPEG or WebP within the limits."""
    if len(data) > MAX_BYTES:
        raise NotAnImage(f"is larger than {MAX_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_TYPES.values():
                raise NotAnImage("is not a PNG, JPEG or WebP image")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise NotAnImage(f"has more than {MAX_PIXELS} pixels")
            image.load()
    except NotAnImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning):
        raise NotAnImage("is not a readable image") from None
    except Image.DecompressionBombError:
        raise NotAnImage(f"has more than {MAX_PIXELS} pixels") from None
    return image


def thumbnail(image: Image.Image, size: int) -> bytes:
    """A ``size`` x ``size`` PNG of the image's centre."""
    rgba = image.convert("RGBA")
    side = min(rgba.size)
    left, top = (rgba.width - side) // 2, (rgba.height - side) // 2
    square = rgba.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    return out.getvalue()


def thumbnails(data: bytes) -> dict[int, bytes]:
    """Every thumbnail size of the image in ``data`` (raises ``NotAnImage``)."""
    image = open_image(data)
    return {size: thumbnail(image, size) for size in THUMBNAIL_SIZES}
