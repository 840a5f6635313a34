"""WebSocket ``/rtc``: browsers send ``SignalRequest`` as binary frames, get ``SignalResponse`` back.

Text frames, frames that do not parse, fail validation or exceed ``max_frame_bytes`` get an
``error`` event; too many mistakes close the session (see ``Session.reject``).
"""

from __future__ import annotations

import contextlib

from google.protobuf.message import DecodeError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from meetmesh.signaling.v1 import signaling_pb2 as pb
from services.kit import InvalidArgument, validate

from .hub import Hub
from .session import Session, run_session


def rtc_route(hub: Hub) -> WebSocketRoute:
    limit = hub.settings.max_frame_bytes

    async def rtc(websocket: WebSocket) -> None:
        await websocket.accept()

        async def receive() -> pb.SignalRequest | None:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect:
                return None
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("bytes")
            if data is None:
                raise InvalidArgument([("frame", "send binary frames holding a SignalRequest")])
            if len(data) > limit:
                raise InvalidArgument([("frame", f"frame larger than {limit} bytes")])
            try:
                request: pb.SignalRequest = pb.SignalRequest.FromString(data)
            except DecodeError:
                raise InvalidArgument([("frame", "not a SignalRequest")]) from None
            validate(request)
            return request

        async def transmit(response: pb.SignalResponse) -> None:
            await websocket.send_bytes(response.SerializeToString())

        try:
            await run_session(Session(hub), receive, transmit)
        finally:
            with contextlib.suppress(Exception):
                await websocket.close()

    return WebSocketRoute("/rtc", rtc)
