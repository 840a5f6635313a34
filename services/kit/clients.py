"""Channels to other services, carrying this service's identity on every call.

Internal methods (``caller: CALLER_SERVICE`` in the contract) need a service credential: a
short-lived service token (docs/adr/0005-service-identity.md). A channel made with an
``identity`` adds ``authorization: Bearer <service token>`` to each request through grpclib's
``SendRequest`` event, unless the call already carries credentials of its own (a user's token on a
call made on the user's behalf).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from .tracing import TracedChannel

if TYPE_CHECKING:
    from .auth import TokenService

#: A service token lives this long; a new one is issued when less than a third is left.
SERVICE_TOKEN_TTL_S = 300


class ServiceIdentity:
    """The credential one service presents to others: service tokens, renewed before they expire."""

    def __init__(self, tokens: TokenService, service: str, ttl_s: int = SERVICE_TOKEN_TTL_S) -> None:
        self.service = service
        self._tokens = tokens
        self._ttl_s = ttl_s
        self._token = ""
        self._renew_at = 0.0

    def authorization(self) -> str:
        """The `authorization` metadata value for a call made now."""
        now = time.time()
        if now >= self._renew_at:
            self._token, expires = self._tokens.issue_service(self.service, self._ttl_s)
            self._renew_at = expires - self._ttl_s / 3
        return f"Bearer {self._token}"

    async def on_send_request(self, event: SendRequest) -> None:
        if "authorization" not in event.metadata:
            event.metadata["authorization"] = self.authorization()


def channel(target: str, identity: ServiceIdentity | None = None) -> Channel:
    """A grpclib channel to ``host:port``, presenting ``identity`` when given."""
    host, _, port = target.rpartition(":")
    ch = TracedChannel(
        host.strip("[]") or "127.0.0.1", int(port), service=identity.service if identity else "client"
    )
    if identity is not None:
        listen(ch, SendRequest, identity.on_send_request)
    return ch
