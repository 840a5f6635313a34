"""The forwarding hooks on real aiortc peers in one process: publisher -> SFU -> subscriber.

These cover the private aiortc internals the SFU relies on (pinned aiortc version).
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from services.media import network
from services.media.forwarding import (
    PacketSource,
    attach_sender,
    attach_source,
    is_vp8_keyframe,
    restrict_codecs,
    vp8_dimensions,
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
            attach_sender(transceiver.sender, track)

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
