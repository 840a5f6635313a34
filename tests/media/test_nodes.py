"""Many media nodes: two media processes (different ports) register their load in Redis; signaling
places each new meeting on the least loaded one; draining a node moves its meetings' participants
to the other through signaling's reconnect path, and media flows again there."""

from __future__ import annotations

import asyncio

from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, dominant_rgb
from services.kit import ServiceHost
from services.media.wiring import build as build_media
from services.signaling.placement import MediaPlacement
from services.stack.servers import free_port
from tests.rtc_helpers import close_to, media_options, start_rtc, wait_for
from tests.support import Platform, wait_until

PURPLE = (150, 40, 200)


async def test_least_loaded_placement_and_a_drain_moves_participants(rtc_platform: Platform) -> None:
    port_a, port_b = free_port(), free_port()
    address_a, address_b = f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"
    rtc = await start_rtc(
        rtc_platform, media_options(node_address=address_a, transcode=False), media_port=port_a
    )
    spec_b, media_b = build_media(
        rtc_platform.runtime, media_options(node_address=address_b, transcode=False)
    )
    host_b = ServiceHost(spec_b, rtc_platform.runtime.tokens, shutdown_grace_s=1.0, grpc_port=port_b)
    await host_b.start()
    nodes = {address_a: rtc.media, address_b: media_b}
    placement = rtc.hubs[0].placement
    try:
        await wait_until(lambda: _has_nodes(placement, {address_a, address_b}))
        meeting = rtc.meeting.name.split("/")[1]
        publisher, viewer = await rtc.bot(), await rtc.bot()
        await publisher.publish(ColorVideoTrack(PURPLE))
        remote = await viewer.wait_for_track(lambda r: True)
        assert close_to(dominant_rgb(await asyncio.wait_for(remote.track.recv(), 10)), PURPLE)
        first = await placement.current(meeting)
        other = address_b if first == address_a else address_a
        assert set(nodes[first].sfu.rooms[meeting].peers) == {publisher.participant_id, viewer.participant_id}
        assert meeting not in nodes[other].sfu.rooms

        # The first node now carries two peers: a new meeting goes to the other one.
        await wait_until(lambda: _load_of(placement, first, 2))
        second = await rtc.host.create_meeting(title="Second")
        reply = await rtc.host.join(second.name)
        elsewhere = await Room.connect(reply.signaling_address, reply.join_token)
        rtc.rooms.append(elsewhere)
        await elsewhere.publish(ColorVideoTrack(PURPLE))
        assert await placement.current(second.name.split("/")[1]) == other
        await wait_for(lambda: second.name.split("/")[1] in nodes[other].sfu.rooms)

        # Draining the first node moves its meeting: clients resume, media flows on the other node.
        assert nodes[first].node is not None
        await nodes[first].node.drain()
        await viewer.wait_resumed(30)
        await wait_for(
            lambda: meeting in nodes[other].sfu.rooms and len(nodes[other].sfu.rooms[meeting].peers) == 2, 30
        )
        assert await placement.current(meeting) == other
        moved = await viewer.wait_for_track(lambda r: r.info.participant == publisher.participant_id, 30)
        frame = None
        for _ in range(3):
            frame = await asyncio.wait_for(moved.track.recv(), 10)
        assert close_to(dominant_rgb(frame), PURPLE)
        await wait_for(
            lambda: not nodes[first].sfu.rooms.get(meeting) or not nodes[first].sfu.rooms[meeting].peers
        )
    finally:
        await rtc.close()
        await host_b.stop()


async def _has_nodes(placement: MediaPlacement, wanted: set[str]) -> bool:
    return set(await placement.nodes()) >= wanted


async def _load_of(placement: MediaPlacement, address: str, load: int) -> bool:
    nodes = await placement.nodes()
    return address in nodes and nodes[address].load >= load
