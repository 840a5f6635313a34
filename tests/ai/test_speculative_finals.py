"""Speculative finals (live.py): the final's transcription starts when the pause that ends an
utterance begins, a pause that is not the end drops its work, and the final is still the whole
utterance. Real Triton and a real (SQLite) results store; the client records its calls (and one
test withholds the first decode's result: ``FirstReadsNothingClient``)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from services.ai.inference import InferenceClient
from services.ai.live import LiveAnalysis, LiveOptions
from services.ai.segmentation import Segmenter, SpeechEnded
from services.ai.store import RelationalResultsStore
from services.ai.wiring import MIGRATIONS
from services.kit import Database
from tests.ai.conftest import BundledTriton
from tests.ai.speech import FLITE_SENTENCES, comparable_words, flite


class RecordingClient(InferenceClient):
    """The real client; remembers when each transcription was asked for and of how much audio."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout_s=30)
        self.transcriptions: list[tuple[float, int]] = []

    async def transcribe_tokens(
        self, audio: NDArray[Any], draft: NDArray[Any] | None = None
    ) -> tuple[str, NDArray[Any]]:
        self.transcriptions.append((time.monotonic(), audio.size))
        return await super().transcribe_tokens(audio, draft)


def _trimmed(speech: NDArray[Any]) -> NDArray[Any]:
    """Without flite's leading and trailing silence."""
    loud = np.flatnonzero(np.abs(speech) > 0.02)
    return speech[loud[0] : loud[-1] + 1]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RelationalResultsStore]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/ai.db", "ai")
    results = RelationalResultsStore(db, MIGRATIONS)
    await results.start()
    try:
        yield results
    finally:
        await db.close()


def test_the_pause_end_is_where_the_segmenter_ends_the_utterance() -> None:
    segmenter = Segmenter()
    ends: list[int] = []
    pause_ends: set[int] = set()
    for p in [0.0] * 5 + [0.9] * 20 + [0.1] * 3 + [0.9] * 10 + [0.1] * 12:
        event = segmenter.push(p)
        if segmenter.pause_end is not None:
            pause_ends.add(segmenter.pause_end)
        if isinstance(event, SpeechEnded):
            ends.append(event.end)
    assert len(ends) == 1 and segmenter.pause_end is None
    assert ends[0] in pause_ends  # the pause announced the end it then had
    assert len(pause_ends) == 2  # the short pause announced an end that did not come


def test_a_pause_the_vad_is_sure_of_ends_an_utterance_sooner() -> None:
    def end_after(pause: list[float]) -> int | None:
        """Windows of `pause` after which the utterance ended (None: not within the pause)."""
        segmenter = Segmenter()
        for p in [0.9] * 20:
            segmenter.push(p)
        for i, p in enumerate(pause, 1):
            if isinstance(segmenter.push(p), SpeechEnded):
                return i
        return None

    # the end of speech as the VAD sees it: a window or two in between, then below 0.05
    assert end_after([0.2] + [0.01] * 20) == 6  # 5 sure windows (160 ms) after the first
    assert end_after([0.2] * 20) == 10  # unsure: 300 ms
    assert end_after([0.01] * 4 + [0.9] + [0.01] * 4) is None  # a short sure pause, then speech
    assert end_after([0.01] * 3 + [0.1] + [0.01] * 4 + [0.2] * 2) == 10  # never 5 sure in a row


def _captions_config() -> pb.AnalyzeRequest:
    """The stream's first message: one participant's 16 kHz PCM, captions on."""
    return pb.AnalyzeRequest(
        config=pb.StreamConfig(
            participant="meetings/m1/participants/p1",
            sample_rate_hertz=16000,
            encoding=pb.AUDIO_ENCODING_LINEAR16,
            captions=True,
        )
    )


async def test_a_final_is_decoded_during_its_pause_and_a_short_pause_is_not_the_end(
    triton: BundledTriton, store: RelationalResultsStore
) -> None:
    first = "please send the quarterly report"
    second = "to the finance team before friday"
    silence = np.zeros(8000, dtype=np.float32)
    pause = np.zeros(3200, dtype=np.float32)  # 200 ms: longer than the pad, shorter than an end
    audio = np.concatenate(
        [silence, _trimmed(flite(first)), pause, _trimmed(flite(second)), silence, silence]
    )
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")

    async def requests() -> AsyncIterator[pb.AnalyzeRequest]:
        yield _captions_config()
        for start in range(0, pcm.size, 1600):
            yield pb.AnalyzeRequest(audio=pb.AudioChunk(data=pcm[start : start + 1600].tobytes()))

    events: list[tuple[float, pb.AnalyzeResponse]] = []

    async def emit(response: pb.AnalyzeResponse) -> None:
        events.append((time.monotonic(), response))

    client = RecordingClient(triton.url)
    try:
        # no interims: every transcription is a final's, speculative or not
        options = LiveOptions(interim_every_s=3600, first_interim_s=3600)
        await LiveAnalysis(client, store, options).run(requests(), emit)
    finally:
        await client.close()

    finals = [e.caption for _, e in events if e.HasField("caption")]
    assert len(finals) == 1 and finals[0].is_final
    words = comparable_words(finals[0].text).split()
    # the whole utterance, not the part before the short pause
    assert "report" in words and "friday" in words, finals[0].text
    ended_at = next(t for t, e in events if e.HasField("voice_activity") and not e.voice_activity.speaking)
    samples = (finals[0].end_ms - finals[0].start_ms) * 16
    asked = [t for t, size in client.transcriptions if size == samples]
    assert len(asked) == 1, client.transcriptions  # decoded once ...
    assert asked[0] < ended_at  # ... and before the end of the utterance was certain
    # the short pause started a transcription of the first part, which was dropped
    assert any(size < samples for _, size in client.transcriptions), client.transcriptions


async def test_a_draft_saves_steps_but_never_changes_the_transcript(triton: BundledTriton) -> None:
    speech = flite("we will meet again next week to review the project plan")
    client = InferenceClient(triton.url, timeout_s=30)
    try:
        text, tokens = await client.transcribe_tokens(speech)
        assert text == await client.transcribe(speech) and tokens.size > 5
        _, start = await client.transcribe_tokens(speech[: speech.size // 2])  # an interim's
        for draft in (start, tokens, tokens[::-1].copy(), np.array([7, 8, 9, 10], dtype=np.int64)):
            again, again_tokens = await client.transcribe_tokens(speech, draft)
            assert again == text
            np.testing.assert_array_equal(again_tokens, tokens)
    finally:
        await client.close()


class SettlingClient(RecordingClient):
    """Also knows when no transcription is in work, so that a test can send audio only then."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.in_work = 0
        self.settled = asyncio.Event()
        self.settled.set()

    async def transcribe_tokens(
        self, audio: NDArray[Any], draft: NDArray[Any] | None = None
    ) -> tuple[str, NDArray[Any]]:
        self.in_work += 1
        self.settled.clear()
        try:
            return await super().transcribe_tokens(audio, draft)
        finally:
            self.in_work -= 1
            if not self.in_work:
                self.settled.set()


class FirstReadsNothingClient(SettlingClient):
    """The real decode every time, but the first one's result is withheld (no text, no tokens),
    as the real model answers for the start of a word too short to read. Whether 0.18 s of
    flite's "please" reads as nothing depends on the machine: it did on the machines CI had run on
    and had text on an AMD EPYC (AVX2) one on 2026-12-02, so the test no longer leaves it to the
    model; what it checks is what live.py does with an empty first interim."""

    async def transcribe_tokens(
        self, audio: NDArray[Any], draft: NDArray[Any] | None = None
    ) -> tuple[str, NDArray[Any]]:
        first = not self.transcriptions
        text, tokens = await super().transcribe_tokens(audio, draft)
        return ("", tokens[:0]) if first else (text, tokens)


async def test_a_first_interim_without_text_is_tried_again_with_the_next_vad_batch(
    triton: BundledTriton, store: RelationalResultsStore
) -> None:
    # flite's "please" after a second of silence (as in `make bench`); the first decode reads
    # nothing (FirstReadsNothingClient), later ones are the model's own.
    silence = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([silence, flite(FLITE_SENTENCES[1]), silence])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    batch = 1024  # samples: one VAD call (LiveOptions.vad_batch_windows x 512)
    client = FirstReadsNothingClient(triton.url)

    async def requests() -> AsyncIterator[pb.AnalyzeRequest]:
        yield _captions_config()
        for start in range(0, pcm.size, batch):
            yield pb.AnalyzeRequest(audio=pb.AudioChunk(data=pcm[start : start + batch].tobytes()))
            # As in real time, where a short decode ends within the next 64 ms of audio: the
            # next batch goes in once the transcription it started (if any) is done.
            await asyncio.sleep(0)  # lets a just-started interim ask for its transcription
            await asyncio.wait_for(client.settled.wait(), 30)

    captions: list[pb.Caption] = []

    async def emit(response: pb.AnalyzeResponse) -> None:
        if response.HasField("caption"):
            captions.append(response.caption)

    try:
        await LiveAnalysis(client, store, LiveOptions()).run(requests(), emit)
    finally:
        await client.close()

    first = next(c for c in captions if not c.is_final)
    assert first.text
    sizes = [size for _, size in client.transcriptions]
    attempts = sizes[: sizes.index((first.end_ms - first.start_ms) * 16) + 1]
    assert len(attempts) >= 2, sizes  # the first decode had no text
    assert attempts[0] < 0.15 * 16000 + batch  # the first at first_interim_s (the next batch)
    # each one without text is followed by another with the next VAD batch, not 0.15 s later
    assert all(b - a == batch for a, b in itertools.pairwise(attempts)), attempts
