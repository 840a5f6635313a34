"""The forwarding hooks on real aiortc peers in one process: publisher -> SFU -> subscriber.

These cover the private aiortc internals the SFU relies on (pinned aiortc version).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from services.media import network
from services.media.forwarding import (
    PacketSource,
    attach_sender,
    attach_source,
    is_vp8_keyframe,
    restrict_codecs,
    vp8_dimensions,
    vp8_keyframe_start,
)
from tests.rtc_helpers import close_to, wait_for

RED = (220, 30, 30)


@pytest.fixture(autouse=True)
def loopback() -> None:
    network.use_host_addresses(["127.0.0.1"])


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection, hook=None) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    if hook:
        hook(answerer)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


class Sfu:
    """A two-leg SFU built only from the forwarding module."""

    def __init__(self) -> None:
        self.up = RTCPeerConnection()
        self.down = RTCPeerConnection()
        self.sources: dict[str, PacketSource] = {}

    def hook_up(self, pc: RTCPeerConnection) -> None:
        for transceiver in pc.getTransceivers():
            restrict_codecs(transceiver)
            self.sources[transceiver.kind] = attach_source(transceiver.receiver, transceiver.kind)

    def hook_down(self, pc: RTCPeerConnection) -> None:
        for transceiver in pc.getTransceivers():
            restrict_codecs(transceiver)
            track = self.sources[transceiver.kind].subscribe()
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendonly"
            attach_sender(transceiver, track)

    async def close(self) -> None:
        await self.up.close()
        await self.down.close()


async def collect(track, frames: list, limit: int = 1000) -> None:
    try:
        while len(frames) < limit:
            frames.append(await track.recv())
    except MediaStreamError:
        pass


async def test_frames_cross_the_sfu_without_decoding() -> None:
    publisher, subscriber, sfu = RTCPeerConnection(), RTCPeerConnection(), Sfu()
    publisher.addTrack(ColorVideoTrack(RED))
    publisher.addTrack(ToneAudioTrack())
    await negotiate(publisher, sfu.up, sfu.hook_up)
    await wait_for(lambda: sfu.sources["video"].frames_in > 0)

    subscriber.addTransceiver("video", direction="recvonly")
    subscriber.addTransceiver("audio", direction="recvonly")
    received: dict[str, list] = {"video": [], "audio": []}
    tasks = []
    subscriber.on("track", lambda t: tasks.append(asyncio.ensure_future(collect(t, received[t.kind]))))
    await negotiate(subscriber, sfu.down, sfu.hook_down)
    try:
        await wait_for(lambda: len(received["video"]) >= 10 and len(received["audio"]) >= 10)
        # The subscriber decodes the publisher's picture: the SFU relayed VP8 as is.
        assert close_to(dominant_rgb(received["video"][-1]), RED)
        assert received["audio"][-1].sample_rate == 48000
        # Audio levels from the publisher's RTP header extension reach the source.
        assert sfu.sources["audio"].audio_level_dbov is not None
        assert sfu.sources["video"].dimensions == (320, 240)
        # No decoder ran on the SFU: its receivers' tracks never got a frame.
        for transceiver in sfu.up.getTransceivers():
            assert transceiver.receiver.track._queue.qsize() == 0
    finally:
        for task in tasks:
            task.cancel()
        await publisher.close()
        await subscriber.close()
        await sfu.close()


async def test_subscriber_pli_reaches_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    publisher, subscriber, sfu = RTCPeerConnection(), RTCPeerConnection(), Sfu()
    publisher.addTrack(ColorVideoTrack(RED))
    keyframe_requests = []
    original = RTCRtpSender._send_keyframe

    def spy(self):
        if self in publisher.getSenders():
            keyframe_requests.append(self)
        original(self)

    monkeypatch.setattr(RTCRtpSender, "_send_keyframe", spy)
    await negotiate(publisher, sfu.up, sfu.hook_up)
    await wait_for(lambda: sfu.sources["video"].frames_in > 0)
    subscriber.addTransceiver("video", direction="recvonly")
    frames: list = []
    tasks = []
    subscriber.on("track", lambda t: tasks.append(asyncio.ensure_future(collect(t, frames))))
    await negotiate(subscriber, sfu.down, sfu.hook_down)
    try:
        await wait_for(lambda: len(frames) >= 3)
        before = len(keyframe_requests)
        # The subscriber reports picture loss; the SFU relays it to the publisher.
        receiver: RTCRtpReceiver = subscriber.getReceivers()[0]
        ssrc = receiver.getSynchronizationSources()[0].source
        await asyncio.sleep(0.35)  # the SFU rate-limits PLIs to one per 0.3 s
        await receiver._send_rtcp_pli(ssrc)
        await wait_for(lambda: len(keyframe_requests) > before)
    finally:
        for task in tasks:
            task.cancel()
        await publisher.close()
        await subscriber.close()
        await sfu.close()


async def test_mute_stops_forwarding() -> None:
    publisher, subscriber, sfu = RTCPeerConnection(), RTCPeerConnection(), Sfu()
    publisher.addTrack(ColorVideoTrack(RED))
    await negotiate(publisher, sfu.up, sfu.hook_up)
    subscriber.addTransceiver("video", direction="recvonly")
    await negotiate(subscriber, sfu.down, sfu.hook_down)
    source = sfu.sources["video"]
    down = next(iter(source.subscribers))
    try:
        await wait_for(lambda: down.frames_out >= 5)
        source.set_muted(True)
        await asyncio.sleep(0.1)
        muted_at, frames_in = down.frames_out, source.frames_in
        await wait_for(lambda: source.frames_in >= frames_in + 10)
        assert down.frames_out <= muted_at + 1
        source.set_muted(False)
        await wait_for(lambda: down.frames_out >= muted_at + 5)
    finally:
        await publisher.close()
        await subscriber.close()
        await sfu.close()


def test_vp8_header_parsing() -> None:
    keyframe = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    assert is_vp8_keyframe(keyframe)
    assert vp8_dimensions(keyframe) == (640, 480)
    assert not is_vp8_keyframe(bytes([0x11, 0x02, 0x00]))
    assert vp8_dimensions(bytes([0x11, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0])) is None


def test_vp8_keyframe_start_reads_the_payload_descriptor() -> None:
    # RFC 7741: descriptor (S=1, PID=0), then the VP8 payload header whose P bit is clear.
    assert vp8_keyframe_start(bytes([0x10, 0x9C]))  # minimal descriptor, keyframe
    assert not vp8_keyframe_start(bytes([0x10, 0x9D]))  # interframe (P set)
    assert not vp8_keyframe_start(bytes([0x00, 0x9C]))  # not the start of a partition
    assert not vp8_keyframe_start(bytes([0x11, 0x9C]))  # start of partition 1, not 0
    # X with a 15-bit picture id (M set), TL0PICIDX and TID/KEYIDX: five descriptor bytes.
    assert vp8_keyframe_start(bytes([0x90, 0xF0, 0x81, 0x23, 0x07, 0x20, 0x9C]))
    assert not vp8_keyframe_start(bytes([0x90, 0xF0, 0x81, 0x23, 0x07, 0x20, 0x9D]))
    # X with a 7-bit picture id only.
    assert vp8_keyframe_start(bytes([0x90, 0x80, 0x05, 0x9C]))
    assert not vp8_keyframe_start(bytes([0x90, 0x80, 0x05]))  # truncated


@dataclass
class Seen:
    """What one subscriber m-line's receiver got from the SFU, packet by packet (before aiortc's
    jitter buffer)."""

    media: list[tuple[int, bool, str | None, int | None, bool]] = field(default_factory=list)
    # (sequence number, VP8 keyframe start, mid extension, audio level, abs-send-time present)
    rtx: list[int] = field(default_factory=list)  # original sequence numbers carried by RTX

    def seqs(self) -> list[int]:
        return [s for s, *_ in self.media]


def watch_receiver(receiver: RTCRtpReceiver, kind: str) -> Seen:
    seen = Seen()
    original = receiver._handle_rtp_packet

    async def spy(packet, arrival_time_ms: int) -> None:
        codec = receiver._RTCRtpReceiver__codecs.get(packet.payload_type)
        if codec is not None and codec.mimeType.lower() == "video/rtx":
            seen.rtx.append(int.from_bytes(packet.payload[:2], "big"))
        elif codec is not None:
            level = packet.extensions.audio_level
            seen.media.append(
                (
                    packet.sequence_number,
                    kind == "video" and vp8_keyframe_start(packet.payload),
                    packet.extensions.mid,
                    None if level is None else level[1],
                    packet.extensions.abs_send_time is not None,
                )
            )
        await original(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = spy
    return seen


async def sender_report(receiver: RTCRtpReceiver):
    """The statistics of the last RTCP sender report the receiver got, or None."""
    stats = await receiver.getStats()
    return next((s for s in stats.values() if s.type == "remote-outbound-rtp"), None)


def contiguous(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # the test starts below 2^15: no wrap


async def test_down_track_sequence_is_continuous_across_pause_and_mute_and_restarts_at_keyframes() -> None:
    """The subscriber's receiver sees one gapless sequence per track across a pause and a mute,
    each restart beginning with the first packet of a keyframe, with the mid of its own m-line."""
    publisher, subscriber, sfu = RTCPeerConnection(), RTCPeerConnection(), Sfu()
    publisher.addTrack(ColorVideoTrack(RED))
    publisher.addTrack(ToneAudioTrack())
    await negotiate(publisher, sfu.up, sfu.hook_up)
    await wait_for(lambda: sfu.sources["video"].frames_in > 0)
    video_t = subscriber.addTransceiver("video", direction="recvonly")
    audio_t = subscriber.addTransceiver("audio", direction="recvonly")
    seen = {
        "video": watch_receiver(video_t.receiver, "video"),
        "audio": watch_receiver(audio_t.receiver, "audio"),
    }
    frames: list = []
    tasks = []
    subscriber.on(
        "track",
        lambda t: tasks.append(asyncio.ensure_future(collect(t, frames))) if t.kind == "video" else None,
    )
    await negotiate(subscriber, sfu.down, sfu.hook_down)
    video, audio = sfu.sources["video"], sfu.sources["audio"]
    down = {kind: next(iter(sfu.sources[kind].subscribers)) for kind in ("video", "audio")}

    async def quiet_while(source: PacketSource, kind: str) -> None:
        """Nothing reaches the subscriber while the source goes on receiving."""
        frames_in = source.frames_in
        await wait_for(lambda: source.frames_in >= frames_in + 5)  # what was in flight has landed
        stopped_at = len(seen[kind].media)
        await wait_for(lambda: source.frames_in >= frames_in + 20)
        assert len(seen[kind].media) == stopped_at

    try:
        await wait_for(lambda: len(seen["video"].media) >= 30 and len(seen["audio"].media) >= 30)
        assert seen["video"].media[0][1], "the first packet a subscriber gets starts a keyframe"
        assert {m[2] for m in seen["video"].media} == {video_t.mid}
        assert {m[2] for m in seen["audio"].media} == {audio_t.mid}
        assert all(m[4] for m in seen["video"].media)  # abs-send-time on every video packet
        assert all(m[3] is not None for m in seen["audio"].media)  # the publisher's audio level

        # Pause, then resume: a restart at a keyframe, numbered right after the last packet.
        down["video"].set_paused(True)
        await quiet_while(video, "video")
        before = len(seen["video"].media)
        down["video"].set_paused(False)
        await wait_for(lambda: len(seen["video"].media) >= before + 10)
        assert seen["video"].media[before][1], "resumed at a keyframe"

        # Mute at the source (video and audio), then unmute: the same for both kinds.
        for source in (video, audio):
            source.set_muted(True)
        await quiet_while(audio, "audio")
        muted = {kind: len(seen[kind].media) for kind in seen}
        for source in (video, audio):
            source.set_muted(False)
        await wait_for(lambda: all(len(seen[k].media) >= muted[k] + 10 for k in seen))
        assert seen["video"].media[muted["video"]][1], "unmuted at a keyframe"

        for kind in ("video", "audio"):
            assert contiguous(seen[kind].seqs()), f"{kind}: a gap or a repeat in the sequence numbers"
        # The subscriber decodes the picture after all that.
        decoded = len(frames)
        await wait_for(lambda: len(frames) >= decoded + 5)
        assert close_to(dominant_rgb(frames[-1]), RED)
        assert not video_t.receiver._RTCRtpReceiver__nack_generator.missing
        # RTCP sender reports (lip sync, stats) reach the subscriber with the down-track's counts.
        async with asyncio.timeout(5):
            while not (report := await sender_report(video_t.receiver)):  # noqa: ASYNC110 - no event
                await asyncio.sleep(0.1)
        assert report.packetsSent > 0 and report.bytesSent > 0
    finally:
        for task in tasks:
            task.cancel()
        await publisher.close()
        await subscriber.close()
        await sfu.close()


async def test_nack_is_answered_from_the_down_track_history_over_rtx() -> None:
    """Packets the subscriber lost come again from the SFU's history, as RTX (RFC 4588). Loopback
    never loses packets, so the loss is injected: the SFU's down-track skips the first sending of
    three packets (the only fake here; the NACK, the retransmission and both peers are real)."""
    publisher, subscriber, sfu = RTCPeerConnection(), RTCPeerConnection(), Sfu()
    publisher.addTrack(ColorVideoTrack(RED))
    await negotiate(publisher, sfu.up, sfu.hook_up)
    await wait_for(lambda: sfu.sources["video"].frames_in > 0)
    video_t = subscriber.addTransceiver("video", direction="recvonly")
    seen = watch_receiver(video_t.receiver, "video")
    frames: list = []
    tasks = []
    subscriber.on("track", lambda t: tasks.append(asyncio.ensure_future(collect(t, frames))))
    await negotiate(subscriber, sfu.down, sfu.hook_down)
    down = next(iter(sfu.sources["video"].subscribers))
    send, sent, dropped = down._send, [0], []

    def lossy(plain: bytes) -> None:
        sent[0] += 1
        seq = int.from_bytes(plain[2:4], "big")
        if 20 <= sent[0] < 23 and plain[1] & 0x7F != down._rtx_pt:
            dropped.append(seq)
            return
        send(plain)

    down._send = lossy
    try:
        await wait_for(lambda: len(dropped) == 3 and len(seen.media) >= 40)
        await wait_for(lambda: set(dropped) <= set(seen.rtx))
        assert down.retransmitted >= 3
        assert not set(dropped) & set(seen.seqs()), "the dropped packets came only as RTX"
        assert not video_t.receiver._RTCRtpReceiver__nack_generator.missing
        decoded = len(frames)
        await wait_for(lambda: len(frames) >= decoded + 5)
        assert close_to(dominant_rgb(frames[-1]), RED)
    finally:
        for task in tasks:
            task.cancel()
        await publisher.close()
        await subscriber.close()
        await sfu.close()


def test_padding_only_packets_leave_no_gap_in_the_forwarded_sequence() -> None:
    """Pure numbering logic, so no peers: a stand-in down-track records what the source hands it."""
    source = PacketSource("audio", receiver=None)  # audio never asks the receiver anything

    class Recorder:
        seqs: list[int] = []

        def _forward(self, seq: int, *rest: object) -> int:
            self.seqs.append(seq)
            return 1

    recorder = Recorder()
    source._forwarding = (recorder,)
    for seq, payload in [(10, b"a"), (11, b""), (12, b"b"), (13, b"c"), (9, b"late"), (14, b""), (15, b"d")]:
        source.on_rtp(RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, payload=payload))
    # 11 and 14 carried only padding: dropped, and the numbers after them close the gap; 9 came
    # late, from before the first padding, and keeps its number.
    assert recorder.seqs == [10, 11, 12, 9, 13]
