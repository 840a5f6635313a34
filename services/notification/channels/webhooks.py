"""Webhook deliveries per the Standard Webhooks specification, and the SSRF guard.

Each POST carries ``webhook-id`` (the delivery's idempotency key, the same on every retry),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` over
``{id}.{timestamp}.{body}`` keyed by the base64 part of the endpoint's ``whsec_`` secret; while a
rotated secret is still valid both signatures are sent, separated by a space.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import ipaddress
import secrets
import socket
import sys
import time
from urllib.parse import urlsplit

import httpx

from . import Permanent, Transient

if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    # httpcore runs `import sniffio` on every request; with sniffio not installed each failed import
    # searches sys.path again: about a sixth of the service's event-loop CPU at 100 events/s (py-spy).
    # A None entry makes that import fail at once, as it fails anyway.
    sys.modules["sniffio"] = None  # type: ignore[assignment]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_: list[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(s, message_id, ts, body) for s in secrets_ if s),
        "content-type": "application/json",
        "user-agent": "meetmesh-webhooks/1",
    }


class UnsafeUrl(ValueError):
    """The URL is malformed or resolves to an address webhooks may not reach."""


def _blocked(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool, allow_loopback: bool
) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return not allow_loopback
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return True  # cloud metadata (169.254.169.254) and friends: never
    if address.is_private or getattr(address, "is_site_local", False):
        return not allow_private
    return False


async def check_url(url: str, *, allow_private: bool, allow_loopback: bool) -> None:
    """Raise :class:`UnsafeUrl` unless every address ``url``'s host resolves to may be reached."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http or https URL with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("must not carry credentials")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UnsafeUrl("the host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if _blocked(address, allow_private, allow_loopback):
            raise UnsafeUrl(
                f"resolves to a {'loopback' if address.is_loopback else 'private or reserved'} address"
            )


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    signing_secrets: list[str],
    message_id: str,
    *,
    timeout_s: float,
    allow_private: bool,
    allow_loopback: bool,
) -> int:
    """POST one delivery; returns the status code of a 2xx answer, raises otherwise."""
    try:
        await check_url(url, allow_private=allow_private, allow_loopback=allow_loopback)
    except UnsafeUrl as exc:
        raise Permanent(f"refused URL: {exc}") from None
    try:
        async with asyncio.timeout(timeout_s):  # the whole exchange, however slowly bytes trickle
            reply = await client.post(url, content=body, headers=headers(signing_secrets, message_id, body))
    except TimeoutError:
        raise Transient("timed out") from None
    except httpx.HTTPError as exc:
        raise Transient(f"{type(exc).__name__}") from None
    if 200 <= reply.status_code < 300:
        return reply.status_code
    raise Transient(f"answered {reply.status_code}", reply.status_code)
