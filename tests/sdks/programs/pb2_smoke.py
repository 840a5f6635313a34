"""The SDK smoke scenario with `meetmesh-proto` (pb2 messages + grpclib stubs), native gRPC.

Runs in a virtual environment that holds only the `meetmesh-proto` wheel and its dependencies
(never the server): `python pb2_smoke.py USER_ADDR MEETING_ADDR EMAIL PASSWORD` prints one JSON
object (see tests/sdks/conftest.py for the scenario and its output).
"""

from __future__ import annotations

import asyncio
import json
import sys

from google.rpc import error_details_pb2
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2


def channel(address: str) -> Channel:
    host, _, port = address.rpartition(":")
    return Channel(host, int(port))


async def main(user_address: str, meeting_address: str, email: str, password: str) -> dict[str, object]:
    user_channel, meeting_channel = channel(user_address), channel(meeting_address)
    users = user_grpc.UserServiceStub(user_channel)
    meetings = meeting_grpc.MeetingServiceStub(meeting_channel)
    out: dict[str, object] = {}

    registered = await users.Register(
        user_pb2.RegisterRequest(email=email, password=password, display_name="SDK smoke")
    )
    out["user"] = registered.user.name

    try:
        await users.Register(
            user_pb2.RegisterRequest(email="not-an-email", password="short", display_name="x")
        )
        raise SystemExit("an invalid registration was accepted")
    except GRPCError as error:
        info = next(d for d in error.details or [] if isinstance(d, error_details_pb2.ErrorInfo))
        bad = next(d for d in error.details or [] if isinstance(d, error_details_pb2.BadRequest))
        out["error"] = {
            "code": error.status.value,
            "reason": info.reason,
            "domain": info.domain,
            "violations": sorted(v.field for v in bad.field_violations),
        }

    login = await users.Login(user_pb2.LoginRequest(email=email, password=password))
    auth = {"authorization": f"Bearer {login.tokens.access_token}"}

    created = []
    for i in range(3):
        reply = await meetings.CreateMeeting(
            meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(title=f"pb2 smoke {i}")),
            metadata=auth,
        )
        created.append(reply.meeting.name)
    out["created"] = created

    listed, pages, token = [], 0, ""
    while True:
        page = await meetings.ListMeetings(
            meeting_pb2.ListMeetingsRequest(page_size=2, page_token=token), metadata=auth
        )
        pages += 1
        listed += [m.name for m in page.meetings]
        token = page.next_page_token
        if not token:
            break
    out["listed"], out["pages"] = listed, pages

    joined = await meetings.JoinMeeting(meeting_pb2.JoinMeetingRequest(name=created[0]), metadata=auth)
    out["joined"] = {
        "participant": joined.participant.name,
        "state": joined.participant.state,
        "join_token": bool(joined.join_token),
    }

    user_channel.close()
    meeting_channel.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:5]))))
