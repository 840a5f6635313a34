"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291),
through pywebpush in a worker thread."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from . import Permanent, Transient

VAPID_KEY_FILE = "vapid-es256.pem"


def load_vapid(keys_dir: Path) -> Vapid02:
    """The platform's VAPID key pair, created on first use (never committed)."""
    path = keys_dir / VAPID_KEY_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        vapid = Vapid02()
        vapid.generate_keys()
        vapid.save_key(str(path))
        path.chmod(0o600)
    return Vapid02.from_file(str(path))


def public_key(vapid: Vapid02) -> str:
    """The browser's ``applicationServerKey``: the uncompressed P-256 point, base64url."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class PushSender:
    def __init__(self, vapid: Vapid02, subject: str, timeout_s: float) -> None:
        self.vapid = vapid
        self.subject = subject
        self.timeout_s = timeout_s

    async def send(self, endpoint: str, p256dh: str, auth: str, data: str, ttl: int = 3600) -> None:
        await asyncio.to_thread(self._send, endpoint, p256dh, auth, data, ttl)

    def _send(self, endpoint: str, p256dh: str, auth: str, data: str, ttl: int) -> None:
        info: dict[str, Any] = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        try:
            webpush(
                info,
                data,
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},
                timeout=self.timeout_s,
                ttl=ttl,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (404, 410) or (400 <= status < 429 and status != 408):
                raise Permanent(f"push service answered {status}", status) from None
            raise Transient(f"push service answered {status or 'nothing'}", status) from None
        except Exception as exc:  # requests' connection errors and timeouts
            raise Transient(f"push: {type(exc).__name__}") from None
