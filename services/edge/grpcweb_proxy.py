"""gRPC-web calls: decode the frames, forward the message bytes upstream, frame the replies.

Errors the edge finds itself (bad frames, unknown methods, auth, rate limits) and upstream errors
before the first reply are sent "trailers-only": HTTP 200 with the status in the headers. Only a
content type the edge cannot speak gets an HTTP error status (415).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from grpclib.const import Status

from services.edge import grpcweb
from services.edge.asgi import Receive, Request, Send, read_body, respond, start
from services.edge.catalog import Rpc
from services.edge.metadata import call_metadata, parse_timeout
from services.edge.status import EdgeError, RpcStatus

if TYPE_CHECKING:
    from services.edge.app import Edge


async def serve_grpc_web(edge: Edge, request: Request, receive: Receive, send: Send) -> None:
    request.protocol = "grpc-web"
    text = grpcweb.parse_content_type(request.header("content-type") or "")
    content_type = grpcweb.GRPC_WEB_TEXT + "+proto" if text else grpcweb.GRPC_WEB + "+proto"
    base_headers = [("content-type", content_type)]
    try:
        if request.method != "POST":
            raise EdgeError(Status.UNIMPLEMENTED, "gRPC-web calls must be POST", http_status=405)
        rpc = edge.catalog.rpcs.get(request.raw_path)
        if rpc is None:
            raise EdgeError(Status.UNIMPLEMENTED, f"unknown method {request.raw_path[:200]!r}")
        request.rpc = rpc.path
        if rpc.client_streaming:
            raise EdgeError(Status.UNIMPLEMENTED, "client and bidirectional streams need native gRPC")
        timeout = parse_timeout(request.header("grpc-timeout"))
        body = await read_body(request, receive, edge.options.max_request_bytes, edge.options.body_timeout_s)
        if text:
            body = grpcweb.decode_text(body)
        messages = grpcweb.parse_messages(body, edge.options.max_request_bytes)
        if len(messages) != 1:
            raise EdgeError(Status.INVALID_ARGUMENT, f"expected one request message, got {len(messages)}")
        _check_message(rpc, messages[0])
        metadata = call_metadata(request.headers, request.client)
        await edge.admit(request, rpc)
    except EdgeError as exc:
        if exc.http_status in (405, 415):
            await _trailers_only(send, request, exc.http_status, base_headers, exc.status)
        else:
            await _trailers_only(send, request, 200, base_headers, exc.status)
        return

    initial: list[tuple[str, str | bytes]] = []
    frames: list[bytes] = []
    started = False
    status = RpcStatus(Status.UNKNOWN)
    async for event in edge.upstreams.call(rpc, messages[0], metadata, timeout):
        if isinstance(event, RpcStatus):
            status = event
        elif isinstance(event, list):
            initial = event
        elif rpc.server_streaming:
            if not started:
                await start(send, request, 200, base_headers + grpcweb.metadata_as_headers(initial))
                started = True
            frame = grpcweb.message_frame(event)
            await send(
                {
                    "type": "http.response.body",
                    "body": grpcweb.encode_text(frame) if text else frame,
                    "more_body": True,
                }
            )
        else:
            frames.append(grpcweb.message_frame(event))
    request.grpc_status = status.code.value
    if not frames and not started and status.code is not Status.OK:
        await _trailers_only(send, request, 200, base_headers + grpcweb.metadata_as_headers(initial), status)
        return
    frames.append(grpcweb.trailer_frame(status))
    body = b"".join(grpcweb.encode_text(f) if text else f for f in frames)
    if started:
        await send({"type": "http.response.body", "body": body})
    else:
        await respond(send, request, 200, base_headers + grpcweb.metadata_as_headers(initial), body)


def _check_message(rpc: Rpc, payload: bytes) -> None:
    """Rejects bytes that are not the method's request message (cheap: one upb parse)."""
    try:
        rpc.new_input().ParseFromString(payload)
    except DecodeError:
        raise EdgeError(
            Status.INVALID_ARGUMENT, f"the request is not a valid {rpc.input.full_name}"
        ) from None


async def _trailers_only(
    send: Send, request: Request, http_status: int, headers: list[tuple[str, str]], status: RpcStatus
) -> None:
    request.grpc_status = status.code.value
    await respond(send, request, http_status, headers + grpcweb.status_fields(status) + status.headers)
