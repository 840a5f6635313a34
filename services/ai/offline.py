"""Analysis of an uploaded audio file: segment with the VAD, then transcribe and score each utterance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .inference import VAD_CONTEXT, InferenceClient
from .segmentation import WINDOW, Segmenter, SpeechEnded

_VAD_CALL_SAMPLES = WINDOW * 625  # 20 s per Triton call


@dataclass(frozen=True)
class FileSegment:
    start_ms: int
    end_ms: int
    text: str
    synthetic_score: float


async def utterances(client: InferenceClient, audio: NDArray[Any]) -> list[tuple[int, int]]:
    """(start, end) sample offsets of the utterances in 16 kHz audio."""
    audio = np.pad(audio.astype(np.float32), (0, -audio.size % WINDOW))
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(VAD_CONTEXT, dtype=np.float32)
    segmenter = Segmenter()
    found: list[tuple[int, int]] = []
    for start in range(0, audio.size, _VAD_CALL_SAMPLES):
        probabilities, state, context = await client.voice_activity(
            audio[start : start + _VAD_CALL_SAMPLES], state, context
        )
        for p in probabilities:
            if isinstance(event := segmenter.push(float(p)), SpeechEnded):
                found.append((event.start, event.end))
    if (last := segmenter.flush()) is not None:
        found.append((last.start, last.end))
    return found


async def analyze_audio(client: InferenceClient, audio: NDArray[Any]) -> list[FileSegment]:
    async def one(start: int, end: int) -> FileSegment:
        piece = audio[start:end]
        text, score = await asyncio.gather(client.transcribe(piece), client.synthetic_score(piece))
        return FileSegment(start // 16, end // 16, text, score)

    return list(await asyncio.gather(*(one(s, e) for s, e in await utterances(client, audio))))
