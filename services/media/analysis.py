"""The AI tap's consumer: one ``Analyze`` stream to the ai service per analysed participant.

Each sink opens ``meetmesh.ai.internal.v1.AnalysisStreamService/Analyze``, sends the
``StreamConfig`` (16 kHz LINEAR16, captions on) and then one ``AudioChunk`` per tap chunk, while
a reader hands every ``Caption`` event (interim and final) to the media service, which relays it
to signaling through ``WatchMeeting``. Video frames are not sent (captions need audio only).

Media never waits on the ai service: chunks go through a bounded queue and are dropped while the
stream is down or behind. When the ai service is unavailable the stream is reopened with
exponential backoff. Captions are transcripts, personal data: their text is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import av
from grpclib.client import Stream

from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.internal.v1 import analysis_stream_pb2 as pb
from meetmesh.media.internal.v1 import media_pb2
from services.kit import ServiceIdentity, channel

from .aitap import AUDIO_RATE

log = logging.getLogger("meetmesh.media.analysis")

CaptionSink = Callable[[str, media_pb2.Caption], None]

# About 20 s of 200 ms chunks may wait for a slow stream before chunks are dropped.
QUEUE_CHUNKS = 100
# After the sink closes, the stream may still deliver the last final captions for this long.
DRAIN_S = 15.0


class AnalysisConsumer:
    """Opens one :class:`AnalysisStream` per participant against the ai service at ``target``."""

    def __init__(
        self,
        target: str,
        publish_caption: CaptionSink,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        identity: ServiceIdentity | None = None,
    ) -> None:
        self.target = target
        self.identity = identity  # media's credential on the internal Analyze method
        self.publish_caption = publish_caption
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    async def open(self, meeting: str, participant: str) -> AnalysisStream:
        return AnalysisStream(self, meeting, participant)


class AnalysisStream:
    """A participant's sink: feeds the ``Analyze`` stream and publishes its captions."""

    def __init__(self, consumer: AnalysisConsumer, meeting: str, participant: str) -> None:
        self._consumer = consumer
        self.meeting = meeting
        self.participant = participant
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._task = asyncio.ensure_future(self._run())

    async def audio(self, pcm: bytes, offset_ms: int) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(pcm)

    async def video(self, frame: av.VideoFrame, offset_ms: int) -> None:
        """Frames are not analysed here (captions need audio only)."""

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

    async def _stream(self, first: bytes) -> bool:
        """One ``Analyze`` stream; True when it ended because the sink closed."""
        config = pb.StreamConfig(
            participant=f"meetings/{self.meeting}/participants/{self.participant}",
            sample_rate_hertz=AUDIO_RATE,
            encoding=pb.AUDIO_ENCODING_LINEAR16,
            captions=True,
        )
        async with channel(self._consumer.target, self._consumer.identity) as ch:
            stub = analysis_stream_grpc.AnalysisStreamServiceStub(ch)
            async with stub.Analyze.open() as stream:
                await stream.send_message(pb.AnalyzeRequest(config=config))
                await stream.send_message(pb.AnalyzeRequest(audio=pb.AudioChunk(data=first)))
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
                        with contextlib.suppress(asyncio.CancelledError):
                            await task

    async def _send(self, stream: Stream[pb.AnalyzeRequest, pb.AnalyzeResponse]) -> None:
        while (chunk := await self._queue.get()) is not None:
            await stream.send_message(pb.AnalyzeRequest(audio=pb.AudioChunk(data=chunk)))
        await stream.end()

    async def _read(self, stream: Stream[pb.AnalyzeRequest, pb.AnalyzeResponse]) -> None:
        async for event in stream:
            if event.WhichOneof("event") == "caption":
                c = event.caption
                self._consumer.publish_caption(
                    self.meeting,
                    media_pb2.Caption(
                        participant=self.participant,
                        text=c.text,
                        is_final=c.is_final,
                        utterance_id=c.utterance_id,
                    ),
                )
