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
from services.edge.json_proxy import send_error as json_error
from services.edge.metadata import call_metadata, parse_timeout
from services.edge.status import EdgeError, RpcStatus
from services.kit.catalog import Rpc

if TYPE_CHECKING:
    from services.edge.app import Edge


def _base_headers(request: Request) -> tuple[bool, list[tuple[str, str]]]:
    text = grpcweb.parse_content_type(request.header("content-type") or "")
    content_type = grpcweb.GRPC_WEB_TEXT + "+proto" if text else grpcweb.GRPC_WEB + "+proto"
    return text, [("content-type", content_type)]


async def send_error(send: Send, request: Request, error: EdgeError) -> None:
    """An error found before any reply, trailers-only (HTTP 405 and 415 keep their status); a
    gRPC-web subtype the edge cannot speak gets a JSON answer (it cannot be framed)."""
    try:
        _, base_headers = _base_headers(request)
    except EdgeError:
        await json_error(send, request, error.status, error.http_status)
        return
    http_status = error.http_status if error.http_status in (405, 415) else 200
    await _trailers_only(send, request, http_status, base_headers, error.status)


async def serve_grpc_web(edge: Edge, request: Request, receive: Receive, send: Send) -> None:
    """One gRPC-web call, admitted already (pipeline.py); errors raised before the first reply
    are answered by the pipeline through ``send_error``."""
    request.protocol = "grpc-web"
    text, base_headers = _base_headers(request)
    if request.method != "POST":
        raise EdgeError(Status.UNIMPLEMENTED, "gRPC-web calls must be POST", http_status=405)
    if request.target is None:
        raise EdgeError(Status.UNIMPLEMENTED, f"unknown method {request.raw_path[:200]!r}")
    rpc = request.target.rpc
    if rpc.client_streaming:
        raise EdgeError(Status.UNIMPLEMENTED, "client and bidirectional streams need native gRPC")
    timeout = parse_timeout(request.header("grpc-timeout"))
    announce = timeout is not None  # the edge's default deadline is its own (json_proxy.py)
    if timeout is None and not rpc.server_streaming:
        timeout = edge.options.default_timeout_s
    body = await read_body(request, receive, edge.options.max_request_bytes, edge.options.body_timeout_s)
    if text:
        body = grpcweb.decode_text(body)
    messages = grpcweb.parse_messages(body, edge.options.max_request_bytes)
    if len(messages) != 1:
        raise EdgeError(Status.INVALID_ARGUMENT, f"expected one request message, got {len(messages)}")
    _check_message(rpc, messages[0])
    metadata = call_metadata(request.headers, request.client)

    initial: list[tuple[str, str | bytes]] = []
    frames: list[bytes] = []
    started = False
    status = RpcStatus(Status.UNKNOWN)
    async for event in edge.upstreams.call(rpc, messages[0], metadata, timeout, announce=announce):
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
