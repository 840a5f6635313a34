"""The caller's profile from the user service: the email (invitations are by email) and the
display name (a joiner who gives none is shown by the account's name).

The meeting service asks the user service (``GetUser users/me`` on the caller's own token, within
the current call's deadline) and caches the answer briefly.
"""

from __future__ import annotations

import time

from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_grpc, user_pb2
from services.kit import Principal, channel, downstream_timeout
from services.kit.clients import client
from services.kit.logs import get_logger

log = get_logger("meetmesh.meeting.directory")


class UserDirectory:
    def __init__(self, target: str, ttl_s: float = 60.0) -> None:
        self._target = target
        self._channel: Channel | None = None
        self._client: user_grpc.UserServiceStub | None = None
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, user_pb2.User]] = {}

    def _stub(self) -> user_grpc.UserServiceStub:
        if self._channel is None or self._client is None:
            self._channel = channel(self._target)
            # GetUser is idempotent in the contract: retried on UNAVAILABLE within the deadline.
            self._client = client(user_grpc.UserServiceStub, self._channel)
        return self._client

    async def _profile(self, principal: Principal) -> user_pb2.User | None:
        cached = self._cache.get(principal.user_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            reply = await self._stub().GetUser(
                user_pb2.GetUserRequest(name="users/me"),
                timeout=downstream_timeout(2.0),
                metadata={"authorization": f"Bearer {principal.token}"},
            )
        except (GRPCError, OSError, TimeoutError) as exc:
            log.warning("user service lookup failed", extra={"error": type(exc).__name__})
            return None
        self._cache[principal.user_id] = (now + self._ttl_s, reply.user)
        return reply.user

    async def email_of(self, principal: Principal) -> str | None:
        """The caller's email, or None when the user service cannot say right now."""
        profile = await self._profile(principal)
        return profile.email if profile is not None else None

    async def display_name_of(self, principal: Principal) -> str | None:
        """The caller's display name, or None when the user service cannot say right now."""
        profile = await self._profile(principal)
        return profile.display_name if profile is not None else None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
