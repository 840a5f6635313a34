"""A meeting across two media nodes (cascading SFU): two media processes (different ports) on one
Redis, signaling placing at most one participant of the meeting per node (``room_node_capacity``
1) so the first two participants sit on different nodes, and the nodes relaying tracks to each
other over one peer connection per meeting and direction. Real aiortc bots; media is checked
decoded (picture colour, tone frequency), not by track events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
import redis.asyncio as aioredis

from meetmesh_sdk.room import RemoteTrack, Room
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from services.kit import ServiceHost
from services.media import metrics
from services.media.api import MediaService
from services.media.forwarding import ForwardedTrack
from services.media.wiring import build as build_media
from services.signaling.placement import MediaPlacement
from services.stack.servers import free_port
from tests.rtc_helpers import Rtc, close_to, drain, media_options, start_rtc, wait_for
from tests.support import Platform, wait_until

RED, BLUE = (220, 30, 30), (30, 40, 220)
TONE_1, TONE_2 = 440.0, 660.0


async def video_colour(remote: RemoteTrack, frames: int = 3) -> tuple[int, int, int]:
    """The dominant colour of the last of a few decoded frames (past any first, partial one)."""
    frame = None
    for _ in range(frames):
        frame = await asyncio.wait_for(remote.track.recv(), 10)
    return dominant_rgb(frame)


async def tone(remote: RemoteTrack, frames: int = 25) -> tuple[float, float]:
    """(RMS level in [0, 1], dominant frequency in Hz) of about half a second of decoded audio."""
    chunks = []
    rate = 48000
    for _ in range(frames):
        frame = await asyncio.wait_for(remote.track.recv(), 10)
        rate = frame.sample_rate
        samples = frame.to_ndarray().astype(np.float64)
        chunks.append(samples.reshape(-1, len(frame.layout.channels))[:, 0] / 32768)
    pcm = np.concatenate(chunks[5:])  # past the decoder's start
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.sqrt(np.mean(pcm**2))), float(np.argmax(spectrum) * rate / len(pcm))


def relay_gauges(media: MediaService) -> dict[str, float]:
    gauges = {}
    for family in metrics.SfuCollector(media.sfu, lambda: media.relays).collect():
        for sample in family.samples:
            if sample.name == "meetmesh_media_relays":
                gauges[sample.labels["direction"]] = sample.value
            elif sample.name == "meetmesh_media_relayed_tracks":
                gauges["tracks"] = sample.value
    return gauges


@dataclass
class TwoNodes:
    rtc: Rtc  # signaling and media node A
    nodes: dict[str, MediaService]  # node address -> media service (A and B)
    placement: MediaPlacement
    meeting: str  # the meeting's id


@contextlib.asynccontextmanager
async def two_nodes(platform: Platform) -> AsyncIterator[TwoNodes]:
    """Signaling with media node A (one participant per node per meeting) and a second media
    node B, both registered; stopped afterwards."""
    port_a, port_b = free_port(), free_port()
    address_a, address_b = f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"
    rtc = await start_rtc(
        platform,
        media_options(node_address=address_a, transcode=False),
        media_port=port_a,
        room_node_capacity=1,
    )
    spec_b, media_b = build_media(platform.runtime, media_options(node_address=address_b, transcode=False))
    host_b = ServiceHost(spec_b, platform.runtime.tokens, shutdown_grace_s=1.0, grpc_port=port_b)
    await host_b.start()
    nodes = {address_a: rtc.media, address_b: media_b}
    placement = rtc.hubs[0].placement
    try:
        await wait_until(lambda: _has_nodes(placement, set(nodes)))
        yield TwoNodes(rtc, nodes, placement, rtc.meeting.name.split("/")[1])
    finally:
        await rtc.close()
        await host_b.stop()


async def test_a_room_across_two_nodes_delivers_media_both_ways(rtc_platform: Platform) -> None:
    async with two_nodes(rtc_platform) as rig:
        rtc, nodes, placement, meeting = rig.rtc, rig.nodes, rig.placement, rig.meeting
        p1 = await rtc.bot()
        video_1 = await p1.publish(ColorVideoTrack(RED))
        audio_1 = await p1.publish(ToneAudioTrack(TONE_1))
        p2 = await rtc.bot()
        await p2.publish(ColorVideoTrack(BLUE))
        audio_2 = await p2.publish(ToneAudioTrack(TONE_2))
        node_1 = await placement.known_node(meeting, p1.participant_id)
        node_2 = await placement.known_node(meeting, p2.participant_id)
        assert {node_1, node_2} == set(nodes)  # one participant per node
        one, two = nodes[node_1], nodes[node_2]

        # Each receives the other's picture and tone, decoded, across the relay.
        def kind(room: Room, who: str, name: str) -> object:
            return lambda r: r.info.participant == who and r.info.kind == room_kind(name)

        at_2_video = await p2.wait_for_track(kind(p2, p1.participant_id, "video"), 30)
        at_2_audio = await p2.wait_for_track(kind(p2, p1.participant_id, "audio"), 30)
        at_1_video = await p1.wait_for_track(kind(p1, p2.participant_id, "video"), 30)
        at_1_audio = await p1.wait_for_track(kind(p1, p2.participant_id, "audio"), 30)
        assert close_to(await video_colour(at_2_video), RED)
        assert close_to(await video_colour(at_1_video), BLUE)
        level, frequency = await tone(at_2_audio)
        assert level > 0.05 and abs(frequency - TONE_1) < 20
        level, frequency = await tone(at_1_audio)
        assert level > 0.05 and abs(frequency - TONE_2) < 20

        # Active speakers come from both nodes (each reports its own participants' levels).
        hub = rtc.hubs[0]
        await wait_for(
            lambda: {p1.participant_id, p2.participant_id} <= set(hub._speakers.get(meeting, [])), 15
        )

        # Each node holds its own participant and the other node's relay; one relay each way.
        assert set(one.sfu.rooms[meeting].peers) == {p1.participant_id, f"relay:{node_2}"}
        assert set(two.sfu.rooms[meeting].peers) == {p2.participant_id, f"relay:{node_1}"}
        assert relay_gauges(one) == {"in": 1, "out": 1, "tracks": 2}
        assert relay_gauges(two) == {"in": 1, "out": 1, "tracks": 2}
        assert two.sfu.rooms[meeting].sources[video_1][1].relayed

        # A third participant lands beside p1 (both nodes hold one: the fewest, the meeting's
        # node first) and subscribes to p2's tracks over the relay node 1 already has.
        p3 = await rtc.bot()
        assert await placement.known_node(meeting, p3.participant_id) == node_1
        at_3_video = await p3.wait_for_track(kind(p3, p2.participant_id, "video"), 30)
        assert close_to(await video_colour(at_3_video), BLUE)
        assert relay_gauges(one) == {"in": 1, "out": 1, "tracks": 2}
        assert relay_gauges(two) == {"in": 1, "out": 1, "tracks": 2}
        assert sum(p.startswith("relay:") for p in two.sfu.rooms[meeting].peers) == 1

        # Mute crosses the relay (forwarding stops on the publisher's node): p1 hears nothing, and
        # the tone again once unmuted.
        await p2.mute(audio_2)
        await asyncio.wait_for(drain(at_1_audio.track), 15)
        await p2.mute(audio_2, False)
        level, frequency = await tone(at_1_audio)
        assert level > 0.05 and abs(frequency - TONE_2) < 20

        # A pause crosses it too: p2 hides p1's video, its only subscriber on node 2, so node 2
        # pauses its relay's subscription on node 1; shown again, the picture comes back.
        def relay_down_track() -> ForwardedTrack:
            return one.sfu.rooms[meeting].peers[f"relay:{node_2}"].subscriptions[video_1]

        await p2.set_visible([video_1], False)
        await wait_for(lambda: relay_down_track().paused)
        await asyncio.wait_for(drain(at_2_video.track), 15)  # nothing reaches p2
        await p2.set_visible([video_1], True)
        await wait_for(lambda: not relay_down_track().paused)
        assert close_to(await video_colour(at_2_video), RED)

        # An unpublish on node 1 ends the relayed track at p2's subscription on node 2.
        down_track = two.sfu.rooms[meeting].peers[p2.participant_id].subscriptions[video_1]
        await p1.unpublish(video_1)
        await p2.wait_until(lambda: video_1 not in p2.remote and video_1 not in p2.tracks)
        await wait_for(lambda: video_1 not in two.sfu.rooms[meeting].sources)
        await wait_for(lambda: down_track.readyState == "ended")  # node 2's down-track to p2
        # p2 gets what was queued and in flight, then nothing (a live track never pauses 1 s).
        await asyncio.wait_for(drain(at_2_video.track), 15)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(at_2_video.track.recv(), 1.5)
        assert relay_gauges(two)["tracks"] == 1
        # The other direction and the other track still flow.
        assert close_to(await video_colour(at_1_video), BLUE)
        assert (await tone(at_2_audio))[0] > 0.05
        assert audio_1 in two.sfu.rooms[meeting].sources

        # p2 leaves: node 2 serves nobody in the meeting and closes its relay; node 1 drops the
        # relay peer and the sources it relayed from node 2.
        await p2.leave()
        await wait_for(lambda: not two.sfu.rooms.get(meeting) or not two.sfu.rooms[meeting].peers, 20)
        await wait_for(lambda: f"relay:{node_2}" not in one.sfu.rooms[meeting].peers, 20)
        assert relay_gauges(two) == {"in": 0, "out": 0, "tracks": 0}
        await wait_for(lambda: relay_gauges(one) == {"in": 0, "out": 0, "tracks": 0}, 20)


def room_kind(name: str) -> int:
    from meetmesh.signaling.v1 import signaling_pb2 as pb

    return pb.TRACK_KIND_VIDEO if name == "video" else pb.TRACK_KIND_AUDIO


async def _has_nodes(placement: MediaPlacement, wanted: set[str]) -> bool:
    return set(await placement.nodes()) >= wanted


async def test_participant_placement_is_shared_and_follows_the_capacity(redis_url: str) -> None:
    """The placement rule alone, on real Redis, through two signaling instances' placements."""
    redis = aioredis.from_url(redis_url)
    prefix = f"t-cascade-{uuid.uuid4().hex[:8]}"
    first = MediaPlacement(redis, prefix, default=None, identity=None, room_node_capacity=2)  # type: ignore[arg-type]
    second = MediaPlacement(redis, prefix, default=None, identity=None, room_node_capacity=2)  # type: ignore[arg-type]

    async def register(address: str, load: int, draining: bool = False) -> None:
        entry = {"load": load, "draining": draining, "at": time.time()}
        await redis.hset(f"{prefix}:media:nodes", address, json.dumps(entry))

    try:
        await register("10.0.0.1:1", 5)
        await register("10.0.0.2:1", 0)
        await register("10.0.0.3:1", 1)
        # The meeting goes to the least loaded node; two participants fill it, the third goes to
        # the next least loaded node, whichever instance asks.
        assert await first.participant_node("m", "p1") == "10.0.0.2:1"
        assert await second.participant_node("m", "p2") == "10.0.0.2:1"
        assert await second.participant_node("m", "p3") == "10.0.0.3:1"
        assert await first.participant_node("m", "p4") == "10.0.0.3:1"
        # Every node full: the one holding fewest of the meeting (the unused one).
        assert await first.participant_node("m", "p5") == "10.0.0.1:1"
        # Asked again (another instance), a participant keeps its node.
        assert await second.participant_node("m", "p3") == "10.0.0.3:1"
        assert await first.known_node("m", "p5") == "10.0.0.1:1"
        assert await first.meeting_nodes("m") == {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}
        # A participant leaving frees its place.
        await first.forget("m", "p4")
        assert await second.participant_node("m", "p6") == "10.0.0.3:1"
        # Its node draining, a participant is placed again (not on a draining node).
        await register("10.0.0.3:1", 1, draining=True)
        assert await first.participant_node("m", "p3") == "10.0.0.1:1"
        # Without a capacity the meeting stays on its node.
        single = MediaPlacement(redis, prefix, default=None, identity=None)  # type: ignore[arg-type]
        assert await single.participant_node("n", "p1") == await single.participant_node("n", "p2")
    finally:
        keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.mark.parametrize("drained", ["second", "first"])
async def test_a_drain_moves_one_nodes_participants_and_ends_the_relays(
    rtc_platform: Platform, drained: str
) -> None:
    async with two_nodes(rtc_platform) as rig:
        rtc, nodes, placement, meeting = rig.rtc, rig.nodes, rig.placement, rig.meeting
        p1, p2 = await rtc.bot(), await rtc.bot()
        await p1.publish(ColorVideoTrack(RED))
        await p2.publish(ColorVideoTrack(BLUE))
        at_2 = await p2.wait_for_track(lambda r: r.info.participant == p1.participant_id, 30)
        at_1 = await p1.wait_for_track(lambda r: r.info.participant == p2.participant_id, 30)
        assert close_to(await video_colour(at_2), RED)
        assert close_to(await video_colour(at_1), BLUE)
        node_1 = await placement.known_node(meeting, p1.participant_id)
        node_2 = await placement.known_node(meeting, p2.participant_id)
        one, two = nodes[node_1], nodes[node_2]
        assert node_1 != node_2
        assert relay_gauges(one)["in"] == 1 and relay_gauges(two)["in"] == 1

        # One node drains: only its participant moves (to the other node, the only one left); the
        # other stays where it is. The first participant's node is the meeting's own node: it
        # moves too, and the media events come from the node that stays.
        if drained == "first":
            mover, stayer, gone, kept, kept_node = p1, p2, one, two, node_2
        else:
            mover, stayer, gone, kept, kept_node = p2, p1, two, one, node_1
        colours = {p1.participant_id: RED, p2.participant_id: BLUE}
        before = at_1 if stayer is p1 else at_2
        assert gone.node is not None
        await gone.node.drain()
        await mover.wait_resumed(30)
        assert await placement.known_node(meeting, mover.participant_id) == kept_node
        assert await placement.known_node(meeting, stayer.participant_id) == kept_node
        assert await placement.current(meeting) == (node_1 if drained == "second" else kept_node)
        moved = await mover.wait_for_track(lambda r: r.info.participant == stayer.participant_id, 30)
        again = await stayer.wait_for_track(
            lambda r: r.info.participant == mover.participant_id and r.track is not before.track, 30
        )
        assert close_to(await video_colour(moved), colours[stayer.participant_id])
        assert close_to(await video_colour(again), colours[mover.participant_id])
        # The meeting now sits on one node: every relay between the nodes is gone.
        await wait_for(lambda: relay_gauges(one) == {"in": 0, "out": 0, "tracks": 0}, 20)
        await wait_for(lambda: relay_gauges(two) == {"in": 0, "out": 0, "tracks": 0}, 20)
        assert set(kept.sfu.rooms[meeting].peers) == {p1.participant_id, p2.participant_id}
        assert not gone.sfu.local_peers(meeting)
