"""RTP forwarding: the heart of the SFU.

Each subscriber's down-track gets the publisher's RTP packets as they arrive, rewritten, never
depacketised and re-packetised:

* receive side: :func:`attach_source` wraps the receiver's packet handler. Each arriving packet
  (an RTX retransmission unwrapped first) goes to :meth:`PacketSource.on_rtp`, which reads what
  every subscriber needs once per packet (the VP8 keyframe start, the audio level, the time) and
  hands it to every :class:`ForwardedTrack`. aiortc's own path still runs after it, once per
  source: its NACKs to the publisher, its jitter buffer and depayloader, whose reassembled frames
  arrive at the source in place of the decoder's input queue (:meth:`PacketSource.put`) and feed
  the frame counters, the picture size and the taps (recording, AI), which want whole frames. The
  decoder thread still starts but only waits for the end-of-stream marker.
* send side (per subscriber, :class:`ForwardedTrack`): the packet's SSRC, payload type, sequence
  number (an offset chosen at every (re)start, so the subscriber sees a continuous sequence across
  pauses, mutes and keyframe resyncs) and timestamp (a fixed offset) are rewritten, its header
  extensions replaced by those the subscriber negotiated (mid, abs-send-time, audio level), and
  the bytes SRTP-protected and sent on the subscriber's DTLS transport. Subscribers whose
  extension layout is the same share the header extensions and payload built once per packet; per
  subscriber only the 12-byte header is packed. The subscriber's ``RTCRtpSender`` is kept for what
  it does besides sending media: RTCP (sender reports, fed from the down-track's counters;
  receiver reports), NACKs (answered from the down-track's own history, over RTX when negotiated)
  and PLI/FIR (routed to the publisher as a rate-limited PLI). Its send loop waits on the
  down-track, which never yields a frame.

These hooks touch private aiortc internals; ``aiortc`` is pinned exactly in ``pyproject.toml``
(ADR 0200) and ``tests/media/test_forwarding.py`` covers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import random
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import pylibsrtp
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket, pack_header_extensions, unwrap_rtx

from . import metrics

logger = logging.getLogger(__name__)

# Codecs the SFU forwards: every publisher and subscriber must agree on them.
FORWARDED_MIME_TYPES = frozenset({"video/vp8", "audio/opus", "video/rtx"})
PLI_MIN_INTERVAL_S = 0.3
# Packets each down-track keeps for retransmission (aiortc's sender keeps 128).
HISTORY_SIZE = 512  # (header, shared rest) pairs: the payload bytes are not copied per subscriber
# At most this many packets since a keyframe are kept for subscribers that (re)start (about a
# second of 640x480 VP8 at 1 Mbit/s); a longer picture group means a keyframe request instead.
GOP_CACHE_PACKETS = 128
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
NTP_EPOCH_OFFSET_S = 2208988800  # 1900-01-01 to 1970-01-01
_HEADER = struct.Struct("!BBHII")  # the fixed RTP header (no CSRCs)
_SEQ = struct.Struct("!H")

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


def vp8_keyframe_start(payload: bytes) -> bool:
    """True when an RTP VP8 payload is the first packet of a keyframe (RFC 7741): the payload
    descriptor's S bit set with partition id 0, then the payload header's P bit clear."""
    if len(payload) < 2:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # not the start of partition 0
        return False
    index = 1
    if first & 0x80:  # X: extended control bits follow
        extended = payload[1]
        index = 2
        if extended & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= index:
                return False
            index += 2 if payload[index] & 0x80 else 1
        if extended & 0x40:  # L: TL0PICIDX
            index += 1
        if extended & 0x30:  # T or K: TID/Y/KEYIDX
            index += 1
    return len(payload) > index and payload[index] & 0x01 == 0


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


def _newer(a: int, b: int) -> bool:
    """Sequence number ``a`` comes after ``b`` (16-bit wrap-around)."""
    return 0 < (a - b) & 0xFFFF < 0x8000


class PacketSource:
    """One published track as seen by the SFU: RTP packets in, rewritten copies out to each
    subscriber; reassembled frames in, ``av.Packet``s out to taps.

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
        self._forwarding: tuple[ForwardedTrack, ...] = ()  # the subscribers, iterated per packet
        self._taps: list[PacketTap] = []
        self._closed = threading.Event()
        self._last_pli = 0.0
        self._pending: set[asyncio.Future[None]] = set()
        self._ended = False
        self._bytes_out = metrics.FORWARDED_AUDIO if kind == "audio" else metrics.FORWARDED_VIDEO
        # Padding-only packets are not forwarded; the sequence numbers after them close the gap.
        self._highest_seq: int | None = None
        self._skipped: deque[int] = deque(maxlen=64)  # recent dropped padding packets' numbers
        self._dropped = 0  # padding packets dropped so far
        self._rtx: dict[int, int] | None = None  # RTX payload type -> original payload type
        # The packets since the last keyframe started (video; None while unknown or too many): a
        # subscriber that (re)starts replays them instead of waiting for a keyframe.
        self._gop: list[tuple[int, int, int, bytes]] | None = None

    # -- aiortc side: packets -----------------------------------------------------------------
    def _rtx_types(self) -> dict[int, int]:
        if self._rtx is None:
            codecs: dict[int, RTCRtpCodecParameters] = self.receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
            self._rtx = {
                pt: apt
                for pt, c in codecs.items()
                if c.mimeType.lower() == "video/rtx" and isinstance(apt := c.parameters.get("apt"), int)
            }
        return self._rtx

    def on_rtp(self, packet: RtpPacket) -> None:
        """One RTP packet from the publisher (or the relay): forward it to every subscriber."""
        rtx = self._rtx_types() if self.kind == "video" else None
        if rtx and packet.payload_type in rtx:
            originals: dict[int, int] = self.receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
            ssrc = originals.get(packet.ssrc)
            if ssrc is None or len(packet.payload) < 2:
                return  # RTX padding, or an unknown stream
            packet = unwrap_rtx(packet, payload_type=rtx[packet.payload_type], ssrc=ssrc)
        seq = packet.sequence_number
        newest = self._highest_seq is None or _newer(seq, self._highest_seq)
        if newest:
            self._highest_seq = seq
        payload = packet.payload
        if not payload:  # padding only
            if newest:
                self._skipped.append(seq)
                self._dropped += 1
            return
        if self._dropped:
            seq = self._renumber(seq)
        if self.muted:
            self._gop = None
            return
        if self.kind == "video":
            start = vp8_keyframe_start(payload)
            if start:
                self._gop = [(seq, packet.timestamp, packet.marker, payload)]
            elif self._gop is not None:
                if len(self._gop) < GOP_CACHE_PACKETS:
                    self._gop.append((seq, packet.timestamp, packet.marker, payload))
                else:
                    self._gop = None  # a long picture group: late subscribers ask for a keyframe
            level = -1
        else:
            start = True
            audio_level = packet.extensions.audio_level
            level = -1 if audio_level is None else (0x80 if audio_level[0] else 0) | audio_level[1]
        if not self._forwarding:
            return
        now = time.time() + NTP_EPOCH_OFFSET_S
        ntp = int(now * 4294967296)
        abs_send_time = (ntp >> 14) & 0xFFFFFF
        shared: dict[Any, tuple[int, int, bytes]] = {}
        sent = 0
        for track in self._forwarding:
            sent += track._forward(
                seq, packet.timestamp, packet.marker, payload, start, abs_send_time, level, ntp, shared
            )
        if sent:
            self._bytes_out.inc(len(payload) * sent)

    def _renumber(self, seq: int) -> int:
        """The sequence number with the dropped padding packets before it taken out."""
        before = self._dropped
        for dropped in reversed(self._skipped):
            if _newer(seq, dropped):
                break
            before -= 1
        return (seq - before) & 0xFFFF

    # -- aiortc side: frames --------------------------------------------------------------------
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
        if self.muted or not self._taps:
            return
        packet = av.Packet(data)
        packet.pts = frame.timestamp
        packet.dts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        packet.is_keyframe = keyframe
        for tap in self._taps:
            tap(self, packet)

    def get(self) -> None:
        self._closed.wait()
        return None

    # -- SFU side ---------------------------------------------------------------------------
    def subscribe(self) -> ForwardedTrack:
        track = ForwardedTrack(self)
        self._subscribers.add(track)
        self._forwarding = tuple(self._subscribers)
        self.request_keyframe()
        return track

    def unsubscribe(self, track: ForwardedTrack) -> None:
        self._subscribers.discard(track)
        self._forwarding = tuple(self._subscribers)

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
        if muted == self.muted:
            return
        self.muted = muted
        if not muted:
            for track in self._forwarding:
                track.resync()  # each restarts at a keyframe, its sequence numbers continuous
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), at most once per PLI_MIN_INTERVAL_S."""
        if self.kind != "video":
            return
        now = time.monotonic()
        if now - self._last_pli < PLI_MIN_INTERVAL_S:
            return
        sources = self.receiver.getSynchronizationSources()
        if not sources:
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
            sub.stop()
        self._subscribers.clear()
        self._forwarding = ()
        self._taps.clear()


class ForwardedTrack(MediaStreamTrack):
    """A subscriber's down-track: the publisher's RTP packets, rewritten for this subscriber and
    sent on its DTLS transport, starting at a keyframe.

    aiortc's ``RTCRtpSender`` holds it as its track; ``recv`` never yields (it ends with the
    track), so the sender's media loop idles while its RTCP side works (see the module doc).
    """

    def __init__(self, source: PacketSource) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.frames_out = 0
        #: Called with nothing when the first packet goes out (the SFU's join-to-first-frame metric).
        self.on_first_frame: Callable[[], None] | None = None
        self.paused = False  # the subscriber does not display it: nothing is forwarded
        self.retransmitted = 0  # packets sent again on the subscriber's NACK
        self._synced = False
        # Outgoing sequence numbers: incoming + offset, the offset chosen at every (re)start so the
        # subscriber sees no gap; random start in the lower half (aiortc's choice, for SRTP).
        self._last_out = random.randrange(0x8000)
        self._floor = self._last_out  # packets older than this (late ones from before a restart) are dropped
        self._seq_offset = 0
        self._ts_offset = random.getrandbits(32)
        # What was sent, for NACKs: (the 12-byte header, the rest), the rest shared with the other
        # subscribers of the same extension layout.
        self._history: list[tuple[bytes, bytes] | None] = [None] * HISTORY_SIZE
        self._packets = 0
        self._octets = 0
        self._done = asyncio.Event()
        self._transceiver: RTCRtpTransceiver | None = None
        self._dtls: RTCDtlsTransport | None = None
        self._layout: tuple[int, int, bytes, int, int] | None = (
            None  # pt, mid id, mid, abs-send-time id, level id
        )
        self._ssrc = 0
        self._rtx_pt: int | None = None
        self._rtx_ssrc = 0
        self._rtx_seq = random.randrange(0x8000)
        self._srtp: Any = None
        self._nominated: dict[int, Any] = {}
        self._pair: Any = None  # the ICE candidate pair sent on, and its remote address
        self._remote: tuple[str, int] = ("", 0)
        self._sender: Any = None

    # -- control ----------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        """Pause forwarding to this subscriber, or resume it at the next keyframe."""
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:
            self.resync()

    def resync(self) -> None:
        """Restart at the next keyframe (the current one if the source holds it), the sequence
        numbers continuing where they stopped."""
        self._synced = False
        if self.kind == "video" and self.source._gop is None:
            self.source.request_keyframe()

    async def recv(self) -> av.Packet:
        if self.readyState == "live":
            await self._done.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self.source.unsubscribe(self)
        self._done.set()

    # -- the subscriber's side of the connection -----------------------------------------------
    def _attach(self, transceiver: RTCRtpTransceiver) -> None:
        self._transceiver = transceiver
        self._sender = transceiver.sender

    def _ready(self) -> bool:
        """Connected (DTLS and SRTP up); on the first call, read what was negotiated."""
        if self._layout is not None:
            return self._dtls is not None and self._dtls._state is State.CONNECTED
        transceiver = self._transceiver
        if transceiver is None:
            return False
        dtls = transceiver.sender.transport
        if dtls._state is not State.CONNECTED or dtls._tx_srtp is None:
            return False
        codecs = transceiver._codecs
        media = next((c for c in codecs if c.mimeType.lower() != "video/rtx"), None)
        if media is None or media.payloadType is None:
            return False
        rtx = next(
            (
                c
                for c in codecs
                if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == media.payloadType
            ),
            None,
        )
        ids = {e.uri: e.id for e in transceiver._headerExtensions}
        mid = (transceiver.mid or "").encode()
        self._layout = (
            media.payloadType,
            ids.get(URI_MID, 0) if mid else 0,
            mid,
            ids.get(URI_ABS_SEND_TIME, 0),
            ids.get(URI_AUDIO_LEVEL, 0),
        )
        self._rtx_pt = rtx.payloadType if rtx is not None else None
        self._ssrc = transceiver.sender._ssrc
        self._rtx_ssrc = transceiver.sender._rtx_ssrc
        self._srtp = dtls._tx_srtp
        self._nominated = dtls.transport._connection._nominated
        self._dtls = dtls
        return True

    def _send(self, plain: bytes) -> None:
        pair = self._nominated.get(1)
        if pair is None:
            return
        if pair is not self._pair:  # the first packet, or ICE changed the pair (it nominates once)
            self._pair, self._remote = pair, pair.remote_addr
        try:
            protected = self._srtp.protect(plain)
        except pylibsrtp.Error:  # e.g. too long with this subscriber's extensions: drop it, never
            return  # fail the publisher's receive loop this runs in
        # aioice's protocol.send_data does no more than this (plain UDP and TURN alike).
        pair.protocol.transport.sendto(protected, self._remote)

    # -- forwarding -------------------------------------------------------------------------
    def _forward(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        start: bool,
        abs_send_time: int,
        level: int,
        ntp: int,
        shared: dict[Any, tuple[int, int, bytes]],
    ) -> int:
        """Send one packet (``seq``: the source's numbering). 1 if it went out, else 0."""
        if self.paused:
            return 0
        if self._sender is not None and self._sender.track is not self:
            return 0  # its m-line carries another track now: sending would mix two streams on one SSRC
        if not self._synced:
            if not self._ready():
                return 0
            if not start:
                gop = self.source._gop
                if gop:  # the source holds the current keyframe and what followed it: replay
                    return self._replay(gop, abs_send_time, ntp)
                self.source.request_keyframe()  # rate-limited; repeats until one arrives
                return 0
            self._synced = True
            self._seq_offset = (self._last_out + 1 - seq) & 0xFFFF
            self._last_out = self._floor = (seq + self._seq_offset) & 0xFFFF
            if self.on_first_frame is not None:
                self.on_first_frame()
                self.on_first_frame = None
        elif self._dtls._state is not State.CONNECTED:  # type: ignore[union-attr]
            return 0
        out = (seq + self._seq_offset) & 0xFFFF
        ahead = (out - self._last_out) & 0xFFFF
        if ahead < 0x8000:
            self._last_out = out
            if (out - self._floor) & 0xFFFF > 0x4000:
                self._floor = (out - 0x2000) & 0xFFFF
        elif (out - self._floor) & 0xFFFF >= 0x8000:
            return 0  # late, and from before this (re)start
        layout = self._layout
        built = shared.get(layout)
        if built is None:
            built = shared[layout] = _build(layout, marker, payload, abs_send_time, level)  # type: ignore[arg-type]
        first, second, rest = built
        timestamp = (timestamp + self._ts_offset) & 0xFFFFFFFF
        header = _HEADER.pack(first, second, out, timestamp, self._ssrc)
        self._history[out % HISTORY_SIZE] = (header, rest)
        self._send(header + rest)
        self._packets += 1
        self._octets += len(payload)
        if marker or self.kind == "audio":
            self.frames_out += 1
            # What the sender's RTCP sender reports and stats read (once per frame).
            sender = self._sender
            sender._RTCRtpSender__ntp_timestamp = ntp
            sender._RTCRtpSender__rtp_timestamp = timestamp
            sender._RTCRtpSender__octet_count = self._octets
            sender._RTCRtpSender__packet_count = self._packets
        return 1

    def _replay(self, gop: list[tuple[int, int, int, bytes]], abs_send_time: int, ntp: int) -> int:
        sent = 0
        for index, (seq, timestamp, marker, payload) in enumerate(gop):
            sent += self._forward(seq, timestamp, marker, payload, index == 0, abs_send_time, -1, ntp, {})
        return sent

    async def _retransmit(self, seq: int) -> None:
        """The subscriber lost ``seq`` (NACK): send it again from the history, over RTX when
        negotiated (RFC 4588: the original sequence number first in the payload)."""
        sent = self._history[seq % HISTORY_SIZE]
        if sent is None or _SEQ.unpack_from(sent[0], 2)[0] != seq or not self._ready():
            return
        header, rest = sent
        if self._rtx_pt is not None:
            extensions = 4 + 4 * int.from_bytes(rest[2:4], "big") if header[0] & 0x10 else 0
            first, second, _, timestamp, _ = _HEADER.unpack(header)
            header = _HEADER.pack(
                first, (second & 0x80) | self._rtx_pt, self._rtx_seq, timestamp, self._rtx_ssrc
            )
            rest = rest[:extensions] + sent[0][2:4] + rest[extensions:]
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        self.retransmitted += 1
        metrics.RETRANSMITTED.labels(self.kind).inc()
        self._send(header + rest)


def _build(
    layout: tuple[int, int, bytes, int, int], marker: int, payload: bytes, abs_send_time: int, level: int
) -> tuple[int, int, bytes]:
    """The first two header bytes and everything after the SSRC (extensions, payload) of a packet
    for subscribers with this layout."""
    pt, mid_id, mid, abs_id, level_id = layout
    extensions: list[tuple[int, bytes]] = []
    if mid_id:
        extensions.append((mid_id, mid))
    if abs_id:
        extensions.append((abs_id, abs_send_time.to_bytes(3, "big")))
    if level_id and level >= 0:
        extensions.append((level_id, bytes((level,))))
    second = (0x80 if marker else 0) | pt
    if not extensions:
        return 0x80, second, payload
    profile, value = pack_header_extensions(extensions)
    return 0x90, second, struct.pack("!HH", profile, len(value) // 4) + value + payload


def attach_source(receiver: RTCRtpReceiver, kind: str, track_id: str = "") -> PacketSource:
    """Install the packet and pre-decoder hooks on a receiver. Call before it starts receiving
    (i.e. from the ``track`` event or right after ``setRemoteDescription``)."""
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
        if receiver._enabled:
            source.on_rtp(packet)
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


def attach_sender(transceiver: RTCRtpTransceiver, track: ForwardedTrack) -> None:
    """Make ``track`` this subscriber m-line's down-track: it sends the packets on the m-line's
    transport; the sender answers NACKs from the track's history and routes keyframe requests
    (PLI/FIR) to the publisher. Call after ``replaceTrack(track)``."""
    sender = transceiver.sender
    track._attach(transceiver)
    sender._send_keyframe = track.source.request_keyframe  # type: ignore[method-assign]
    sender._retransmit = track._retransmit  # type: ignore[method-assign,assignment]
