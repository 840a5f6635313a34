"""Bandwidth follows the screen: a subscriber that hides a tile stops receiving that track (the SFU
stops forwarding it to that subscriber only) and gets it again, from a keyframe, when shown."""

from __future__ import annotations

import asyncio

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.sources import ColorVideoTrack, dominant_rgb
from tests.rtc_helpers import RawSession, Rtc, close_to, drain, wait_for

ORANGE = (230, 140, 20)


async def test_a_hidden_track_is_paused_for_that_subscriber_only(rtc: Rtc) -> None:
    publisher, hiding, watching = await rtc.bot(), await rtc.bot(), await rtc.bot()
    video = await publisher.publish(ColorVideoTrack(ORANGE))
    hidden_remote = await hiding.wait_for_track(lambda r: r.info.id == video)
    shown_remote = await watching.wait_for_track(lambda r: r.info.id == video)
    await asyncio.wait_for(hidden_remote.track.recv(), 10)
    peer = rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].peers[hiding.participant_id]

    await hiding.set_visible([video], False)
    await wait_for(lambda: peer.subscriptions[video].paused)
    # What was in flight, then nothing (drain returns only after a second without frames)...
    await asyncio.wait_for(drain(hidden_remote.track), 10)
    sent = peer.subscriptions[video].frames_out
    # ...while the other subscriber keeps decoding the publisher's picture.
    for _ in range(10):
        frame = await asyncio.wait_for(shown_remote.track.recv(), 10)
    assert close_to(dominant_rgb(frame), ORANGE)
    assert peer.subscriptions[video].frames_out == sent

    await hiding.set_visible([video], True)
    for _ in range(3):
        frame = await asyncio.wait_for(hidden_remote.track.recv(), 10)
    assert close_to(dominant_rgb(frame), ORANGE)


async def test_only_subscribed_tracks_can_be_hidden(rtc: Rtc) -> None:
    publisher = await rtc.bot()
    video = await publisher.publish(ColorVideoTrack(ORANGE))
    async with RawSession(rtc.signaling_address) as s:
        await s.join((await rtc.join_token())[0])
        await s.send(request_id=2, visibility=pb.TrackVisibility(hidden=[video]))
        assert (await s.next("error")).error.reason == "FAILED_PRECONDITION"  # no peer connection yet
    viewer = await rtc.bot()
    await viewer.wait_for_track(lambda r: r.info.id == video)
    errors: list[pb.Error] = []

    async def listen() -> None:
        async for event in viewer.events():
            if event.WhichOneof("message") == "error":
                errors.append(event.error)

    listener = asyncio.ensure_future(listen())
    await viewer.set_visible(["TR_nonexistent"], False)
    await viewer.wait_until(lambda: bool(errors))
    assert errors[0].reason == "NOT_FOUND" and not errors[0].fatal
    listener.cancel()
