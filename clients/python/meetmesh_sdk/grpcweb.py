"""gRPC-web under the generated grpclib stubs: one edge URL instead of a port per service.

``GrpcWebChannel(url)`` stands in for ``grpclib.client.Channel``: hand it to any generated
``*Stub`` (``meeting_grpc.MeetingServiceStub(GrpcWebChannel("http://127.0.0.1:8800"))``) and its
unary and server-streaming methods go to the edge as ``application/grpc-web+proto`` over HTTP
(httpx). A non-OK status raises ``grpclib.exceptions.GRPCError`` with the ``google.rpc.Status``
details decoded, exactly as over native gRPC; the edge being unreachable raises
``GRPCError(Status.UNAVAILABLE)``. Client and bidirectional streams need native gRPC (browsers'
limitation, shared by gRPC-web).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx
from google.protobuf.message import Message
from grpclib.const import Cardinality, Status
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError
from grpclib.metadata import decode_grpc_message

_HEADER = struct.Struct(">BI")
_TRAILERS = 0x80
_CODEC = ProtoStatusDetailsCodec()
_HTTP_STATUS = {400: Status.INTERNAL, 401: Status.UNAUTHENTICATED, 403: Status.PERMISSION_DENIED,
                404: Status.UNIMPLEMENTED, 429: Status.UNAVAILABLE, 502: Status.UNAVAILABLE,
                503: Status.UNAVAILABLE, 504: Status.UNAVAILABLE}  # fmt: skip

SendT = TypeVar("SendT", bound=Message)
RecvT = TypeVar("RecvT", bound=Message)
Metadata = Mapping[str, str] | Sequence[tuple[str, str]] | None


def _frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Takes the complete frames off the front of ``buffer``."""
    out = []
    while len(buffer) >= _HEADER.size:
        flags, length = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + length:
            break
        out.append((flags, bytes(buffer[_HEADER.size : _HEADER.size + length])))
        del buffer[: _HEADER.size + length]
    return out


def _trailers(block: bytes) -> dict[str, str]:
    fields = {}
    for line in block.decode("latin-1").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def status_error(fields: Mapping[str, str]) -> GRPCError | None:
    """The error a ``grpc-status`` (+ message and details) names, or None for OK."""
    code = Status(int(fields.get("grpc-status", Status.UNKNOWN.value)))
    if code is Status.OK:
        return None
    message = decode_grpc_message(fields.get("grpc-message", ""))
    details = None
    raw = fields.get("grpc-status-details-bin")
    if raw:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4))
        details = _CODEC.decode(code, message, data)
    return GRPCError(code, message or None, details)


class GrpcWebStream(Generic[SendT, RecvT]):
    """One call: the request message goes out in ``send_message``; replies stream in."""

    def __init__(
        self,
        channel: GrpcWebChannel,
        path: str,
        cardinality: Cardinality,
        reply_type: type[RecvT],
        timeout: float | None,
        metadata: Metadata,
    ) -> None:
        if cardinality.client_streaming:
            raise GRPCError(Status.UNIMPLEMENTED, f"{path} streams from the client: use native gRPC")
        self._channel = channel
        self._path = path
        self._reply_type = reply_type
        self._timeout = timeout
        self._metadata = list(metadata.items() if isinstance(metadata, Mapping) else metadata or ())
        self._response: httpx.Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._buffer = bytearray()
        self._messages: list[bytes] = []
        self._ended = False
        self.trailing_metadata: dict[str, str] = {}

    async def __aenter__(self) -> GrpcWebStream[SendT, RecvT]:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def send_request(self, *, end: bool = False) -> None:
        """Nothing to do: the request goes with its message."""

    async def send_message(self, message: SendT, *, end: bool = False) -> None:
        payload = message.SerializeToString()
        headers = {
            "content-type": "application/grpc-web+proto",
            "accept": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "x-user-agent": "meetmesh-sdk-grpcweb",
        }
        if self._timeout is not None:
            headers["grpc-timeout"] = f"{max(1, int(self._timeout * 1000))}m"
        for key, value in self._metadata:
            headers[key] = value
        request = self._channel.client.build_request(
            "POST",
            self._channel.url + self._path,
            content=_HEADER.pack(0, len(payload)) + payload,
            headers=headers,
            timeout=self._timeout if self._timeout is not None else self._channel.timeout,
        )
        try:
            self._response = await self._channel.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise GRPCError(
                Status.UNAVAILABLE, f"cannot reach {self._channel.url} ({type(exc).__name__})"
            ) from exc
        response = self._response
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
            "application/grpc-web"
        ):
            error = status_error(response.headers) if "grpc-status" in response.headers else None
            await response.aread()
            if error is not None:
                raise error
            code = _HTTP_STATUS.get(response.status_code, Status.UNKNOWN)
            raise GRPCError(code, f"HTTP {response.status_code} from {self._channel.url}{self._path}")
        if "grpc-status" in response.headers:  # trailers-only answer
            self._ended = True
            self.trailing_metadata = dict(response.headers)
            error = status_error(response.headers)
            if error is not None:
                raise error
        self._chunks = response.aiter_raw()

    async def end(self) -> None:
        """The request ended with its only message."""

    async def recv_initial_metadata(self) -> None:
        """Initial metadata is the HTTP response's headers; nothing to wait for."""

    async def recv_message(self) -> RecvT | None:
        while not self._messages and not self._ended:
            await self._read()
        if not self._messages:
            return None
        reply: RecvT = self._reply_type.FromString(self._messages.pop(0))
        return reply

    def __aiter__(self) -> AsyncIterator[RecvT]:
        return self._messages_until_the_end()

    async def _messages_until_the_end(self) -> AsyncIterator[RecvT]:
        while (message := await self.recv_message()) is not None:
            yield message

    async def recv_trailing_metadata(self) -> dict[str, str]:
        while not self._ended:
            await self._read()
        return self.trailing_metadata

    async def cancel(self) -> None:
        if self._response is not None:
            await self._response.aclose()
        self._ended = True

    async def _read(self) -> None:
        assert self._chunks is not None, "send_message first"
        try:
            chunk = await anext(self._chunks, None)
        except httpx.TransportError as exc:
            raise GRPCError(Status.UNAVAILABLE, f"connection to {self._channel.url} lost") from exc
        if chunk is None:
            self._ended = True
            raise GRPCError(Status.UNAVAILABLE, "the edge closed the response without a status")
        self._buffer.extend(chunk)
        for flags, payload in _frames(self._buffer):
            if flags & _TRAILERS:
                self._ended = True
                self.trailing_metadata = _trailers(payload)
                error = status_error(self.trailing_metadata)
                if error is not None:
                    raise error
            else:
                self._messages.append(payload)


class GrpcWebChannel:
    """A grpclib ``Channel`` look-alike that speaks gRPC-web to ``url`` (the edge)."""

    def __init__(self, url: str, *, timeout: float = 30.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self._own_client = client is None

    def request(
        self,
        name: str,
        cardinality: Cardinality,
        request_type: type[SendT],
        reply_type: type[RecvT],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Metadata = None,
    ) -> GrpcWebStream[SendT, RecvT]:
        if deadline is not None:
            remaining = deadline.time_remaining()
            timeout = remaining if timeout is None else min(timeout, remaining)
        return GrpcWebStream(self, name, cardinality, reply_type, timeout, metadata)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    def close(self) -> None:
        """grpclib's Channel.close is synchronous; use ``aclose`` where you can await."""
