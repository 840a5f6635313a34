"""Helpers shared by the real-time media tests: the platform with media and signaling, bots."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from grpclib.client import Channel

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_grpc
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from services.kit import ServiceHost, service_block
from services.kit.ice import IceSettings
from services.kit.objects import ObjectStoreSettings
from services.media import network
from services.media.api import MediaService
from services.media.config import MediaOptions
from services.media.wiring import build as build_media
from services.signaling.config import SignalingOptions
from services.signaling.hub import Hub
from services.signaling.wiring import build as build_signaling
from tests.conftest import PG_URL, REDIS_URL
from tests.support import Client, Platform, start_platform


async def wait_for(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Poll a condition on state owned by aiortc or a service (no event to wait on) until it holds."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 - the state has no event of its own
            await asyncio.sleep(0.02)


def close_to(rgb: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(a - b) < tolerance for a, b in zip(rgb, expected, strict=True))


@dataclass
class Rtc:
    """The user, meeting, media and signaling services, and a meeting with its host."""

    platform: Platform
    media: MediaService
    hubs: list[Hub]
    signaling_hosts: list[ServiceHost]
    host: Client
    meeting: meeting_pb2.Meeting
    rooms: list[Room] = field(default_factory=list)
    ice: IceSettings | None = None

    @property
    def signaling_address(self) -> str:
        return f"127.0.0.1:{self.signaling_hosts[0].grpc_port}"

    async def add_signaling(self, ice: IceSettings | None = None, **overrides: Any) -> ServiceHost:
        """Another signaling instance on the same Redis and media."""
        settings = service_block(
            SignalingOptions, "signaling", media_target=self.platform.settings.media.address, **overrides
        )
        spec, hub = build_signaling(self.platform.runtime, settings, ice or self.ice)
        host = ServiceHost(spec, self.platform.runtime.tokens, shutdown_grace_s=1.0)
        await host.start()
        self.hubs.append(hub)
        self.signaling_hosts.append(host)
        return host

    async def join_token(self, client: Client | None = None) -> tuple[str, str]:
        """A join token through the meeting service: (token, signaling address)."""
        client = client or await self.platform.client("Guest")
        reply = await client.join(self.meeting.name, wait_for_admission=True)
        assert reply.join_token
        return reply.join_token, reply.signaling_address

    async def bot(self, client: Client | None = None, instance: int = 0, **kw: Any) -> Room:
        token, _ = await self.join_token(client)
        room = await Room.connect(f"127.0.0.1:{self.signaling_hosts[instance].grpc_port}", token, **kw)
        self.rooms.append(room)
        return room

    async def token(self, pid: str, grants: list[str], user: str = "u-test") -> str:
        """A join token minted with the platform key (for grant combinations no role has), its
        participant made live as the meeting service would."""
        meeting_id = self.meeting.name.split("/")[1]
        generation = await self.platform.runtime.joins.current_or_start(meeting_id, pid)
        token, _ = self.platform.runtime.tokens.issue_join(
            generation=generation,
            user_id=user,
            meeting_id=meeting_id,
            participant_id=pid,
            meeting_role="participant",
            grants=grants,
            ttl_s=300,
        )
        return token

    async def close(self) -> None:
        # Leave, not just drop: a dropped session stays resumable, and its peer would hold a
        # stopping media node's drain (drain_timeout_s) until the whole wait ran out.
        left = await asyncio.gather(*(room.leave() for room in self.rooms), return_exceptions=True)
        for host in self.signaling_hosts:
            await host.stop()
        for outcome in left:  # the hosts are stopped either way; a room's failure still shows
            if isinstance(outcome, BaseException):
                raise outcome


def media_options(**options: Any) -> MediaOptions:
    """The media block with ``options`` set (the rest: defaults, not this machine's environment).
    A stopping node waits at most 2 s (not 15) for its peers to move: a test's browsers and
    dropped bots never do, and no test here stops a node to watch that wait."""
    return service_block(MediaOptions, "media", **({"drain_timeout_s": 2.0} | options))


async def start_rtc(
    platform: Platform,
    media: MediaOptions | None = None,
    media_port: int = 0,
    ice: IceSettings | None = None,
    **signaling: Any,
) -> Rtc:
    """Media and one signaling instance on ``platform``; ``ice`` (default: the platform's) for both."""
    network.use_host_addresses(["127.0.0.1"])
    media_spec, media_service = build_media(platform.runtime, media or media_options(), ice=ice)
    media_host = ServiceHost(media_spec, platform.runtime.tokens, shutdown_grace_s=1.0, grpc_port=media_port)
    await media_host.start()
    platform.hosts["media"] = media_host
    platform.settings.media.target = f"127.0.0.1:{media_host.grpc_port}"
    host = await platform.client("Host")
    meeting = await host.create_meeting(title="Media test")
    rtc = Rtc(platform, media_service, [], [], host, meeting, ice=ice)
    sig = await rtc.add_signaling(**signaling)
    platform.settings.signaling.target = f"127.0.0.1:{sig.grpc_port}"
    return rtc


async def real_platform(run_id: str, keys_dir: Path, objects: ObjectStoreSettings | None = None) -> Platform:
    """User and meeting services on PostgreSQL and Redis (objects in ``objects``, default a folder)."""
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    return await start_platform(stores, keys_dir, objects=objects)


@pytest.fixture
async def rtc_platform(run_id: str, keys_dir: Path) -> AsyncIterator[Platform]:
    """User and meeting services on PostgreSQL and Redis; tests add media and signaling."""
    platform = await real_platform(run_id, keys_dir)
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
async def rtc(rtc_platform: Platform) -> AsyncIterator[Rtc]:
    """User, meeting, media and signaling services on PostgreSQL and Redis, with one meeting."""
    env = await start_rtc(rtc_platform)
    try:
        yield env
    finally:
        await env.close()


async def drain(track: Any, quiet_s: float = 1.0) -> int:
    """Frames a track still yields before it stays quiet for ``quiet_s``."""
    count = 0
    while True:
        try:
            await asyncio.wait_for(track.recv(), quiet_s)
        except TimeoutError:
            return count
        count += 1


class RawSession:
    """A signaling session driven message by message over gRPC."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.channel = Channel(host, int(port))
        self.stream: Any = signaling_grpc.SignalingServiceStub(self.channel).Connect.open()

    async def __aenter__(self) -> RawSession:
        await self.stream.__aenter__()
        await self.stream.send_request()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # the server may have closed the stream already
            await self.stream.__aexit__(None, None, None)
        self.channel.close()

    async def send(self, **message: Any) -> None:
        await self.stream.send_message(pb.SignalRequest(**message))

    async def next(self, kind: str | None = None) -> pb.SignalResponse:
        """The next message (of ``kind``, skipping room events of other kinds)."""
        async with asyncio.timeout(10):
            while True:
                response = await self.stream.recv_message()
                assert response is not None, "the server closed the stream"
                if kind is None or response.WhichOneof("message") == kind:
                    return response

    async def join(self, token: str) -> pb.Joined:
        await self.send(request_id=1, join=pb.Join(token=token))
        return (await self.next("joined")).joined
