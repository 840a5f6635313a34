"""HTTP request headers -> gRPC call metadata and deadline."""

from __future__ import annotations

import base64
import binascii
import re

from grpclib.const import Status

from services.edge.status import EdgeError

# Headers about the HTTP exchange itself (or the browser), not the call: never forwarded.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "accept",
        "accept-encoding",
        "accept-language",
        "origin",
        "referer",
        "user-agent",
        "cookie",
        "x-grpc-web",
        "x-user-agent",
        "cache-control",
        "pragma",
        "content-encoding",
        "priority",
        "dnt",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-real-ip",
        "forwarded",
        "expect",
        "connect-protocol-version",
        "connect-timeout-ms",
    }
)
_KEY = re.compile(r"^[0-9a-z_.\-]+$")
_VALUE = re.compile(r"^[ -~]+$")  # grpclib refuses empty values
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def call_metadata(headers: list[tuple[str, str]], client: str | None) -> list[tuple[str, str | bytes]]:
    """The metadata forwarded upstream: the caller's own headers plus `x-forwarded-for`."""
    out: list[tuple[str, str | bytes]] = []
    for key, value in headers:
        if key in _NOT_FORWARDED or key.startswith(("grpc-", "sec-", "proxy-", "access-control-", ":")):
            continue
        if not _KEY.fullmatch(key):
            continue
        if key.endswith("-bin"):
            try:
                out.append((key, base64.b64decode(value + "=" * (-len(value) % 4), validate=True)))
            except (binascii.Error, ValueError):
                raise EdgeError(Status.INVALID_ARGUMENT, f"metadata {key!r} is not valid base64") from None
        elif _VALUE.fullmatch(value):
            out.append((key, value))
    if client:
        out.append(("x-forwarded-for", client))
    return out


def parse_timeout(value: str | None) -> float | None:
    """`grpc-timeout` (e.g. `250m`, `5S`) in seconds."""
    if value is None:
        return None
    m = _TIMEOUT.fullmatch(value.strip())
    if m is None:
        raise EdgeError(Status.INVALID_ARGUMENT, "malformed grpc-timeout header")
    return int(m.group(1)) * _UNITS[m.group(2)]
