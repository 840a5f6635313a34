"""Register, log in, create a meeting and join it, against a running `make run`.

Run with the project's Python: `.venv/bin/python docs/examples/quickstart.py`.
"""

from __future__ import annotations

import asyncio
import uuid

from grpclib.client import Channel

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2


async def main() -> None:
    user_channel = Channel("127.0.0.1", 8080)
    meeting_channel = Channel("127.0.0.1", 8082)
    users = user_grpc.UserServiceStub(user_channel)
    meetings = meeting_grpc.MeetingServiceStub(meeting_channel)
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    password = "a long enough password"

    await users.Register(user_pb2.RegisterRequest(email=email, password=password, display_name="Demo"))
    login = await users.Login(user_pb2.LoginRequest(email=email, password=password))
    auth = {"authorization": f"Bearer {login.tokens.access_token}"}
    print("logged in as", login.user.name)

    created = await meetings.CreateMeeting(
        meeting_pb2.CreateMeetingRequest(
            meeting=meeting_pb2.Meeting(title="Demo meeting", passcode="1234", capacity=10),
            request_id=str(uuid.uuid4()),
        ),
        metadata=auth,
    )
    print("created", created.meeting.name)

    joined = await meetings.JoinMeeting(
        meeting_pb2.JoinMeetingRequest(name=created.meeting.name, passcode="1234"), metadata=auth
    )
    state = meeting_pb2.Participant.State.Name(joined.participant.state)
    print("joined as", joined.participant.name, state)
    print("signaling at", joined.signaling_address, "with a join token of", len(joined.join_token), "bytes")

    user_channel.close()
    meeting_channel.close()


if __name__ == "__main__":
    asyncio.run(main())
