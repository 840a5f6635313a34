"""Test images made with Pillow (real encoders, real files)."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (320, 200), color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
