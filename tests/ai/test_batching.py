"""The emotion batcher on the real Triton: many callers' faces go out as few requests, each caller
gets exactly its own rows, and a failed request fails only the callers in it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from services.ai.batching import EmotionBatcher
from services.ai.inference import InferenceClient
from services.kit import InvalidArgument
from tests.ai.conftest import BundledTriton


async def test_callers_are_served_together_with_their_own_rows(triton: BundledTriton) -> None:
    client = InferenceClient(triton.url, timeout_s=20)
    batcher = EmotionBatcher(client.emotions, tick_s=0.02, max_batch=64)
    rng = np.random.default_rng(7)
    # Eight streams with 1..3 faces each, submitted at once.
    faces = [rng.integers(0, 256, (1 + i % 3, 64, 64, 1), dtype=np.uint8) for i in range(8)]
    try:
        expected = [await client.emotions(f) for f in faces]
        got = await asyncio.gather(*(batcher.classify(f) for f in faces))
        for mine, alone in zip(got, expected, strict=True):
            assert mine.shape == alone.shape
            np.testing.assert_allclose(mine, alone, rtol=1e-4, atol=1e-5)
        assert batcher.stats.callers == 8 and batcher.stats.faces == sum(len(f) for f in faces)
        assert batcher.stats.requests == 1  # all eight within one tick: one request

        # A batch the model refuses fails its own callers; the next one is served.
        with pytest.raises(InvalidArgument):
            await batcher.classify(np.zeros((2, 32, 32, 1), dtype=np.uint8))
        again = await batcher.classify(faces[0])
        np.testing.assert_allclose(again, expected[0], rtol=1e-4, atol=1e-5)

        # More faces than one request takes are split into full batches.
        small = EmotionBatcher(client.emotions, tick_s=0.02, max_batch=4)
        many = await asyncio.gather(*(small.classify(f) for f in faces))
        assert [len(m) for m in many] == [len(f) for f in faces]
        assert small.stats.largest <= 4 and small.stats.requests >= 4
        await small.close()
    finally:
        await batcher.close()
        await client.close()


async def test_a_batch_split_across_threads_gives_every_face_its_own_result(triton: BundledTriton) -> None:
    """The emotion model runs a batch of two or more faces in parts side by side (model.py); every
    size, odd ones included, gives each face exactly what it gets alone, in order."""
    client = InferenceClient(triton.url, timeout_s=20)
    faces = np.random.default_rng(11).integers(0, 256, (9, 64, 64, 1), dtype=np.uint8)
    try:
        alone = np.concatenate([await client.emotions(faces[i : i + 1]) for i in range(len(faces))])
        # Rows differ from face to face, so a row handed to the wrong face would show.
        assert min(np.abs(alone[i] - alone[j]).max() for i in range(9) for j in range(i)) > 1e-3
        for n in range(2, len(faces) + 1):
            together = await client.emotions(faces[:n])
            assert together.shape == (n, 7)
            np.testing.assert_allclose(together, alone[:n], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(together.sum(axis=1), 1.0, rtol=1e-4)
    finally:
        await client.close()
