"""Small raw-ASGI helpers: the edge is a plain ASGI app (no framework routing on the hot path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from grpclib.const import Status

from services.edge.status import EdgeError
from services.kit.catalog import Target
from services.kit.errors import Reason

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Request:
    """What the edge needs from an HTTP scope, parsed once."""

    scope: Scope
    method: str
    raw_path: str
    query_string: str
    headers: list[tuple[str, str]]
    client: str | None
    #: Filled in while handling, for logs and metrics.
    protocol: str = "http"
    rpc: str = "-"
    grpc_status: int | None = None
    http_status: int = 0
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    #: The RPC the request names, once admission has found it in the catalog.
    target: Target | None = None

    @classmethod
    def from_scope(cls, scope: Scope) -> Request:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client")
        return cls(
            scope,
            scope.get("method", "GET"),
            path,
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            client[0] if client else None,
        )

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def query(self) -> list[tuple[str, str]]:
        try:
            return parse_qsl(self.query_string, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise EdgeError(Status.INVALID_ARGUMENT, "malformed query string") from None


async def read_body(request: Request, receive: Receive, limit: int, timeout_s: float | None = None) -> bytes:
    """The whole request body; EdgeError(RESOURCE_EXHAUSTED, 413) beyond `limit` bytes, and
    EdgeError(DEADLINE_EXCEEDED, 408) when it takes longer than `timeout_s` (a slow client)."""
    declared = request.header("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_body(request, receive, limit)
    except TimeoutError:
        raise EdgeError(
            Status.DEADLINE_EXCEEDED,
            f"the request body did not arrive within {timeout_s:g} s",
            http_status=408,
            headers=[("connection", "close")],
        ) from None


async def _read_body(request: Request, receive: Receive, limit: int) -> bytes:
    message = await receive()  # most bodies come whole, in one message
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise _too_large(limit)
        return body
    first = [message]

    async def replay() -> Any:
        return first.pop() if first else await receive()

    return b"".join([chunk async for chunk in body_chunks(replay, limit, lambda: _too_large(limit))])


async def body_chunks(
    receive: Receive, limit: int, too_large: Callable[[], EdgeError]
) -> AsyncIterator[bytes]:
    """The request body's chunks as they arrive: ``too_large()`` is raised once more than ``limit``
    bytes came, CANCELLED when the client goes away."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise EdgeError(Status.CANCELLED, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        yield chunk
        if not message.get("more_body", False):
            return


def _too_large(limit: int) -> EdgeError:
    return EdgeError(
        Status.RESOURCE_EXHAUSTED,
        f"request body larger than {limit} bytes",
        reason=Reason.ERROR_REASON_PAYLOAD_TOO_LARGE,
        http_status=413,
    )


def encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def start(send: Send, request: Request, status: int, headers: list[tuple[str, str]]) -> None:
    request.http_status = status
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": encode_headers(headers + request.extra_headers),
        }
    )


async def respond(
    send: Send, request: Request, status: int, headers: list[tuple[str, str]], body: bytes = b""
) -> None:
    await start(send, request, status, [*headers, ("content-length", str(len(body)))])
    await send({"type": "http.response.body", "body": body})
