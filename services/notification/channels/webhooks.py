"""Webhook deliveries per the Standard Webhooks specification, and the SSRF guard.

Each POST carries ``webhook-id`` (the delivery's idempotency key, the same on every retry),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` over
``{id}.{timestamp}.{body}`` keyed by the base64 part of the endpoint's ``whsec_`` secret; while a
rotated secret is still valid both signatures are sent, separated by a space.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import time
from urllib.parse import urlsplit

from . import Permanent, Transient
from .http import BlockedAddress, GuardedResolver, HttpClient, parse_ip


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


async def check_url(url: str, guard: GuardedResolver) -> None:
    """Raise :class:`UnsafeUrl` unless ``url`` is well formed and every address its host resolves
    to may be reached now. A courtesy when a webhook is registered (a clear INVALID_ARGUMENT); what
    protects deliveries is ``guard`` in the connection itself (channels/http.py), since the name
    may resolve differently later."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http or https URL with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("has an invalid port") from None
    if parse_ip(parts.hostname) is not None:
        why = guard.refuses_literal(parts.hostname)
        if why:
            raise UnsafeUrl(f"is a {why} address")
        return
    try:
        await guard.resolve(parts.hostname, port, family=socket.AF_UNSPEC)
    except BlockedAddress as exc:
        raise UnsafeUrl(str(exc)) from None
    except OSError:
        raise UnsafeUrl("the host does not resolve") from None


async def post(
    client: HttpClient,
    url: str,
    body: bytes,
    signing_secrets: list[str],
    message_id: str,
) -> int:
    """POST one delivery through ``client`` (whose resolver refuses unsafe addresses); returns the
    status code of a 2xx answer, raises otherwise."""
    status = await client.post(url, data=body, headers=headers(signing_secrets, message_id, body))
    if 200 <= status < 300:
        return status
    raise Transient(f"answered {status}", status)


__all__ = ["Permanent", "Transient", "UnsafeUrl", "check_url", "headers", "new_secret", "post", "sign"]
