"""Test support: start services in-process on free ports and talk to them over real gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from google.rpc import error_details_pb2
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2
from services.kit import PlatformSettings, Runtime, ServiceHost, service_block
from services.kit.objects import ObjectStoreSettings
from services.meeting.config import MeetingServiceOptions, MeetingSettings
from services.registry import factory
from services.user.config import UserServiceOptions

PASSWORD = "correct horse battery staple"

# argon2 at its cheapest, so hundreds of test accounts register quickly (the algorithm is the
# real one; only the cost differs from production).
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


class TestSettings(MeetingSettings):
    """Both services' own options, so one settings object serves the whole test platform."""

    user: UserServiceOptions = service_block(UserServiceOptions, "user", **FAST_ARGON2)


def make_settings(
    stores: dict[str, str], keys_dir: Path, objects: ObjectStoreSettings | None = None, **overrides: Any
) -> TestSettings:
    """Settings for a test platform; objects go to ``objects`` (default: a local folder)."""
    return TestSettings(
        objects=objects or ObjectStoreSettings(local_dir=keys_dir.parent / "objects"),
        database_url=stores["database_url"],
        redis_url=stores["redis_url"],
        redis_prefix=stores["redis_prefix"],
        keys_dir=keys_dir,
        log_json=True,
        shutdown_grace_s=2.0,
        meeting=service_block(
            MeetingServiceOptions,
            "meeting",
            passcode_argon2_time_cost=1,
            passcode_argon2_memory_kib=8,
            **overrides,
        ),
    )


@dataclass
class Client:
    """One signed-in person: their tokens and stubs with their credentials."""

    platform: Platform
    user: user_pb2.User
    tokens: user_pb2.SessionTokens
    email: str

    @property
    def metadata(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens.access_token}"}

    @property
    def user_id(self) -> str:
        return self.user.name.removeprefix("users/")

    async def create_meeting(self, **fields: Any) -> meeting_pb2.Meeting:
        fields.setdefault("title", "Weekly sync")
        reply = await self.platform.meetings.CreateMeeting(
            meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(**fields)), metadata=self.metadata
        )
        return reply.meeting

    async def join(self, meeting: str, **fields: Any) -> meeting_pb2.JoinMeetingResponse:
        return await self.platform.meetings.JoinMeeting(
            meeting_pb2.JoinMeetingRequest(name=meeting, **fields), metadata=self.metadata
        )


@dataclass
class Platform:
    settings: TestSettings
    stores: dict[str, str]
    runtime: Runtime
    hosts: dict[str, ServiceHost] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)

    def channel(self, service: str) -> Channel:
        if service not in self.channels:
            self.channels[service] = Channel("127.0.0.1", self.hosts[service].grpc_port)
        return self.channels[service]

    @property
    def users(self) -> user_grpc.UserServiceStub:
        return user_grpc.UserServiceStub(self.channel("user"))

    @property
    def meetings(self) -> meeting_grpc.MeetingServiceStub:
        return meeting_grpc.MeetingServiceStub(self.channel("meeting"))

    @property
    def redis(self) -> aioredis.Redis:
        return self.runtime.redis

    async def start(self, service: str) -> ServiceHost:
        spec = await factory(service)(self.runtime)
        host = ServiceHost(
            spec,
            self.runtime.tokens,
            shutdown_grace_s=self.settings.shutdown_grace_s,
            max_message_bytes=self.settings.max_message_bytes,
            trusted_proxies=self.settings.trusted_proxies,
        )
        await host.start()
        self.hosts[service] = host
        self.settings.endpoint(service).target = f"127.0.0.1:{host.grpc_port}"
        return host

    async def stop(self, service: str) -> None:
        channel = self.channels.pop(service, None)
        if channel is not None:
            channel.close()
        await self.hosts.pop(service).stop()

    async def register(self, name: str = "Test User", email: str | None = None) -> user_pb2.User:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.test"
        reply = await self.users.Register(
            user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=name)
        )
        return reply.user

    async def login(self, email: str, password: str = PASSWORD) -> user_pb2.LoginResponse:
        return await self.users.Login(user_pb2.LoginRequest(email=email, password=password))

    async def client(self, name: str = "Test User") -> Client:
        email = f"user-{uuid.uuid4().hex[:10]}@example.test"
        await self.register(name, email)
        login = await self.login(email)
        return Client(self, login.user, login.tokens, email)

    async def close(self) -> None:
        for service in reversed(list(self.hosts)):
            await self.stop(service)
        await self.runtime.drop_schemas()
        if self.stores["kind"] == "real":
            keys = [k async for k in self.runtime.redis.scan_iter(match=f"{self.settings.redis_prefix}:*")]
            if keys:
                await self.runtime.redis.delete(*keys)
        await self.runtime.close()


async def start_platform(
    stores: dict[str, str],
    keys_dir: Path,
    services: tuple[str, ...] = ("user", "meeting"),
    objects: ObjectStoreSettings | None = None,
    **overrides: Any,
) -> Platform:
    settings = make_settings(stores, keys_dir, objects, **overrides)
    platform = Platform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))
    try:
        for service in services:
            await platform.start(service)
    except BaseException:
        await platform.close()
        raise
    return platform


def error_info(error: GRPCError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a gRPC error (every meetmesh error carries one)."""
    for detail in error.details or []:
        if isinstance(detail, error_details_pb2.ErrorInfo):
            return detail
    raise AssertionError(f"no ErrorInfo in {error.details!r}")


def field_violations(error: GRPCError) -> dict[str, str]:
    for detail in error.details or []:
        if isinstance(detail, error_details_pb2.BadRequest):
            return {v.field: v.description for v in detail.field_violations}
    raise AssertionError(f"no BadRequest in {error.details!r}")


def retry_delay(error: GRPCError) -> int:
    for detail in error.details or []:
        if isinstance(detail, error_details_pb2.RetryInfo):
            return detail.retry_delay.seconds
    raise AssertionError(f"no RetryInfo in {error.details!r}")


__all__ = [
    "PASSWORD",
    "Client",
    "Platform",
    "PlatformSettings",
    "error_info",
    "field_violations",
    "start_platform",
]


async def wait_until(
    condition: Callable[[], Awaitable[bool]], within_s: float = 10.0, every_s: float = 0.01
) -> None:
    """Wait for ``condition()`` to hold, failing the test after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while not await condition():  # noqa: ASYNC110 - polling a condition of another process
            await asyncio.sleep(every_s)


@contextlib.contextmanager
def squatting(port: int, host: str = "127.0.0.1") -> Iterator[None]:
    """Another process's listening socket on ``port``, as far as a server starting there sees: for
    tests of a port taken between picking and binding it."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((host, port))
        squatter.listen(1)
        yield
