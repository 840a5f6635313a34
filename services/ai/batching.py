"""Batching at the source: one emotion request at a time for the faces of every live stream.

Triton's dynamic batcher merges requests that are already in flight, but each request still costs
its own round trip and its own (de)serialisation on both sides: on a 0.4 ms model that overhead is
most of the cost (docs/ai.md). The ai service therefore gathers the faces that every live stream
finds in its frames, and a single flusher sends them to the emotion model as ONE request, then
hands each stream its rows. The batch size follows the load by itself: faces that arrive while a
request is in flight wait for it and go out together the moment it returns (up to ``max_batch``
per request); an idle batcher sends after ``tick_s`` (default: one turn of the event loop, so that
callers woken together join in; a fixed wait on every request cost more than it gathered, docs/ai.md).

::

    stream A: frame -> face_detector -> crops --\\
    stream B: frame -> face_detector -> crops ---+-> EmotionBatcher (tick) -> emotion [n, 64, 64, 1]
    stream C: frame -> face_detector -> crops --/        one Triton request at a time

A failed request fails the callers of that batch only; the next tick starts afresh. One batcher per
process (``wiring.py``), shared by every ``LiveAnalysis`` stream and the unary ``AnalyzeFrame``
path alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Classify = Callable[[NDArray[Any]], Awaitable[NDArray[Any]]]
_Waiting = tuple[NDArray[Any], "asyncio.Future[NDArray[Any]]"]


@dataclass
class BatchStats:
    """What the batcher has done (for the bench and tests)."""

    requests: int = 0  # requests sent to the model
    faces: int = 0  # faces classified
    callers: int = 0  # classify() calls served
    largest: int = 0  # most faces in one request
    sizes: list[int] = field(default_factory=list, repr=False)


class EmotionBatcher:
    """Gathers face tensors from every caller and classifies them in one request at a time."""

    def __init__(self, classify: Classify, *, tick_s: float = 0.0, max_batch: int = 64) -> None:
        if tick_s < 0 or max_batch < 1:
            raise ValueError("tick_s must be >= 0 and max_batch >= 1")
        self._classify = classify
        self._tick_s = tick_s
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._waiting_faces = 0
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    async def classify(self, faces: NDArray[Any]) -> NDArray[Any]:
        """Probabilities [n, 7] for ``faces`` [n, 64, 64, 1], classified with everyone else's."""
        if len(faces) == 0:
            return np.zeros((0, 7), dtype=np.float32)
        future: asyncio.Future[NDArray[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((faces, future))
        self._waiting_faces += len(faces)
        if self._waiting_faces >= self._max_batch:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_after_tick(), name="emotion-batcher")
        return await future

    async def _flush_after_tick(self) -> None:
        # Wait for the tick (more streams add their faces meanwhile) or a full batch; with no
        # tick, one turn of the loop lets the callers woken together by the last reply join in.
        # Faces arriving while a request is in flight are taken by the loop below when it returns.
        if self._tick_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._tick_s)
        else:
            await asyncio.sleep(0)
        while self._waiting:
            batch: list[_Waiting] = []
            taken = 0
            while self._waiting and (not batch or taken + len(self._waiting[0][0]) <= self._max_batch):
                faces, future = self._waiting.pop(0)
                batch.append((faces, future))
                taken += len(faces)
            self._waiting_faces -= taken
            self._full.clear()
            if self._waiting_faces >= self._max_batch:
                self._full.set()
            await self._send(batch, taken)

    async def _send(self, batch: list[_Waiting], n: int) -> None:
        self.stats.requests += 1
        self.stats.faces += n
        self.stats.callers += len(batch)
        self.stats.largest = max(self.stats.largest, n)
        try:
            probabilities = await self._classify(np.concatenate([faces for faces, _ in batch]))
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for faces, future in batch:
            if not future.done():  # a caller that gave up (cancelled) just misses its rows
                future.set_result(probabilities[start : start + len(faces)])
            start += len(faces)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
