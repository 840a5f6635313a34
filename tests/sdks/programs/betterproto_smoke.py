"""The SDK smoke scenario with `meetmesh-betterproto` (betterproto2 dataclasses + grpclib), native gRPC.

Runs in a virtual environment that holds only the `meetmesh-betterproto` wheel and its
dependencies (no protobuf runtime, no server): `python betterproto_smoke.py USER_ADDR MEETING_ADDR
EMAIL PASSWORD` prints one JSON object (see tests/sdks/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from grpclib.client import Channel
from grpclib.const import Status
from grpclib.encoding.base import StatusDetailsCodecBase
from grpclib.exceptions import GRPCError
from meetmesh_betterproto.google import rpc
from meetmesh_betterproto.meetmesh.meeting import v1 as meeting
from meetmesh_betterproto.meetmesh.user import v1 as user


class DataclassStatusDetails(StatusDetailsCodecBase):
    """Decodes `grpc-status-details-bin` into the generated `google.rpc` dataclasses."""

    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        raise NotImplementedError("clients only decode status details")

    def decode(self, status: Status, message: str | None, data: bytes) -> Sequence[Any]:
        return [detail.unpack() for detail in rpc.Status.parse(data).details]


def channel(address: str) -> Channel:
    host, _, port = address.rpartition(":")
    return Channel(host, int(port), status_details_codec=DataclassStatusDetails())


async def main(user_address: str, meeting_address: str, email: str, password: str) -> dict[str, object]:
    user_channel, meeting_channel = channel(user_address), channel(meeting_address)
    users = user.UserServiceStub(user_channel)
    meetings = meeting.MeetingServiceStub(meeting_channel)
    out: dict[str, object] = {}

    registered = await users.register(
        user.RegisterRequest(email=email, password=password, display_name="SDK smoke")
    )
    assert registered.user is not None
    out["user"] = registered.user.name

    try:
        await users.register(user.RegisterRequest(email="not-an-email", password="short", display_name="x"))
        raise SystemExit("an invalid registration was accepted")
    except GRPCError as error:
        info = next(d for d in error.details or [] if isinstance(d, rpc.ErrorInfo))
        bad = next(d for d in error.details or [] if isinstance(d, rpc.BadRequest))
        out["error"] = {
            "code": error.status.value,
            "reason": info.reason,
            "domain": info.domain,
            "violations": sorted(v.field for v in bad.field_violations),
        }

    login = await users.login(user.LoginRequest(email=email, password=password))
    assert login.tokens is not None
    auth = {"authorization": f"Bearer {login.tokens.access_token}"}

    created = []
    for i in range(3):
        reply = await meetings.create_meeting(
            meeting.CreateMeetingRequest(meeting=meeting.Meeting(title=f"betterproto smoke {i}")),
            metadata=auth,
        )
        assert reply.meeting is not None
        created.append(reply.meeting.name)
    out["created"] = created

    listed: list[str] = []
    pages, token = 0, ""
    while True:
        page = await meetings.list_meetings(
            meeting.ListMeetingsRequest(page_size=2, page_token=token), metadata=auth
        )
        pages += 1
        listed += [m.name for m in page.meetings]
        token = page.next_page_token
        if not token:
            break
    out["listed"], out["pages"] = listed, pages

    joined = await meetings.join_meeting(meeting.JoinMeetingRequest(name=created[0]), metadata=auth)
    assert joined.participant is not None
    out["joined"] = {
        "participant": joined.participant.name,
        "state": int(joined.participant.state),
        "join_token": bool(joined.join_token),
    }

    user_channel.close()
    meeting_channel.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:5]))))
