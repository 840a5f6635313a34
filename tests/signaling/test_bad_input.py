"""Bad input to signaling, over the real gRPC stream and the real WebSocket: each gets an error
event with a clear reason, and the room (a bot receiving another bot's video) is unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from aiortc import RTCPeerConnection

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, dominant_rgb
from tests.rtc_helpers import RawSession, Rtc, close_to, wait_for

GREEN = (30, 200, 30)


@pytest.fixture
async def watched(rtc: Rtc) -> AsyncIterator[tuple[Room, Room]]:
    """A publisher and a viewer decoding its video: the room whose health every test checks."""
    publisher, viewer = await rtc.bot(), await rtc.bot()
    await publisher.publish(ColorVideoTrack(GREEN))
    await viewer.wait_for_track(lambda r: True)
    yield publisher, viewer
    # The room is unaffected: the viewer still decodes the publisher's picture.
    remote = next(iter(viewer.remote.values()))
    for _ in range(3):
        frame = await asyncio.wait_for(remote.track.recv(), 10)
    assert close_to(dominant_rgb(frame), GREEN)
    assert viewer.closed_reason == ""
    assert publisher.closed_reason == ""


async def test_messages_before_join_get_an_error_and_join_still_works(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.send(request_id=7, chat=pb.SendChat(text="hi"))
        error = (await s.next("error")).error
        assert error.reason == "FAILED_PRECONDITION"
        assert "join first" in error.message
        assert not error.fatal
        joined = await s.join(token)
        assert joined.participant.id


async def test_a_bad_token_is_fatal(rtc: Rtc, watched: Any) -> None:
    async with RawSession(rtc.signaling_address) as s:
        await s.send(request_id=1, join=pb.Join(token="not-a-jwt"))
        response = await s.next()
        assert response.request_id == 1
        assert response.error.reason == "INVALID_TOKEN"
        assert response.error.fatal
        assert await s.stream.recv_message() is None  # closed by the server


async def test_malformed_sdp_is_rejected(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        await s.send(
            request_id=2, offer=pb.SessionDescription(type="offer", sdp="v=0\r\nthis is not sdp\r\n")
        )
        response = await s.next("error")
        assert response.request_id == 2
        assert response.error.reason == "INVALID_ARGUMENT"
        assert "SDP" in response.error.message
        await s.send(request_id=3, ping=pb.Ping(timestamp_ms=5))
        assert (await s.next("pong")).pong.timestamp_ms == 5


async def test_undeclared_sending_m_line_is_rejected(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    pc = RTCPeerConnection()
    pc.addTrack(ColorVideoTrack(GREEN))
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with RawSession(rtc.signaling_address) as s:
            await s.join(token)
            await s.send(request_id=2, offer=pb.SessionDescription(type="offer", sdp=pc.localDescription.sdp))
            error = (await s.next("error")).error
            assert error.reason == "INVALID_ARGUMENT"
            assert "not declared with publish" in error.message
    finally:
        await pc.close()


async def test_unknown_track_ids(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        sub = pb.UpdateSubscription(subscribe=[pb.TrackSubscription(track_id="TR_nope", mid="0")])
        await s.send(request_id=2, subscription=sub)
        assert (await s.next("error")).error.reason == "NOT_FOUND"
        await s.send(request_id=3, mute=pb.MuteTrack(track_id="TR_nope", muted=True))
        assert (await s.next("error")).error.reason == "NOT_FOUND"


async def test_others_tracks_cannot_be_muted_or_unpublished(rtc: Rtc, watched: tuple[Room, Room]) -> None:
    publisher, _ = watched
    track_id = next(iter(publisher.tracks))
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        await s.send(request_id=2, mute=pb.MuteTrack(track_id=track_id, muted=True))
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"
        await s.send(request_id=3, unpublish=pb.UnpublishTrack(track_id=track_id))
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"


async def test_tracks_of_another_meeting_are_not_visible(rtc: Rtc, watched: Any) -> None:
    other = await rtc.host.create_meeting(title="Elsewhere")
    reply = await rtc.host.join(other.name)
    elsewhere = await Room.connect(reply.signaling_address, reply.join_token)
    rtc.rooms.append(elsewhere)
    hidden = await elsewhere.publish(ColorVideoTrack((1, 2, 3)))
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        joined = await s.join(token)
        assert hidden not in {t.id for t in joined.tracks}
        sub = pb.UpdateSubscription(subscribe=[pb.TrackSubscription(track_id=hidden, mid="0")])
        await s.send(request_id=2, subscription=sub)
        assert (await s.next("error")).error.reason == "NOT_FOUND"


async def test_grants_are_enforced(rtc: Rtc, watched: tuple[Room, Room]) -> None:
    publisher, _ = watched
    track_id = next(iter(publisher.tracks))
    token = await rtc.token("p-nogrants", grants=[])
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        await s.send(request_id=2, publish=pb.PublishTrack(mid="0", kind=pb.TRACK_KIND_VIDEO))
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"
        sub = pb.UpdateSubscription(subscribe=[pb.TrackSubscription(track_id=track_id, mid="0")])
        await s.send(request_id=3, subscription=sub)
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"
        await s.send(request_id=4, chat=pb.SendChat(text="hello"))
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"
        await s.send(request_id=5, recording=pb.ControlRecording(record=True))
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"


async def test_invalid_fields_are_rejected_by_validation(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        await s.send(request_id=2, chat=pb.SendChat(text="x" * 5000))
        error = (await s.next("error")).error
        assert error.reason == "INVALID_FIELD"
        assert "chat.text" in error.message


async def test_chat_flood_is_throttled(rtc: Rtc, watched: tuple[Room, Room]) -> None:
    _, viewer = watched
    received: list[pb.ChatMessage] = []

    async def listen() -> None:
        async for event in viewer.events():
            if event.WhichOneof("message") == "chat":
                received.append(event.chat)

    listener = asyncio.ensure_future(listen())
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as s:
        await s.join(token)
        for i in range(60):
            await s.send(request_id=100 + i, chat=pb.SendChat(text=f"spam {i}"))
        errors = []
        async with asyncio.timeout(10):
            while (response := await s.stream.recv_message()) is not None:
                if response.WhichOneof("message") == "error":
                    errors.append(response.error)
        # Throttled, then (too many mistakes) closed: the flooder, not the room.
        assert errors[0].reason == "RATE_LIMITED"
        assert errors[-1].fatal
    burst = rtc.hubs[0].settings.chat_burst
    await wait_for(lambda: len(received) >= burst)
    listener.cancel()
    assert len(received) < 60


async def ws_session(rtc: Rtc) -> Any:
    return websockets.connect(f"ws://127.0.0.1:{rtc.signaling_hosts[0].http_port}/rtc", max_size=None)


async def ws_next(ws: Any, kind: str) -> pb.SignalResponse:
    async with asyncio.timeout(10):
        while True:
            response = pb.SignalResponse.FromString(await ws.recv())
            if response.WhichOneof("message") == kind:
                return response


async def test_websocket_garbage_and_oversized_frames(rtc: Rtc, watched: Any) -> None:
    token, _ = await rtc.join_token()
    async with await ws_session(rtc) as ws:
        await ws.send("a text frame")
        assert "binary frames" in (await ws_next(ws, "error")).error.message
        await ws.send(b"\xff\xff\xff\xff garbage")
        assert "not a SignalRequest" in (await ws_next(ws, "error")).error.message
        await ws.send(b"\x00" * 70000)
        assert "larger than" in (await ws_next(ws, "error")).error.message
        # Still usable: join over the same socket.
        await ws.send(pb.SignalRequest(request_id=1, join=pb.Join(token=token)).SerializeToString())
        joined = (await ws_next(ws, "joined")).joined
        assert joined.participant.id


async def test_websocket_session_closes_after_too_many_mistakes(rtc: Rtc, watched: Any) -> None:
    limit = rtc.hubs[0].settings.max_errors
    async with await ws_session(rtc) as ws:
        for _ in range(limit):
            await ws.send(b"\xff garbage")
        fatal = None
        async with asyncio.timeout(10):
            while fatal is None:
                response = pb.SignalResponse.FromString(await ws.recv())
                if response.error.fatal:
                    fatal = response.error
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
