"""The AI tap: per participant, decoded 16 kHz mono audio and sampled video frames for a consumer.

Forwarding never decodes; the tap does, only for the participants being analysed:

* audio: every Opus packet is decoded and resampled to 16 kHz mono signed 16-bit PCM, delivered
  in chunks of ``AUDIO_CHUNK_MS`` with the offset of the chunk's start from the tap's start;
* video: one frame every ``video_interval_s``. The tap asks the publisher for a keyframe (PLI) and
  decodes only that keyframe, so sampling costs one keyframe decode per interval, not a decoder
  running at full frame rate.

A consumer implements :class:`TapConsumer`; ``services/media/analysis.py`` connects it to the AI
service's ``Analyze`` stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import av
from av.audio.resampler import AudioResampler

from .forwarding import PacketSource
from .sfu import Room

log = logging.getLogger("meetmesh.media.aitap")

AUDIO_RATE = 16000
AUDIO_CHUNK_MS = 200
_CHUNK_BYTES = AUDIO_RATE * 2 * AUDIO_CHUNK_MS // 1000


class ParticipantSink(Protocol):
    async def audio(self, pcm: bytes, offset_ms: int) -> None:
        """16 kHz mono s16le PCM, ``AUDIO_CHUNK_MS`` long, starting ``offset_ms`` after the tap."""

    async def video(self, frame: av.VideoFrame, offset_ms: int) -> None:
        """A decoded video frame taken ``offset_ms`` after the tap started."""

    async def close(self) -> None: ...


class TapConsumer(Protocol):
    async def open(self, meeting: str, participant: str) -> ParticipantSink: ...


class _ParticipantTap:
    """Decodes one participant's sources and feeds a sink from one worker task."""

    def __init__(self, sink: ParticipantSink, video_interval_s: float) -> None:
        self.sink = sink
        self._queue: asyncio.Queue[tuple[str, av.Packet] | None] = asyncio.Queue(1000)
        self._started = time.monotonic()
        self._video_interval = video_interval_s
        self._next_video = 0.0
        self._audio_decoder: Any = av.CodecContext.create("opus", "r")
        self._resampler = AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self._pcm = bytearray()
        self._pcm_start_ms = 0
        self.task = asyncio.ensure_future(self._run())

    def offer(self, source: PacketSource, packet: av.Packet) -> None:
        if source.kind == "video":
            now = time.monotonic()
            if now < self._next_video:
                return
            if not packet.is_keyframe:
                source.request_keyframe()
                return
            self._next_video = now + self._video_interval
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((source.kind, packet))

    def _offset_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def _decode_audio(self, packet: av.Packet) -> bytes:
        out = bytearray()
        for frame in self._audio_decoder.decode(packet):
            frame.pts = None
            for resampled in self._resampler.resample(frame):
                out += bytes(resampled.planes[0])[: resampled.samples * 2]
        return bytes(out)

    @staticmethod
    def _decode_keyframe(packet: av.Packet) -> av.VideoFrame | None:
        decoder: Any = av.CodecContext.create("vp8", "r")
        frames = decoder.decode(packet)
        return frames[0] if frames else None

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            kind, packet = item
            try:
                if kind == "audio":
                    if not self._pcm:
                        self._pcm_start_ms = self._offset_ms()
                    self._pcm += await asyncio.to_thread(self._decode_audio, packet)
                    while len(self._pcm) >= _CHUNK_BYTES:
                        chunk, self._pcm = bytes(self._pcm[:_CHUNK_BYTES]), self._pcm[_CHUNK_BYTES:]
                        await self.sink.audio(chunk, self._pcm_start_ms)
                        self._pcm_start_ms += AUDIO_CHUNK_MS
                else:
                    frame = await asyncio.to_thread(self._decode_keyframe, packet)
                    if frame is not None:
                        await self.sink.video(frame, self._offset_ms())
            except av.FFmpegError as exc:
                log.warning("AI tap could not decode a %s packet: %s", kind, type(exc).__name__)
        await self.sink.close()

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await self.task


class AiTap:
    """Taps every source of a room (present and future) for a consumer, one sink per participant."""

    def __init__(self, room: Room, consumer: TapConsumer, video_interval_s: float = 1.0) -> None:
        self.room = room
        self._consumer = consumer
        self._video_interval = video_interval_s
        self._taps: dict[str, _ParticipantTap] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}
        self._sources: list[tuple[PacketSource, Callable[[PacketSource, av.Packet], None]]] = []
        room.source_listeners.append(self._on_source)
        for participant, source in list(room.sources.values()):
            self._on_source(participant, source)

    def _on_source(self, participant: str, source: PacketSource) -> None:
        if source.relayed:
            return  # analysed on the publisher's own node
        if participant not in self._taps and participant not in self._opening:
            self._opening[participant] = asyncio.ensure_future(self._open(participant))

        def tap(src: PacketSource, packet: av.Packet) -> None:
            participant_tap = self._taps.get(participant)
            if participant_tap is not None:
                participant_tap.offer(src, packet)

        self._sources.append((source, tap))
        source.add_tap(tap)

    async def _open(self, participant: str) -> None:
        sink = await self._consumer.open(self.room.meeting, participant)
        self._taps[participant] = _ParticipantTap(sink, self._video_interval)
        self._opening.pop(participant, None)

    async def close(self) -> None:
        if self._on_source in self.room.source_listeners:
            self.room.source_listeners.remove(self._on_source)
        for source, tap in self._sources:
            source.remove_tap(tap)
        for task in self._opening.values():
            task.cancel()
        for participant_tap in self._taps.values():
            await participant_tap.close()
        self._taps.clear()
