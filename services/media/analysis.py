"""The AI tap's consumer: one ``Analyze`` stream to the ai service per analysed participant.

Each sink opens ``meetmesh.ai.internal.v1.AnalysisStreamService/Analyze``, sends the
``StreamConfig`` (16 kHz LINEAR16; captions, synthetic-voice scores and emotions on) and then one
``AudioChunk`` per tap chunk and one ``VideoFrame`` per sampled frame (downscaled to at most
``FRAME_MAX_SIDE`` pixels and JPEG-encoded), while a reader hands every caption (interim and
final), synthetic-voice score and frame's emotions to the media service, which relays them to
signaling through ``WatchMeeting``.

Media never waits on the ai service: chunks and frames go through a bounded queue and are dropped
while the stream is down or behind. When the ai service is unavailable the stream is reopened
with exponential backoff. Captions are transcripts and frames are faces, personal data: neither
is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable

import av
import cv2
import numpy as np
from grpclib.client import Stream

from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from meetmesh.media.internal.v1 import media_pb2
from services.kit import ServiceIdentity, channel

from .aitap import AUDIO_RATE

log = logging.getLogger("meetmesh.media.analysis")

# Receives each AI event of a meeting: (meeting, event).
EventSink = Callable[[str, media_pb2.WatchMeetingResponse], None]

# About 20 s of 200 ms chunks may wait for a slow stream before chunks are dropped.
QUEUE_CHUNKS = 100
# Sampled frames are downscaled so that their longer side is at most this many pixels.
FRAME_MAX_SIDE = 480
FRAME_JPEG_QUALITY = 85
_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def frame_jpeg(frame: av.VideoFrame, max_side: int = FRAME_MAX_SIDE) -> bytes:
    """A decoded video frame as a JPEG, downscaled to at most ``max_side`` pixels on its longer side."""
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale)) // 2 * 2, max(2, round(frame.height * scale)) // 2 * 2
    bgr = frame.reformat(width=width, height=height, format="bgr24").to_ndarray()
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, FRAME_JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return bytes(np.asarray(encoded).tobytes())


def frame_emotions(participant: str, event: pb.FrameEmotions) -> media_pb2.FrameEmotions:
    """The largest face's emotion (the ai service lists faces largest first)."""
    if not event.faces:
        return media_pb2.FrameEmotions(participant=participant)
    face = event.faces[0]
    index = face.emotion - 1  # Emotion enum without UNSPECIFIED, in the order of the scores
    emotion = _EMOTIONS[index] if 0 <= index < len(_EMOTIONS) else ""
    score = face.scores[index] if emotion and index < len(face.scores) else 0.0
    return media_pb2.FrameEmotions(
        participant=participant, emotion=emotion, score=score, faces=len(event.faces)
    )


# After the sink closes, the stream may still deliver the last final captions for this long.
DRAIN_S = 15.0


class AnalysisConsumer:
    """Opens one :class:`AnalysisStream` per participant against the ai service at ``target``."""

    def __init__(
        self,
        target: str,
        publish: EventSink,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        identity: ServiceIdentity | None = None,
    ) -> None:
        self.target = target
        self.identity = identity  # media's credential on the internal Analyze method
        self.publish = publish
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    async def open(self, meeting: str, participant: str) -> AnalysisStream:
        return AnalysisStream(self, meeting, participant)


class AnalysisStream:
    """A participant's sink: feeds the ``Analyze`` stream and publishes its events."""

    def __init__(self, consumer: AnalysisConsumer, meeting: str, participant: str) -> None:
        self._consumer = consumer
        self.meeting = meeting
        self.participant = participant
        self._queue: asyncio.Queue[pb.AnalyzeRequest | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.dropped = 0  # audio chunks dropped while the stream was down or behind
        # A stream lives as long as the participant publishes: it must not inherit the deadline (or
        # anything else) of the signaling call whose negotiation happened to open it.
        self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    async def audio(self, pcm: bytes, offset_ms: int) -> None:
        try:
            self._queue.put_nowait(pb.AnalyzeRequest(audio=pb.AudioChunk(data=pcm)))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("AI analysis stream is behind; dropping audio")

    async def video(self, frame: av.VideoFrame, offset_ms: int) -> None:
        """A sampled frame, downscaled and JPEG-encoded (off the event loop), for emotions."""
        if self._queue.full():
            return
        image = await asyncio.to_thread(frame_jpeg, frame)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(
                pb.AnalyzeRequest(frame=pb.VideoFrame(image=image, offset_ms=max(offset_ms, 0)))
            )

    async def close(self) -> None:
        while True:  # make room for the end marker: the stream is ending anyway
            try:
                self._queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                self._queue.get_nowait()
        try:
            await asyncio.wait_for(self._task, DRAIN_S)
        except TimeoutError:
            log.warning("AI analysis stream did not end in time; dropped")

    async def _run(self) -> None:
        """Opens the stream when audio arrives; reopens after a failure (with backoff) or after the
        ai service ended it (an idle stream), at the next chunk."""
        backoff = self._consumer.backoff_s
        while (first := await self._queue.get()) is not None:
            try:
                if await self._stream(first):
                    return
                backoff = self._consumer.backoff_s
            except Exception as exc:  # any stream failure: media keeps flowing, the stream reopens
                log.warning(
                    "AI analysis stream failed (%s); reopening in %.1f s", type(exc).__name__, backoff
                )
                await asyncio.sleep(backoff)  # backoff between reconnection attempts
                backoff = min(backoff * 2, self._consumer.max_backoff_s)

    async def _stream(self, first: pb.AnalyzeRequest) -> bool:
        """One ``Analyze`` stream; True when it ended because the sink closed."""
        config = pb.StreamConfig(
            participant=f"meetings/{self.meeting}/participants/{self.participant}",
            sample_rate_hertz=AUDIO_RATE,
            encoding=pb.AUDIO_ENCODING_LINEAR16,
            captions=True,
            synthetic_voice=True,
            emotion=True,
        )
        async with channel(self._consumer.target, self._consumer.identity) as ch:
            stub = analysis_stream_grpc.AnalysisStreamServiceStub(ch)
            async with stub.Analyze.open() as stream:
                await stream.send_message(pb.AnalyzeRequest(config=config))
                await stream.send_message(first)
                reader = asyncio.ensure_future(self._read(stream))
                sender = asyncio.ensure_future(self._send(stream))
                try:
                    done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
                    if reader in done:  # the ai service ended the stream (or failed)
                        reader.result()
                        return False
                    sender.result()
                    await reader  # the last captions after the half-close
                    return True
                finally:
                    for task in (reader, sender):
                        task.cancel()
                        # the outcome is decided above; a sender failing on the stream the ai
                        # service ended is part of that outcome
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task

    async def _send(self, stream: Stream[pb.AnalyzeRequest, pb.AnalyzeResponse]) -> None:
        while (request := await self._queue.get()) is not None:
            await stream.send_message(request)
        await stream.end()

    async def _read(self, stream: Stream[pb.AnalyzeRequest, pb.AnalyzeResponse]) -> None:
        async for event in stream:
            kind = event.WhichOneof("event")
            if kind == "caption":
                c = event.caption
                caption = media_pb2.Caption(
                    participant=self.participant,
                    text=c.text,
                    is_final=c.is_final,
                    utterance_id=c.utterance_id,
                )
                self._consumer.publish(self.meeting, media_pb2.WatchMeetingResponse(caption=caption))
            elif kind == "synthetic_voice":
                v = event.synthetic_voice
                score = media_pb2.SyntheticVoiceScore(
                    participant=self.participant, utterance_id=v.utterance_id, score=v.score, alert=v.alert
                )
                self._consumer.publish(self.meeting, media_pb2.WatchMeetingResponse(synthetic_voice=score))
            elif kind == "emotions":
                emotions = frame_emotions(self.participant, event.emotions)
                self._consumer.publish(self.meeting, media_pb2.WatchMeetingResponse(emotions=emotions))
