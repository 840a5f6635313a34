"""A minimal gRPC-web client for the tests (httpx): frames one request, parses frames and trailers."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

import httpx


@dataclass
class GrpcWebReply:
    http_status: int
    headers: httpx.Headers
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        """grpc-status from the trailer frame, or from the headers of a trailers-only answer."""
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        assert value is not None, "no grpc-status in trailers or headers"
        return int(value)

    @property
    def message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def parse_body(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    messages, trailers, pos = [], {}, 0
    while pos < len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        pos += 5
        payload = body[pos : pos + length]
        assert len(payload) == length, "truncated frame in response"
        pos += length
        if flags & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


async def call(
    client: httpx.AsyncClient,
    url: str,
    path: str,
    payload: bytes,
    *,
    text: bool = False,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
    content_type: str | None = None,
) -> GrpcWebReply:
    body = raw_body if raw_body is not None else frame(payload)
    ctype = content_type or ("application/grpc-web-text" if text else "application/grpc-web+proto")
    if text and raw_body is None:
        body = base64.b64encode(body)
    response = await client.post(
        url + path, content=body, headers={"content-type": ctype, "x-grpc-web": "1", **(headers or {})}
    )
    data = response.content
    if data and response.headers.get("content-type", "").startswith("application/grpc-web-text"):
        data = b"".join(base64.b64decode(chunk + b"=" * (-len(chunk) % 4)) for chunk in _b64_chunks(data))
    messages, trailers = parse_body(data) if response.status_code == 200 else ([], {})
    return GrpcWebReply(response.status_code, response.headers, messages, trailers)


def _b64_chunks(data: bytes) -> list[bytes]:
    chunks, current = [], b""
    for i in range(0, len(data), 4):
        current += data[i : i + 4]
        if current.endswith(b"="):
            chunks.append(current)
            current = b""
    if current:
        chunks.append(current)
    return chunks
