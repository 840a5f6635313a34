"""Asking the user service about a recipient whose user events have not arrived yet.

User and meeting events come on separate streams, so a meeting's recording can be ready before
the service has heard of its host. The queue then asks the user service's internal
``UserDirectoryService`` (``user_target``) and stores the answer as it stores what user events
say; while the user service cannot be reached, such messages wait and are tried again (never
dropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from meetmesh.user.internal.v1 import directory_grpc, directory_pb2
from services.kit.clients import MeshChannel, ServiceIdentity, channel, client


class Unreachable(Exception):
    """The user service did not answer (down, or an error other than NOT_FOUND)."""


@dataclass(frozen=True)
class Contact:
    user_id: str
    email: str
    display_name: str


class UserDirectory:
    """Lookups by user id or by email address; an address with no account is remembered for
    ``unknown_ttl_s`` (external invitees are the usual case: they are not asked about each time).
    ``target`` is read again after the user service failed to answer (it may have moved)."""

    def __init__(
        self,
        target: Callable[[], str],
        identity: ServiceIdentity,
        *,
        timeout_s: float = 5.0,
        unknown_ttl_s: float = 300.0,
    ) -> None:
        self.target = target
        self.identity = identity
        self.timeout_s = timeout_s
        self.unknown_ttl_s = unknown_ttl_s
        self._unknown: dict[str, float] = {}
        # After a failure the service is not asked again for a few seconds (each message that
        # would ask fails at once instead of waiting for its own timeout).
        self._down_until = 0.0
        self._channel: MeshChannel | None = None

    async def by_id(self, user_id: str) -> Contact | None:
        return await self._ask(directory_pb2.LookupUserRequest(user=user_id))

    async def by_email(self, email: str) -> Contact | None:
        now = time.monotonic()
        if self._unknown.get(email, 0.0) > now:
            return None
        contact = await self._ask(directory_pb2.LookupUserRequest(email=email))
        if contact is None:
            if len(self._unknown) > 10_000:  # bounded: drop the expired, else everything
                self._unknown = {k: v for k, v in self._unknown.items() if v > now}
                if len(self._unknown) > 10_000:
                    self._unknown.clear()
            self._unknown[email] = now + self.unknown_ttl_s
        return contact

    async def _ask(self, request: directory_pb2.LookupUserRequest) -> Contact | None:
        if time.monotonic() < self._down_until:
            raise Unreachable("failed moments ago")
        if self._channel is None:
            self._channel = channel(self.target(), self.identity)
        stub = client(directory_grpc.UserDirectoryServiceStub, self._channel)  # retried: idempotent
        try:
            reply = await stub.LookupUser(request, timeout=self.timeout_s)
        except GRPCError as exc:
            if exc.status is Status.NOT_FOUND:
                return None
            self._failed()
            raise Unreachable(exc.status.name) from None
        except (OSError, TimeoutError, StreamTerminatedError) as exc:
            self._failed()
            raise Unreachable(type(exc).__name__) from None
        return Contact(reply.user, reply.email, reply.display_name)

    def _failed(self) -> None:
        self._down_until = time.monotonic() + 2.0
        self.close()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
