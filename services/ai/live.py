"""Live analysis of one participant's stream (the `Analyze` bidi RPC's engine).

::

    audio chunks -> 16 kHz -> vad (Triton, 32 ms windows) -> Segmenter
                                   |  speech start/end -> VoiceActivity
                                   |  every `interim_every_s` while speaking -> asr -> interim Caption
                                   |  a pause starts -> asr + synthetic_voice on the utterance as it
                                   |                    would end there (speculative final)
                                   '  end of utterance -> that result (else asr + synthetic_voice)
                                                          -> store -> final Caption + SyntheticVoice
    video frames -> face_detector -> emotion (batched) -> FrameEmotions (frames are dropped while busy)

Finals are produced in utterance order by one worker; the receive loop never waits for a model.
The end of an utterance is only certain after 160-300 ms of pause (segmentation.py), but the audio
it will end with is known `pad_ms` (120 ms) into the pause: the final's transcription and score
start then, and a pause that turns out not to be the end (speech resumes) just drops that work. A
final thus waits for the pause to last, not for the pause and then the whole utterance's decode;
and that decode checks the last interim's tokens as a draft in one pass, so it only steps through
what was said since (moonshine.py; docs/ai.md).
A bad message raises InvalidArgument: workers are cancelled, finals already stored stay, a partial
utterance is dropped (each stored result is one single-row transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from meetmesh.ai.v1 import ai_pb2
from services.kit import InvalidArgument, tracing
from services.kit.errors import Reason

from . import metrics
from .audio import SAMPLE_RATE, StreamResampler, pcm_samples
from .batching import EmotionBatcher
from .completion import LiveStreams
from .inference import VAD_CONTEXT, InferenceClient
from .models import SPOKE, Activity, AnalysisEvent, Segment
from .segmentation import WINDOW, Segmenter, SpeechEnded, SpeechStarted
from .store import ResultsStore
from .vision import analyze_faces, decode_image

Emit = Callable[[pb.AnalyzeResponse], Awaitable[None]]
_ENCODINGS = {pb.AUDIO_ENCODING_LINEAR16: "LINEAR16", pb.AUDIO_ENCODING_FLOAT32: "FLOAT32"}


@dataclass(frozen=True)
class LiveOptions:
    interim_every_s: float = 1.0
    # The first interim of an utterance comes after this much speech (then every interim_every_s):
    # a caption appears while the first words are still being spoken.
    first_interim_s: float = 0.15
    alert_threshold: float = 0.8
    alert_min_s: float = 1.5  # shorter utterances are scored but never alert
    idle_timeout_s: float = 30.0
    # Audio handed to the VAD in one Triton call (a multiple of 32 ms): speech start and end are
    # seen at most this late.
    vad_batch_windows: int = 2
    # Start the final's work when a pause begins (see the module's doc).
    speculative_finals: bool = True


def emotion_proto(
    result_box: tuple[int, int, int, int], emotion: str, scores: tuple[float, ...]
) -> ai_pb2.FaceEmotion:
    x, y, w, h = result_box
    return ai_pb2.FaceEmotion(
        box=ai_pb2.BoundingBox(x=x, y=y, width=w, height=h),
        emotion=ai_pb2.Emotion.Value(f"EMOTION_{emotion.upper()}"),
        scores=list(scores),
    )


@dataclass
class _Utterance:
    id: int
    start: int  # samples from stream start
    end: int = 0
    ended_at: float = 0.0  # time.monotonic() when the end of speech was seen
    interim_emitted: bool = False  # an interim with text went out
    interim_tried: bool = False  # an interim decode was started
    # Token ids of the latest interim: the draft the next decode of this utterance checks first
    # (the final then decodes only what was said since; moonshine.py).
    draft: NDArray[Any] | None = None


@dataclass
class _Speculation:
    """The final's work for an utterance that ends at `end` if the current pause is its end."""

    utterance: int
    end: int
    task: asyncio.Task[tuple[str, float]]


class LiveAnalysis:
    """Analyses one stream; `run` returns when the client half-closed and all work is done."""

    def __init__(
        self,
        client: InferenceClient,
        store: ResultsStore,
        options: LiveOptions | None = None,
        batcher: EmotionBatcher | None = None,
        streams: LiveStreams | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.o = options or LiveOptions()
        # Faces of every stream, classified together (one emotion request at a time; batching.py).
        self.batcher = batcher
        # The open streams by meeting: an ended meeting's transcript is completed once its
        # streams closed (completion.py).
        self.streams = streams or LiveStreams()

    async def run(self, requests: AsyncIterator[pb.AnalyzeRequest], emit: Emit) -> None:
        first = await self._next(requests)
        if first is None:
            return
        if first.WhichOneof("payload") != "config":
            raise InvalidArgument([("config", "the first message of a stream must be the config")])
        session = _Session(self, first.config, emit)
        with self.streams.open(session.meeting_id):
            try:
                while (request := await self._next(requests)) is not None:
                    kind = request.WhichOneof("payload")
                    if kind == "audio":
                        await session.audio(request.audio.data)
                    elif kind == "frame":
                        session.frame(request.frame)
                    else:
                        raise InvalidArgument([("config", "only the first message may be a config")])
                    session.check()
                await session.finish()
            finally:
                await session.cancel()

    async def _next(self, requests: AsyncIterator[pb.AnalyzeRequest]) -> pb.AnalyzeRequest | None:
        try:
            return await asyncio.wait_for(anext(requests), self.o.idle_timeout_s)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise InvalidArgument(
                [
                    (
                        "stream",
                        f"no message for {self.o.idle_timeout_s:.0f} s; half-close the stream when done",
                    )
                ],
                reason=Reason.ERROR_REASON_INVALID_FIELD,
            ) from None


class _Session:
    def __init__(self, owner: LiveAnalysis, config: pb.StreamConfig, emit: Emit) -> None:
        self.client, self.store, self.o = owner.client, owner.store, owner.o
        self.classify = owner.batcher.classify if owner.batcher is not None else None
        self.config = config
        parts = config.participant.split("/")
        self.meeting_id, self.participant_id = parts[1], parts[3]
        self.encoding = _ENCODINGS[config.encoding]
        self.rate = config.sample_rate_hertz
        self.resampler = StreamResampler(self.rate)
        self.started_at = datetime.now(UTC)
        self._emit_lock = asyncio.Lock()
        self._emit_raw = emit
        self.segmenter = Segmenter()
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(VAD_CONTEXT, dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)  # resampled, not yet through the VAD
        self.history = np.zeros(0, dtype=np.float32)  # audio from `history_start` on
        self.history_start = 0
        self.utterance: _Utterance | None = None
        self.next_utterance = 1
        self.last_interim = 0
        self.last_final = 0  # utterance id of the latest final caption
        self.interim: asyncio.Task[None] | None = None
        self.finals: asyncio.Queue[
            tuple[_Utterance, NDArray[Any], asyncio.Task[tuple[str, float]] | None] | None
        ] = asyncio.Queue()
        self.speculation: _Speculation | None = None
        self.finalizing = False  # interims wait while a final is being produced
        self.final_worker = asyncio.create_task(self._finalize_loop())
        self.frames: asyncio.Queue[pb.VideoFrame | None] = asyncio.Queue(maxsize=2)
        self.frame_worker = asyncio.create_task(self._frame_loop()) if config.emotion else None

    async def emit(self, response: pb.AnalyzeResponse) -> None:
        async with self._emit_lock:
            await self._emit_raw(response)

    # -- audio ---------------------------------------------------------------------------------
    async def audio(self, data: bytes) -> None:
        samples = pcm_samples(data, self.encoding)
        if samples.size > self.rate:
            raise InvalidArgument([("audio.data", "a chunk must hold at most 1 s of audio")])
        self.pending = np.concatenate([self.pending, self.resampler.push(samples)])
        batch = WINDOW * self.o.vad_batch_windows
        while self.pending.size >= batch:
            chunk, self.pending = self.pending[:batch], self.pending[batch:]
            await self._vad(chunk)

    async def _vad(self, chunk: NDArray[Any]) -> None:
        probabilities, self.state, self.context = await self.client.voice_activity(
            chunk, self.state, self.context
        )
        self.history = np.concatenate([self.history, chunk])
        for p in probabilities:
            event = self.segmenter.push(float(p))
            if isinstance(event, SpeechStarted):
                self.utterance = _Utterance(self.next_utterance, event.start)
                self.next_utterance += 1
                self.last_interim = event.start
                await self.emit(
                    pb.AnalyzeResponse(
                        voice_activity=pb.VoiceActivity(speaking=True, offset_ms=event.start // 16)
                    )
                )
            elif isinstance(event, SpeechEnded):
                await self._end_utterance(event)
            self._speculate()
        self._maybe_interim(float(probabilities[-1]) if len(probabilities) else 0.0)
        self._trim_history()

    def _slice(self, start: int, end: int) -> NDArray[Any]:
        return self.history[max(start - self.history_start, 0) : max(end - self.history_start, 0)]

    def _trim_history(self) -> None:
        keep_from = self.utterance.start if self.utterance else self.segmenter.position - SAMPLE_RATE
        drop = max(0, keep_from - self.history_start)
        if drop:
            self.history = self.history[drop:]
            self.history_start += drop

    async def _end_utterance(self, event: SpeechEnded) -> None:
        utterance, self.utterance = self.utterance, None
        if utterance is None:
            return
        utterance.end = event.end
        utterance.ended_at = time.monotonic()
        speculation, self.speculation = self.speculation, None
        ready = None
        if speculation is not None and (speculation.utterance, speculation.end) == (utterance.id, event.end):
            ready = speculation.task  # the pause was the end: its work is under way or done
        elif speculation is not None:
            speculation.task.cancel()
        await self.emit(
            pb.AnalyzeResponse(voice_activity=pb.VoiceActivity(speaking=False, offset_ms=event.end // 16))
        )
        await self.finals.put((utterance, self._slice(event.start, event.end).copy(), ready))

    def _speculate(self) -> None:
        """Starts the final's work once the audio up to where a pause would end the utterance is
        in; drops it when speech resumed (the pause was not the end)."""
        u, end = self.utterance, self.segmenter.pause_end
        current = self.speculation
        if current is not None and (u is None or current.utterance != u.id or current.end != end):
            current.task.cancel()
            self.speculation = current = None
        if (
            current is not None
            or u is None
            or end is None
            or not self.o.speculative_finals
            or self.segmenter.position < end
        ):
            return
        audio = self._slice(u.start, end).copy()
        task = asyncio.create_task(self._text_and_score(audio, u.draft))
        task.add_done_callback(_consume)  # a dropped speculation's failure is nobody's error
        self.speculation = _Speculation(u.id, end, task)

    async def _text_and_score(self, audio: NDArray[Any], draft: NDArray[Any] | None) -> tuple[str, float]:
        text_task = _transcribe_text(self.client, audio, draft) if self.config.captions else _no_text()
        score_task = self.client.synthetic_score(audio) if self.config.synthetic_voice else _no_score()
        text, score = await asyncio.gather(text_task, score_task)
        return text, score

    def _maybe_interim(self, latest_probability: float) -> None:
        """Decode the utterance so far, unless a decode or a final is in work, or speech is pausing
        (a pause may be the end: an interim started then would delay the final)."""
        u = self.utterance
        if (
            u is None
            or latest_probability < self.segmenter.o.onset
            or self.finalizing
            or not self.finals.empty()
            or not self.config.captions
            or (self.interim and not self.interim.done())
            or self.segmenter.position - self.last_interim < self._interim_gap(u)
        ):
            return
        u.interim_tried = True
        self.last_interim = self.segmenter.position
        audio = self._slice(u.start, self.segmenter.position).copy()
        self.interim = asyncio.create_task(self._interim(u, audio, self.segmenter.position))

    def _interim_gap(self, u: _Utterance) -> int:
        """Samples of speech before the next interim: `first_interim_s` for an utterance's first
        one; when that one had no text yet (the start of a word is often too short to read), with
        the next VAD batch, and so on until one has text; then `interim_every_s`."""
        every = round(self.o.interim_every_s * SAMPLE_RATE)
        if u.interim_emitted:
            return every
        if u.interim_tried:
            return min(WINDOW * self.o.vad_batch_windows, every)
        return min(round(self.o.first_interim_s * SAMPLE_RATE), every)

    async def _interim(self, utterance: _Utterance, audio: NDArray[Any], end: int) -> None:
        started = time.monotonic()
        text, utterance.draft = await self.client.transcribe_tokens(audio, utterance.draft)
        caption = pb.Caption(
            utterance_id=utterance.id,
            is_final=False,
            text=text,
            start_ms=utterance.start // 16,
            end_ms=end // 16,
        )
        async with self._emit_lock:
            if text and utterance.id > self.last_final:  # never after the utterance's final
                utterance.interim_emitted = True
                await self._emit_raw(pb.AnalyzeResponse(caption=caption))
                metrics.CAPTION_LATENCY.labels("interim").observe(time.monotonic() - started)

    # -- finals --------------------------------------------------------------------------------
    async def _finalize_loop(self) -> None:
        while (item := await self.finals.get()) is not None:
            self.finalizing = True
            utterance, audio, _ = item
            try:
                # one span per analysed segment, under the stream's RPC span
                with tracing.span(
                    "ai",
                    "ai.stream.segment",
                    **{"meetmesh.utterance_id": utterance.id, "meetmesh.audio_ms": audio.size // 16},
                ):
                    await self._finalize(*item)
            finally:
                self.finalizing = False

    async def _finalize(
        self, utterance: _Utterance, audio: NDArray[Any], ready: asyncio.Task[tuple[str, float]] | None
    ) -> None:
        text, score = await (ready if ready is not None else self._text_and_score(audio, utterance.draft))
        metrics.SEGMENTS.inc()
        await self.store.add_activity(
            Activity(
                uuid.uuid4().hex,
                self.meeting_id,
                self.participant_id,
                SPOKE,
                self.started_at + timedelta(milliseconds=utterance.start // 16),
                (utterance.end - utterance.start) // 16,
            )
        )
        segment_name = ""
        if text:
            segment = Segment(
                uuid.uuid4().hex,
                self.meeting_id,
                self.participant_id,
                self.started_at + timedelta(milliseconds=utterance.start // 16),
                utterance.start // 16,
                utterance.end // 16,
                text,
                score,
            )
            await self.store.add_segment(segment)
            segment_name = f"meetings/{self.meeting_id}/transcriptSegments/{segment.id}"
            self.last_final = utterance.id
            await self.emit(
                pb.AnalyzeResponse(
                    caption=pb.Caption(
                        utterance_id=utterance.id,
                        is_final=True,
                        text=text,
                        start_ms=utterance.start // 16,
                        end_ms=utterance.end // 16,
                        segment=segment_name,
                    )
                )
            )
            metrics.CAPTION_LATENCY.labels("final").observe(time.monotonic() - utterance.ended_at)
        if self.config.synthetic_voice:
            long_enough = audio.size >= self.o.alert_min_s * SAMPLE_RATE
            alert = long_enough and score >= self.o.alert_threshold
            if alert:
                await self.store.add_event(
                    self._event("synthetic_voice_alert", {"utterance_id": utterance.id, "score": score})
                )
            await self.emit(
                pb.AnalyzeResponse(
                    synthetic_voice=pb.SyntheticVoice(utterance_id=utterance.id, score=score, alert=alert)
                )
            )

    def _event(self, kind: str, payload: dict[str, object]) -> AnalysisEvent:
        return AnalysisEvent(
            uuid.uuid4().hex,
            self.meeting_id,
            self.participant_id,
            kind,
            json.dumps(payload),
            datetime.now(UTC),
        )

    # -- frames --------------------------------------------------------------------------------
    def frame(self, frame: pb.VideoFrame) -> None:
        if self.frame_worker is None:
            return
        with contextlib.suppress(asyncio.QueueFull):  # sampled frames: drop while busy
            self.frames.put_nowait(frame)

    async def _frame_loop(self) -> None:
        while (frame := await self.frames.get()) is not None:
            rgb = decode_image(frame.image, "frame.image")
            faces = await analyze_faces(self.client, rgb, self.classify)
            if faces:
                await self.store.add_event(
                    self._event(
                        "emotion",
                        {
                            "offset_ms": frame.offset_ms,
                            "faces": [{"box": f.box, "emotion": f.emotion} for f in faces],
                        },
                    )
                )
            await self.emit(
                pb.AnalyzeResponse(
                    emotions=pb.FrameEmotions(
                        offset_ms=frame.offset_ms,
                        faces=[emotion_proto(f.box, f.emotion, f.scores) for f in faces],
                    )
                )
            )

    # -- end -----------------------------------------------------------------------------------
    async def finish(self) -> None:
        """The client half-closed: analyse what is left, then wait for every worker."""
        self.pending = np.concatenate([self.pending, self.resampler.flush()])
        if self.pending.size:
            tail = np.pad(self.pending, (0, -self.pending.size % WINDOW))
            self.pending = np.zeros(0, dtype=np.float32)
            await self._vad(tail)
        ended = self.segmenter.flush()
        if ended is not None:
            await self._end_utterance(ended)
        else:
            self.utterance = None
        await self.finals.put(None)
        await self.final_worker
        if self.frame_worker is not None:
            await self.frames.put(None)
            await self.frame_worker
        if self.interim is not None:
            await self.interim

    def check(self) -> None:
        """A worker that failed (a corrupt frame, Triton down) fails the stream."""
        for task in (self.final_worker, self.frame_worker, self.interim):
            if task is not None and task.done() and not task.cancelled() and (error := task.exception()):
                raise error

    async def cancel(self) -> None:
        speculation = self.speculation.task if self.speculation is not None else None
        tasks = [
            t
            for t in (self.final_worker, self.frame_worker, self.interim, speculation)
            if t is not None and not t.done()
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _transcribe_text(client: InferenceClient, audio: NDArray[Any], draft: NDArray[Any] | None) -> str:
    text, _ = await client.transcribe_tokens(audio, draft)
    return text


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _no_text() -> str:
    return ""


async def _no_score() -> float:
    return 0.0
