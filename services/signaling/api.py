"""The public ``SignalingService.Connect`` stream: a session over native gRPC."""

from __future__ import annotations

from grpclib.server import Stream

from meetmesh.signaling.v1 import signaling_grpc
from meetmesh.signaling.v1 import signaling_pb2 as pb

from .hub import Hub
from .session import Session, run_session


class SignalingService(signaling_grpc.SignalingServiceBase):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def Connect(self, stream: Stream[pb.SignalRequest, pb.SignalResponse]) -> None:
        # The kit validates every received message (protovalidate); a rejected one surfaces here
        # as MeetmeshError from recv_message, which run_session turns into an error event.
        async def receive() -> pb.SignalRequest | None:
            return await stream.recv_message()

        await run_session(Session(self.hub), receive, stream.send_message)
