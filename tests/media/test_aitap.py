"""The AI tap on real forwarded media: 16 kHz mono PCM and sampled frames per participant.

The consumer here collects what the tap delivers in memory; it stands in for the AI service's
``Analyze`` stream client, which lives with the AI service (the tap's contract is the point).
"""

from __future__ import annotations

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription

from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from services.media import network
from services.media.aitap import AUDIO_CHUNK_MS, AUDIO_RATE, AiTap, ParticipantSink
from services.media.sfu import Sfu
from tests.rtc_helpers import close_to, wait_for

BLUE = (30, 30, 220)
TONE_HZ = 500.0


class Collected:
    def __init__(self) -> None:
        self.audio: list[tuple[bytes, int]] = []
        self.video: list[tuple[av.VideoFrame, int]] = []
        self.closed = False


class Sink:
    def __init__(self, collected: Collected) -> None:
        self.c = collected

    async def audio(self, pcm: bytes, offset_ms: int) -> None:
        self.c.audio.append((pcm, offset_ms))

    async def video(self, frame: av.VideoFrame, offset_ms: int) -> None:
        self.c.video.append((frame, offset_ms))

    async def close(self) -> None:
        self.c.closed = True


class Consumer:
    def __init__(self) -> None:
        self.participants: dict[tuple[str, str], Collected] = {}

    async def open(self, meeting: str, participant: str) -> ParticipantSink:
        collected = self.participants[(meeting, participant)] = Collected()
        return Sink(collected)


async def test_tap_delivers_16k_mono_audio_and_sampled_frames() -> None:
    network.use_host_addresses(["127.0.0.1"])
    sfu = Sfu(lambda _: network.rtc_configuration())
    consumer = Consumer()
    tap = AiTap(sfu.room("m1"), consumer, video_interval_s=0.5)
    publisher = RTCPeerConnection()
    video = publisher.addTransceiver(ColorVideoTrack(BLUE), direction="sendonly")
    audio = publisher.addTransceiver(ToneAudioTrack(TONE_HZ), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await sfu.negotiate(
        "m1", "alice", publisher.localDescription.sdp, {video.mid: "TR_v", audio.mid: "TR_a"}, {}
    )
    await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    try:
        await wait_for(lambda: ("m1", "alice") in consumer.participants)
        collected = consumer.participants[("m1", "alice")]
        await wait_for(lambda: len(collected.audio) >= 8 and len(collected.video) >= 3, 15)
        # Audio: 16 kHz mono s16 chunks of AUDIO_CHUNK_MS, carrying the tone that was sent.
        pcm = np.frombuffer(b"".join(chunk for chunk, _ in collected.audio[2:8]), np.int16)
        assert len(collected.audio[0][0]) == AUDIO_RATE * 2 * AUDIO_CHUNK_MS // 1000
        spectrum = np.abs(np.fft.rfft(pcm))
        peak_hz = np.argmax(spectrum) * AUDIO_RATE / len(pcm)
        assert abs(peak_hz - TONE_HZ) < 15
        offsets = [offset for _, offset in collected.audio]
        assert offsets == sorted(offsets)
        # Video: decoded frames of the picture sent, about one per interval (not every frame).
        assert close_to(dominant_rgb(collected.video[-1][0]), BLUE)
        frame_offsets = [offset for _, offset in collected.video]
        gaps = np.diff(frame_offsets)
        assert all(gap >= 400 for gap in gaps)
        await tap.close()
        assert collected.closed
    finally:
        await publisher.close()
        await sfu.close()
