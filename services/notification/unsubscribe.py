"""Signed one-click unsubscribe links (RFC 8058) on the HTTP side port.

The link carries ``base64url(address \\0 kind).base64url(HMAC-SHA256)``, signed with a key of the
service's own (``notification-unsubscribe.key`` in ``keys_dir``, created on first use). ``POST``
(what mail clients send for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``) unsubscribes;
``GET`` only shows a page with a button that POSTs, so link scanners unsubscribe nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

KEY_FILE = "notification-unsubscribe.key"


def load_key(keys_dir: Path) -> bytes:
    path = keys_dir / KEY_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, address: str, kind: str) -> str:
    body = f"{address}\0{kind}".encode()
    return f"{_b64(body)}.{_b64(hmac.new(key, body, hashlib.sha256).digest())}"


def read_token(key: bytes, token: str) -> tuple[str, str] | None:
    """(address, kind) from a genuine token, else None."""
    try:
        body_part, mac_part = token.split(".", 1)
        body, mac = _unb64(body_part), _unb64(mac_part)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    address, _, kind = body.decode(errors="replace").partition("\0")
    return (address, kind) if address and kind else None


def route(
    key: bytes, suppress: Callable[[str, str], Awaitable[None]]
) -> Callable[[Request], Awaitable[Response]]:
    async def unsubscribe(request: Request) -> Response:
        token = request.query_params.get("token", "")
        found = read_token(key, token)
        if found is None:
            return PlainTextResponse("this unsubscribe link is not valid", status_code=400)
        address, kind = found
        if request.method == "POST":
            await suppress(address, kind)
            return PlainTextResponse("unsubscribed")
        action = html.escape(f"?token={token}", quote=True)
        return HTMLResponse(
            f'<!doctype html><form method="post" action="{action}">'
            f'<button type="submit">Unsubscribe from these messages</button></form>'
        )

    return unsubscribe
