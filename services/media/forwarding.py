"""Encoded-frame forwarding: the heart of the SFU.

aiortc decodes every received frame in a per-receiver thread, and encodes every frame it sends.
An SFU must do neither. Two hooks avoid both:

* receive side: :func:`attach_source` replaces the receiver's decoder input queue with a
  :class:`PacketSource`. aiortc hands it each reassembled frame (on the event loop thread); the
  source wraps it in an ``av.Packet`` and fans it out to the subscribers' :class:`ForwardedTrack`
  queues and to taps (recording, AI). The decoder thread still starts but only waits for the
  end-of-stream marker.
* send side: ``RTCRtpSender`` packetises an ``av.Packet`` returned by its track's ``recv()`` without
  encoding. :func:`attach_sender` also routes the subscriber's keyframe requests (PLI/FIR) to
  the publisher as a (rate-limited) PLI.

Both hooks touch private aiortc internals; ``aiortc`` is pinned exactly in ``pyproject.toml`` and
``tests/media/test_forwarding.py`` covers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from . import metrics

logger = logging.getLogger(__name__)

# Codecs the SFU forwards: every publisher and subscriber must agree on them.
FORWARDED_MIME_TYPES = frozenset({"video/vp8", "audio/opus", "video/rtx"})
PLI_MIN_INTERVAL_S = 0.3
SUBSCRIBER_QUEUE_SIZE = 120

PacketTap = Callable[["PacketSource", av.Packet], None]


def is_vp8_keyframe(data: bytes) -> bool:
    """True when a depayloaded VP8 frame is a keyframe (RFC 6386 section 9.1: P bit clear)."""
    return len(data) >= 3 and data[0] & 0x01 == 0


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header, or None for an interframe."""
    if not is_vp8_keyframe(data) or len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def restrict_codecs(transceiver: RTCRtpTransceiver) -> None:
    """Keep only the codecs the SFU forwards on a transceiver negotiated from a remote offer.

    Must run between ``setRemoteDescription`` and ``createAnswer``. Raises ValueError when the
    remote side offered none of them.
    """
    media = [c for c in transceiver._codecs if c.mimeType.lower() in FORWARDED_MIME_TYPES - {"video/rtx"}]
    if not media:
        raise ValueError(f"no forwardable {transceiver.kind} codec offered (need VP8 or Opus)")
    kept = {c.payloadType for c in media}
    rtx = [
        c
        for c in transceiver._codecs
        if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") in kept
    ]
    transceiver._codecs = media + rtx


class PacketSource:
    """One published track as seen by the SFU: frames in, packets out to subscribers and taps.

    Plays the part of the ``queue.Queue`` aiortc's decoder thread reads from: ``put`` is called by
    the receiver on the event loop thread, ``get`` by the (now idle) decoder thread.
    """

    def __init__(self, kind: str, receiver: RTCRtpReceiver, track_id: str = "") -> None:
        self.kind = kind
        self.track_id = track_id
        self.receiver = receiver
        self.muted = False
        self.codec: RTCRtpCodecParameters | None = None
        self.frames_in = 0
        self.dimensions: tuple[int, int] | None = None
        self.audio_level_dbov: int | None = None  # 0 loud .. 127 silent, from the RTP extension
        self.audio_level_at = 0.0
        self.relayed = False  # received over a relay from another media node (relay.py)
        self._subscribers: set[ForwardedTrack] = set()
        self._taps: list[PacketTap] = []
        self._closed = threading.Event()
        self._last_pli = 0.0
        self._pending: set[asyncio.Future[None]] = set()
        self._ended = False

    # -- aiortc side ------------------------------------------------------------------------
    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            self.close()
            return
        codec, frame = item
        self.codec = codec
        self.frames_in += 1
        data: bytes = frame.data
        (metrics.RECEIVED_AUDIO if self.kind == "audio" else metrics.RECEIVED_VIDEO).inc(len(data))
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        if keyframe and self.kind == "video":
            self.dimensions = vp8_dimensions(data) or self.dimensions
        if self.muted:
            return
        packet = av.Packet(data)
        packet.pts = frame.timestamp
        packet.dts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        packet.is_keyframe = keyframe
        for sub in self._subscribers:
            sub._offer(packet, keyframe)
        for tap in self._taps:
            tap(self, packet)

    def get(self) -> None:
        self._closed.wait()
        return None

    # -- SFU side ---------------------------------------------------------------------------
    def subscribe(self) -> ForwardedTrack:
        track = ForwardedTrack(self)
        self._subscribers.add(track)
        self.request_keyframe()
        return track

    def unsubscribe(self, track: ForwardedTrack) -> None:
        self._subscribers.discard(track)

    @property
    def subscribers(self) -> frozenset[ForwardedTrack]:
        """The tracks this source forwards to now."""
        return frozenset(self._subscribers)

    def add_tap(self, tap: PacketTap) -> None:
        self._taps.append(tap)
        self.request_keyframe()

    def remove_tap(self, tap: PacketTap) -> None:
        with contextlib.suppress(ValueError):
            self._taps.remove(tap)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if not muted:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), at most once per PLI_MIN_INTERVAL_S."""
        if self.kind != "video":
            return
        now = time.monotonic()
        sources = self.receiver.getSynchronizationSources()
        if not sources or now - self._last_pli < PLI_MIN_INTERVAL_S:
            return  # nothing received yet: the first frame will be a keyframe anyway
        self._last_pli = now
        for source in sources:
            task = asyncio.ensure_future(self.receiver._send_rtcp_pli(source.source))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def observe_audio_level(self, level: int) -> None:
        self.audio_level_dbov = level
        self.audio_level_at = time.monotonic()

    def close(self) -> None:
        self._end()
        self._closed.set()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        for sub in list(self._subscribers):
            sub._offer(None, True)
        self._subscribers.clear()
        self._taps.clear()


class ForwardedTrack(MediaStreamTrack):
    """A subscriber's down-track: yields the publisher's packets, starting at a keyframe."""

    def __init__(self, source: PacketSource) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self._synced = source.kind == "audio"
        self.frames_out = 0
        self._bytes_out = metrics.FORWARDED_AUDIO if source.kind == "audio" else metrics.FORWARDED_VIDEO
        #: Called with nothing when the first packet goes out (the SFU's join-to-first-frame metric).
        self.on_first_frame: Callable[[], None] | None = None
        self.paused = False  # the subscriber does not display it: nothing is forwarded

    def set_paused(self, paused: bool) -> None:
        """Pause forwarding to this subscriber, or resume it at the next keyframe."""
        if paused == self.paused:
            return
        self.paused = paused
        if not paused and self.kind == "video":
            self._synced = False
            self.source.request_keyframe()

    def _offer(self, packet: av.Packet | None, keyframe: bool) -> None:
        if packet is not None and self.paused:
            return
        if packet is not None and not self._synced:
            if not keyframe:
                self.source.request_keyframe()  # rate-limited; repeats until one arrives
                return
            self._synced = True
        try:
            self._queue.put_nowait(packet)
        except asyncio.QueueFull:
            # The subscriber cannot keep up: drop what is queued and resync at a keyframe.
            while not self._queue.empty():
                self._queue.get_nowait()
            if packet is None:
                self._queue.put_nowait(None)
            elif self.kind == "video":
                self._synced = False
                self.source.request_keyframe()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        self.frames_out += 1
        self._bytes_out.inc(packet.size)
        if self.on_first_frame is not None:
            self.on_first_frame()
            self.on_first_frame = None
        return packet

    def stop(self) -> None:
        super().stop()
        self.source.unsubscribe(self)


def attach_source(receiver: RTCRtpReceiver, kind: str, track_id: str = "") -> PacketSource:
    """Install the pre-decoder hook on a receiver. Call before it starts receiving (i.e. from the
    ``track`` event or right after ``setRemoteDescription``)."""
    source = PacketSource(kind, receiver, track_id)
    # The ignores below patch aiortc's private receiver and sender hooks (pinned aiortc; ADR 0200).
    receiver._RTCRtpReceiver__decoder_queue = source  # type: ignore[attr-defined]
    original = receiver._handle_rtp_packet
    received, lost = metrics.RTP_RECEIVED.labels(kind), metrics.RTP_LOST.labels(kind)
    last_seq: dict[int, int] = {}  # ssrc -> highest sequence number seen

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        received.inc()
        last = last_seq.get(packet.ssrc)
        gap = (packet.sequence_number - last) & 0xFFFF if last is not None else 1
        if 0 < gap < 0x8000:  # forward (a late or repeated packet is not counted again)
            if gap > 1:
                lost.inc(gap - 1)
            last_seq[packet.ssrc] = packet.sequence_number
        if kind == "audio":
            level = packet.extensions.audio_level
            if level is not None:
                source.observe_audio_level(level[1])
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    send_nack, send_pli = receiver._send_rtcp_nack, receiver._send_rtcp_pli
    nacks = metrics.NACK_SENT.labels(kind)

    async def counted_nack(media_ssrc: int, lost: list[int]) -> None:
        nacks.inc()
        await send_nack(media_ssrc, lost)

    async def counted_pli(media_ssrc: int) -> None:
        metrics.PLI_SENT.inc()
        await send_pli(media_ssrc)

    receiver._send_rtcp_nack = counted_nack  # type: ignore[method-assign]
    receiver._send_rtcp_pli = counted_pli  # type: ignore[method-assign]
    return source


def attach_sender(sender: RTCRtpSender, track: ForwardedTrack) -> None:
    """Route the subscriber's keyframe requests for this sender to the publisher."""
    sender._send_keyframe = track.source.request_keyframe  # type: ignore[method-assign]
