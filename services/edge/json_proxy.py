"""JSON/REST calls transcoded per the RPC's `google.api.http` bindings.

Unary replies are one JSON object; server streams are newline-delimited JSON
(`application/x-ndjson`), one message per line, and an error after the first message is a last
line `{"error": <google.rpc.Status>}`. Errors are a JSON `google.rpc.Status` with the HTTP status
from the standard mapping, plus `grpc-status`/`grpc-message` headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from grpclib.const import Status

from services.edge.asgi import Receive, Request, Send, read_body, respond, start
from services.edge.grpcweb import metadata_as_headers
from services.edge.metadata import call_metadata, parse_timeout
from services.edge.status import EdgeError, RpcStatus
from services.edge.transcoding import build_request, render_response
from services.kit.catalog import HttpBinding, Rpc

if TYPE_CHECKING:
    from services.edge.app import Edge

JSON = "application/json"
NDJSON = "application/x-ndjson"


def _check_content_type(request: Request, body: bytes) -> None:
    if not body.strip():
        return
    content_type = (request.header("content-type") or JSON).split(";")[0].strip().lower()
    if content_type != JSON and not content_type.endswith("+json"):
        raise EdgeError(
            Status.INVALID_ARGUMENT, f"unsupported content type {content_type!r}; send JSON", http_status=415
        )


async def send_error(send: Send, request: Request, status: RpcStatus, http_status: int | None = None) -> None:
    request.grpc_status = status.code.value
    headers = [("content-type", JSON), ("grpc-status", str(status.code.value)), *status.headers]
    await respond(send, request, http_status or status.http_status, headers, status.to_json())


async def serve_json(
    edge: Edge,
    request: Request,
    receive: Receive,
    send: Send,
    binding: HttpBinding,
    rpc: Rpc,
    variables: dict[str, str],
) -> None:
    """One JSON call, admitted already (pipeline.py); errors raised before the reply are answered
    by the pipeline."""
    request.protocol = "json"
    request.rpc = rpc.path
    if rpc.client_streaming:
        raise EdgeError(Status.UNIMPLEMENTED, "client and bidirectional streams need native gRPC")
    timeout = parse_timeout(request.header("grpc-timeout"))
    # The caller's own deadline goes upstream; the edge's default is the edge's alone (like a
    # route timeout): past it the edge resets the call and answers 504.
    announce = timeout is not None
    if timeout is None and not rpc.server_streaming:
        timeout = edge.options.default_timeout_s
    body = (
        await read_body(request, receive, edge.options.max_request_bytes, edge.options.body_timeout_s)
        if binding.body
        else b""
    )
    _check_content_type(request, body)
    metadata = call_metadata(request.headers, request.client)
    payload = build_request(rpc, binding, variables, request.query(), body)

    initial: list[tuple[str, str | bytes]] = []
    started = False
    reply: bytes | None = None
    status = RpcStatus(Status.UNKNOWN)
    async for event in edge.upstreams.call(rpc, payload, metadata, timeout, announce=announce):
        if isinstance(event, RpcStatus):
            status = event
        elif isinstance(event, list):
            initial = event
        elif rpc.server_streaming:
            line = _line(rpc, binding, event)
            if not started:
                await start(send, request, 200, [("content-type", NDJSON), *metadata_as_headers(initial)])
                started = True
            await send({"type": "http.response.body", "body": line, "more_body": True})
        else:
            reply = event
    request.grpc_status = status.code.value
    if status.code is Status.OK and not rpc.server_streaming:
        try:
            body = render_response(rpc, binding, reply or b"")
        except DecodeError:
            status = RpcStatus(Status.INTERNAL, "undecodable reply from upstream")
        else:
            await respond(send, request, 200, [("content-type", JSON), *metadata_as_headers(initial)], body)
            return
    if started:
        tail = b"" if status.code is Status.OK else b'{"error":' + status.to_json() + b"}\n"
        await send({"type": "http.response.body", "body": tail})
    elif status.code is not Status.OK:
        await send_error(send, request, status)
    else:  # a stream that ended OK without messages
        await respond(send, request, 200, [("content-type", NDJSON), *metadata_as_headers(initial)])


def _line(rpc: Rpc, binding: HttpBinding, payload: bytes) -> bytes:
    try:
        return render_response(rpc, binding, payload) + b"\n"
    except DecodeError:
        return b'{"error":' + RpcStatus(Status.INTERNAL, "undecodable reply from upstream").to_json() + b"}\n"
