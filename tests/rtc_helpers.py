"""Helpers shared by the real-time media tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Poll a condition on state owned by aiortc or a service (no event to wait on) until it holds."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 - the state has no event of its own
            await asyncio.sleep(0.02)


def close_to(rgb: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(a - b) < tolerance for a, b in zip(rgb, expected, strict=True))
