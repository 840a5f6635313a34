"""A signed-in session for the CLI: the edge channel, the saved tokens and their refresh.

An access token is refreshed (``RefreshSession``, which rotates the refresh token too) when it has
less than a minute left, or once when a call answers UNAUTHENTICATED; the rotated tokens are saved
at once, so a second CLI process never presents a spent refresh token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.ai.v1 import ai_grpc
from meetmesh.meeting.v1 import meeting_grpc
from meetmesh.user.v1 import user_grpc, user_pb2

from ..grpcweb import GrpcWebChannel
from .config import Config, Credentials
from .errors import EXIT_UNAUTHENTICATED, CliError, from_grpc

T = TypeVar("T")
REFRESH_MARGIN_S = 60.0


def credentials_from(server: str, user: user_pb2.User, tokens: user_pb2.SessionTokens) -> Credentials:
    return Credentials(
        access_token=tokens.access_token,
        access_expires=tokens.access_token_expire_time.ToDatetime().timestamp()
        if tokens.HasField("access_token_expire_time")
        else 0.0,
        refresh_token=tokens.refresh_token,
        refresh_expires=tokens.refresh_token_expire_time.ToDatetime().timestamp()
        if tokens.HasField("refresh_token_expire_time")
        else 0.0,
        user=user.name,
        email=user.email,
        server=server,
    )


class Session:
    """The channel to one edge, with the profile's credentials when there are any."""

    def __init__(self, config: Config, profile: str, server: str, timeout: float = 30.0) -> None:
        self.config = config
        self.profile = profile
        self.server = server
        self.channel = GrpcWebChannel(server, timeout=timeout)
        self.users = user_grpc.UserServiceStub(self.channel)  # type: ignore[arg-type]
        self.meetings = meeting_grpc.MeetingServiceStub(self.channel)  # type: ignore[arg-type]
        self.analysis = ai_grpc.AnalysisServiceStub(self.channel)  # type: ignore[arg-type]
        self._credentials: Credentials | None = None

    async def close(self) -> None:
        await self.channel.aclose()

    def saved(self) -> Credentials | None:
        if self._credentials is None:
            self._credentials = self.config.load_credentials(self.profile)
        return self._credentials

    def remember(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self.config.save_credentials(self.profile, credentials)

    def _signed_in(self) -> Credentials:
        saved = self.saved()
        if saved is None:
            raise CliError(
                f"not logged in (profile {self.profile}): run `meetmesh login`", EXIT_UNAUTHENTICATED
            )
        if saved.server != self.server:
            raise CliError(
                f"profile {self.profile} is logged in to {saved.server}, not {self.server}: "
                f"run `meetmesh --server {self.server} login`",
                EXIT_UNAUTHENTICATED,
            )
        return saved

    async def refresh(self, *, spent: str = "") -> Credentials:
        """New tokens for the profile, under its refresh lock: when another process refreshed
        meanwhile (the saved refresh token is not the one this process read), its tokens are used."""
        with self.config.refresh_lock(self.profile):
            self._credentials = None
            saved = self._signed_in()
            if (
                spent
                and saved.refresh_token != spent
                and saved.access_expires - time.time() > REFRESH_MARGIN_S
            ):
                return saved
            return await self._rotate(saved)

    async def _rotate(self, saved: Credentials) -> Credentials:
        try:
            reply = await self.users.RefreshSession(
                user_pb2.RefreshSessionRequest(refresh_token=saved.refresh_token)
            )
        except GRPCError as exc:
            if exc.status is Status.UNAUTHENTICATED:
                self.config.forget_credentials(self.profile)
                raise CliError(
                    "your session has expired or was revoked: run `meetmesh login`",
                    EXIT_UNAUTHENTICATED,
                    status=exc.status.name,
                ) from exc
            raise from_grpc(exc, "refreshing the session") from exc
        user = user_pb2.User(name=saved.user, email=saved.email)
        fresh = credentials_from(self.server, user, reply.tokens)
        self.remember(fresh)
        return fresh

    async def access_token(self) -> str:
        saved = self._signed_in()
        if saved.access_expires - time.time() < REFRESH_MARGIN_S:
            saved = await self.refresh(spent=saved.refresh_token)
        return saved.access_token

    async def call(
        self, method: Callable[..., Awaitable[T]], request: object, *, deadline_s: float | None = None
    ) -> T:
        """Calls ``method`` with the access token, refreshing it once if the server refuses it."""
        for attempt in (1, 2):
            metadata = {"authorization": f"Bearer {await self.access_token()}"}
            try:
                return await method(request, metadata=metadata, timeout=deadline_s)
            except GRPCError as exc:
                if exc.status is Status.UNAUTHENTICATED and attempt == 1:
                    await self.refresh(spent=self._signed_in().refresh_token)
                    continue
                raise
        raise AssertionError("unreachable")
