"""TURN credentials in coturn's REST-API scheme (``use-auth-secret`` / ``static-auth-secret``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def turn_credentials(secret: str, user: str, ttl_s: int = 3600) -> tuple[str, str]:
    """Username ``<expiry>:<user>``, password base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()
