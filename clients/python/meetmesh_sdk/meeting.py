"""Joining through the meeting service: JoinMeeting gives the join token and signaling address."""

from __future__ import annotations

from grpclib.client import Channel

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2

from .room import Room, host_port


async def join_meeting(
    server: str,
    access_token: str,
    meeting: str,
    *,
    passcode: str = "",
    display_name: str = "",
    auto_subscribe: bool = True,
) -> Room:
    """Join ``meetings/{meeting}`` (waiting in the lobby if there is one) and connect to signaling."""
    channel = Channel(*host_port(server))
    try:
        reply = await meeting_grpc.MeetingServiceStub(channel).JoinMeeting(
            meeting_pb2.JoinMeetingRequest(
                name=meeting, passcode=passcode, display_name=display_name, wait_for_admission=True
            ),
            metadata={"authorization": f"Bearer {access_token}"},
            timeout=60,
        )
    finally:
        channel.close()
    if not reply.join_token:
        raise PermissionError("not admitted to the meeting")
    return await Room.connect(reply.signaling_address, reply.join_token, auto_subscribe=auto_subscribe)
