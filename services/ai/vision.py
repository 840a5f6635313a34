"""Faces and their emotions in an image: face_detector, then one batched emotion call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from services.kit import InvalidArgument

from .inference import EMOTIONS, InferenceClient

MAX_PIXELS = 16_000_000
MAX_FACES = 16


@dataclass(frozen=True)
class FaceResult:
    box: tuple[int, int, int, int]
    emotion: str
    scores: tuple[float, ...]


def decode_image(data: bytes, field: str = "image") -> NDArray[Any]:
    """An encoded image as RGB uint8; INVALID_ARGUMENT when corrupt or too large."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    header = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_8) if buffer.size else None
    if header is None:
        raise InvalidArgument([(field, "is not a readable JPEG, PNG, WebP or BMP image")])
    if header.shape[0] * header.shape[1] * 64 > MAX_PIXELS:
        raise InvalidArgument([(field, f"has more than {MAX_PIXELS} pixels")])
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None or min(bgr.shape[:2]) < 24:
        raise InvalidArgument([(field, "is not a readable image of at least 24x24 pixels")])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_tensor(rgb: NDArray[Any], box: tuple[int, int, int, int]) -> NDArray[Any]:
    """The FER input for one face: 64x64 uint8 grayscale pixels, shape [64, 64, 1] (the emotion
    model scales them to [-1, 1] itself)."""
    x, y, w, h = box
    gray = cv2.cvtColor(rgb[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)[:, :, None]


async def analyze_faces(
    client: InferenceClient,
    rgb: NDArray[Any],
    classify: Callable[[NDArray[Any]], Awaitable[NDArray[Any]]] | None = None,
) -> list[FaceResult]:
    """Faces in ``rgb`` and their emotions; ``classify`` (an ``EmotionBatcher``'s) batches the
    emotion call with other callers' faces, else it is a request of its own."""
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in (await client.faces(rgb))[:MAX_FACES]]
    if not boxes:
        return []
    faces = np.stack([face_tensor(rgb, b) for b in boxes])
    probabilities = await (classify or client.emotions)(faces)
    return [
        FaceResult(box, EMOTIONS[int(np.argmax(p))], tuple(float(v) for v in p))
        for box, p in zip(boxes, probabilities, strict=True)
    ]
