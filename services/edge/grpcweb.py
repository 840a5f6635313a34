"""gRPC-web wire format: length-prefixed frames, the trailer frame, and the base64 text variant.

Each frame is one flag byte (0x00 message, 0x80 trailers, 0x01 compressed), a 4-byte big-endian
length and the payload. `application/grpc-web-text` carries the same bytes base64-encoded,
possibly as several padded chunks one after another.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

from grpclib.const import Status
from grpclib.metadata import encode_grpc_message

from services.edge.status import EdgeError, RpcStatus

_HEADER = struct.Struct(">BI")
_TRAILERS_FLAG = 0x80
_COMPRESSED_FLAG = 0x01
_B64_CHUNK = re.compile(rb"[A-Za-z0-9+/]*={0,2}")

GRPC_WEB = "application/grpc-web"
GRPC_WEB_TEXT = "application/grpc-web-text"


def is_grpc_web(content_type: str) -> bool:
    return content_type.startswith(GRPC_WEB)


def parse_content_type(content_type: str) -> bool:
    """Validates a gRPC-web content type; returns True for the base64 text variant."""
    base = content_type.partition(";")[0].strip().lower()
    for kind, text in ((GRPC_WEB_TEXT, True), (GRPC_WEB, False)):
        if base in (kind, kind + "+proto"):
            return text
    raise EdgeError(Status.INVALID_ARGUMENT, f"unsupported content type {base!r}", http_status=415)


def decode_text(body: bytes) -> bytes:
    """Decodes a grpc-web-text body: one or more padded base64 chunks."""
    body = b"".join(body.split())
    out = []
    pos = 0
    while pos < len(body):
        m = _B64_CHUNK.match(body, pos)
        if m is None or m.end() == pos:
            raise EdgeError(Status.INVALID_ARGUMENT, "malformed base64 in grpc-web-text body")
        try:
            out.append(base64.b64decode(m.group(), validate=True))
        except binascii.Error as exc:
            raise EdgeError(Status.INVALID_ARGUMENT, "malformed base64 in grpc-web-text body") from exc
        pos = m.end()
    return b"".join(out)


def parse_messages(body: bytes, max_message: int) -> list[bytes]:
    """Splits a request body into message payloads; rejects truncated or compressed frames."""
    messages = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < _HEADER.size:
            raise EdgeError(Status.INVALID_ARGUMENT, "truncated gRPC-web frame header")
        flags, length = _HEADER.unpack_from(body, pos)
        pos += _HEADER.size
        if length > max_message:
            raise EdgeError(Status.RESOURCE_EXHAUSTED, f"message larger than {max_message} bytes")
        if len(body) - pos < length:
            raise EdgeError(Status.INVALID_ARGUMENT, "truncated gRPC-web frame")
        if flags & _COMPRESSED_FLAG:
            raise EdgeError(Status.UNIMPLEMENTED, "compressed gRPC-web messages are not supported")
        if flags & _TRAILERS_FLAG:
            raise EdgeError(Status.INVALID_ARGUMENT, "trailer frame in a request")
        if flags:
            raise EdgeError(Status.INVALID_ARGUMENT, f"unknown gRPC-web frame flags {flags:#x}")
        messages.append(body[pos : pos + length])
        pos += length
    return messages


def message_frame(payload: bytes) -> bytes:
    return _HEADER.pack(0, len(payload)) + payload


def status_fields(status: RpcStatus) -> list[tuple[str, str]]:
    """`grpc-status`, `grpc-message`, `grpc-status-details-bin` and trailing metadata as text pairs."""
    fields = [("grpc-status", str(status.code.value))]
    if status.message:
        fields.append(("grpc-message", encode_grpc_message(status.message)))
    if status.details_bin:
        fields.append(("grpc-status-details-bin", base64.b64encode(status.details_bin).decode().rstrip("=")))
    fields.extend(metadata_as_headers(status.trailers))
    return fields


def trailer_frame(status: RpcStatus) -> bytes:
    block = "".join(f"{k}: {v}\r\n" for k, v in status_fields(status)).encode()
    return _HEADER.pack(_TRAILERS_FLAG, len(block)) + block


def metadata_as_headers(metadata: list[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """gRPC metadata as HTTP header pairs (`-bin` values base64)."""
    out = []
    for key, value in metadata:
        if isinstance(value, bytes):
            out.append((key, base64.b64encode(value).decode().rstrip("=")))
        else:
            out.append((key, value))
    return out


def encode_text(chunk: bytes) -> bytes:
    return base64.b64encode(chunk)
