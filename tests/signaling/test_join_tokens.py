"""Join tokens die with the presence they were issued for (issue 11): leaving, removal, denial
and the end of the meeting close the session and the peer connection and refuse the token at
once, so leaving and joining again cannot seat two sessions in one seat."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack
from tests.rtc_helpers import RawSession, Rtc, wait_for
from tests.support import Client, error_info


async def _refused(rtc: Rtc, token: str) -> pb.Error:
    async with RawSession(rtc.signaling_address) as session:
        await session.send(request_id=1, join=pb.Join(token=token))
        error = (await session.next("error")).error
        assert await session.stream.recv_message() is None  # closed by the server
    return error


def _peers(rtc: Rtc, meeting_id: str) -> set[str]:
    room = rtc.media.sfu.rooms.get(meeting_id)
    return set(room.peers) if room is not None else set()


async def _connected(rtc: Rtc, client: Client, meeting: str) -> tuple[str, Room]:
    reply = await client.join(meeting)
    room = await Room.connect(rtc.signaling_address, reply.join_token)
    rtc.rooms.append(room)
    await room.publish(ColorVideoTrack((20, 200, 20), width=160, height=120))
    await wait_for(
        lambda: reply.participant.name.rsplit("/", 1)[1] in rtc.media.sfu.rooms[meeting.split("/")[1]].peers
    )
    return reply.join_token, room


async def test_leaving_kills_the_token_so_capacity_holds(rtc: Rtc) -> None:
    """The probe's scenario: capacity 1; X joins; Y is refused; X leaves; Y joins. X's token
    used to be accepted by signaling alongside Y's while the meeting counted one participant."""
    meeting = await rtc.host.create_meeting(title="One seat", capacity=1)
    meeting_id = meeting.name.split("/")[1]
    x, y = await rtc.platform.client("X"), await rtc.platform.client("Y")
    x_token, x_room = await _connected(rtc, x, meeting.name)
    x_pid = next(iter(rtc.media.sfu.rooms[meeting_id].peers))
    with pytest.raises(GRPCError) as full:
        await y.join(meeting.name)
    assert full.value.status == Status.RESOURCE_EXHAUSTED and error_info(full.value).reason == "MEETING_FULL"

    await rtc.platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=meeting.name), metadata=x.metadata
    )
    # At once: the token is refused, and the live session and its peer connection end.
    refused = await _refused(rtc, x_token)
    assert (refused.reason, refused.fatal) == ("INVALID_TOKEN", True)
    await x_room.wait_until(lambda: x_room.closed_reason == "left", within_s=10)
    await wait_for(lambda: x_pid not in _peers(rtc, meeting_id))

    y_reply = await y.join(meeting.name)
    async with RawSession(rtc.signaling_address) as session:
        joined = await session.join(y_reply.join_token)
        assert [p.id for p in joined.participants] == []  # X is not in the room any more
        assert (await _refused(rtc, x_token)).reason == "INVALID_TOKEN"  # still dead beside Y
    got = await rtc.platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=rtc.host.metadata
    )
    assert got.meeting.participant_count == 1


async def test_a_refused_join_leaves_no_live_generation(rtc: Rtc) -> None:
    """A join writes the participant's live generation before it takes the seat (so its token
    needs no second read); every join that does not end seated must take that generation back:
    a full meeting, a lobby, a wrong passcode, an ended meeting."""
    joins = rtc.platform.runtime.joins
    one_seat = await rtc.host.create_meeting(title="One seat", capacity=1)
    lobby = await rtc.host.create_meeting(title="Lobby", lobby_enabled=True)
    locked = await rtc.host.create_meeting(title="Locked", passcode="right one")
    ended = await rtc.host.create_meeting(title="Over")
    x, y = await rtc.platform.client("X"), await rtc.platform.client("Y")
    seated = await x.join(one_seat.name)
    x_pid = seated.participant.name.rsplit("/", 1)[1]

    with pytest.raises(GRPCError) as full:
        await y.join(one_seat.name)
    assert full.value.status == Status.RESOURCE_EXHAUSTED
    assert list(await joins.sessions(one_seat.name.split("/")[1])) == [x_pid]

    waiting = await y.join(lobby.name)
    assert waiting.participant.state == meeting_pb2.Participant.STATE_WAITING and not waiting.join_token
    assert await joins.sessions(lobby.name.split("/")[1]) == {}

    with pytest.raises(GRPCError) as wrong:
        await y.join(locked.name, passcode="wrong one")
    assert wrong.value.status == Status.PERMISSION_DENIED
    assert await joins.sessions(locked.name.split("/")[1]) == {}

    await rtc.platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=ended.name), metadata=rtc.host.metadata
    )
    with pytest.raises(GRPCError) as over:
        await y.join(ended.name)
    assert over.value.status == Status.FAILED_PRECONDITION
    assert await joins.sessions(ended.name.split("/")[1]) == {}

    # And the seated join's generation is the one its token names and signaling accepts.
    async with RawSession(rtc.signaling_address) as session:
        assert (await session.join(seated.join_token)).participant.id == x_pid


async def test_rejoining_gets_a_new_token_and_the_old_one_stays_dead(rtc: Rtc) -> None:
    guest = await rtc.platform.client("Guest")
    first = (await guest.join(rtc.meeting.name)).join_token
    again = (await guest.join(rtc.meeting.name)).join_token  # still in: the same presence
    async with RawSession(rtc.signaling_address) as session:
        await session.join(again)
    await rtc.platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=rtc.meeting.name), metadata=guest.metadata
    )
    back = (await guest.join(rtc.meeting.name)).join_token
    for dead in (first, again):
        assert (await _refused(rtc, dead)).reason == "INVALID_TOKEN"
    async with RawSession(rtc.signaling_address) as session:
        assert (await session.join(back)).participant.id


async def test_leaving_through_signaling_kills_the_token_too(rtc: Rtc) -> None:
    token, _ = await rtc.join_token()
    async with RawSession(rtc.signaling_address) as session:
        await session.join(token)
        await session.send(request_id=2, leave=pb.Leave())
        assert (await session.next("left")).left.reason == "left"
    assert (await _refused(rtc, token)).reason == "INVALID_TOKEN"


async def test_removal_and_denial_kill_the_token(rtc: Rtc) -> None:
    guest = await rtc.platform.client("Guest")
    token, room = await _connected(rtc, guest, rtc.meeting.name)
    participant = (await guest.join(rtc.meeting.name)).participant.name
    await rtc.platform.meetings.RemoveParticipant(
        meeting_pb2.RemoveParticipantRequest(name=participant), metadata=rtc.host.metadata
    )
    assert (await _refused(rtc, token)).reason in ("INVALID_TOKEN", "PERMISSION_DENIED")
    await room.wait_until(lambda: room.closed_reason == "removed", within_s=10)

    lobby = await rtc.host.create_meeting(title="Lobby", lobby_enabled=True)
    waiting = await rtc.platform.client("Waiting")
    pending = await waiting.join(lobby.name)
    assert pending.join_token == ""  # no token while waiting
    await rtc.platform.meetings.DenyParticipant(
        meeting_pb2.DenyParticipantRequest(name=pending.participant.name), metadata=rtc.host.metadata
    )
    live = await rtc.platform.runtime.joins.live(
        lobby.name.split("/")[1], pending.participant.name.rsplit("/", 1)[1]
    )
    assert live is None


async def test_the_end_of_the_meeting_kills_every_token(rtc: Rtc) -> None:
    guest = await rtc.platform.client("Guest")
    token, room = await _connected(rtc, guest, rtc.meeting.name)
    await rtc.platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=rtc.meeting.name), metadata=rtc.host.metadata
    )
    refused = await _refused(rtc, token)
    assert refused.reason in ("INVALID_TOKEN", "MEETING_ENDED") and refused.fatal
    await room.wait_until(lambda: room.closed_reason == "meeting_ended", within_s=10)


async def test_sessions_that_never_join_are_closed(rtc: Rtc) -> None:
    """Issue 11: /rtc WebSockets and Connect streams that never sent join stayed open for good."""
    host = await rtc.add_signaling(join_timeout_s=0.5)
    async with RawSession(f"127.0.0.1:{host.grpc_port}") as session:
        error = (await session.next("error")).error
        assert error.fatal and "no join within" in error.message
        assert await session.stream.recv_message() is None  # the stream ends
    async with websockets.connect(f"ws://127.0.0.1:{host.http_port}/rtc") as ws:
        async with asyncio.timeout(10):
            error = pb.SignalResponse.FromString(await ws.recv()).error
            assert error.fatal and "no join within" in error.message
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
    # A session that joins in time is unaffected by the deadline passing.
    token, _ = await rtc.join_token()
    async with RawSession(f"127.0.0.1:{host.grpc_port}") as session:
        await session.join(token)
        await session.send(request_id=5, ping=pb.Ping(timestamp_ms=1))
        await asyncio.sleep(0.6)  # past the join deadline: a joined session stays
        assert (await session.next("pong")).request_id == 5
