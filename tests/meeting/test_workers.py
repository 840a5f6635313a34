"""``meetmesh serve user meeting --workers 2``: two processes share each port (SO_REUSEPORT) on
the real PostgreSQL and Redis; seats stay within capacity under concurrent joins spread over
both workers, and a change made through one worker reaches the other's cache."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2
from services.cli import workers_problem
from services.kit import PlatformSettings
from tests import servers
from tests.support import PASSWORD, wait_until

ROOT = Path(__file__).resolve().parents[2]
CAPACITY = 10
JOINERS = 50


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Workers:
    env: dict[str, str]
    user_port: int
    meeting_port: int
    meeting_http_port: int


@pytest.fixture
def workers(run_id: str) -> Iterator[Workers]:
    run = uuid.uuid4().hex[:6]
    ports = [_free_port() for _ in range(4)]
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}:{ROOT / 'clients/python'}",
        "MEETMESH_DATABASE_URL": servers.postgres_url(),
        "MEETMESH_REDIS_URL": servers.redis_url(),
        "MEETMESH_SCHEMA_PREFIX": f"t{run_id}_{run}_",
        "MEETMESH_REDIS_PREFIX": f"mmtest:{run_id}:{run}",
        "MEETMESH_KEYS_DIR": tempfile.mkdtemp(prefix="meetmesh-workers-keys-"),
        "MEETMESH_LOG_LEVEL": "WARNING",
        "MEETMESH_USER__GRPC_PORT": str(ports[0]),
        "MEETMESH_USER__HTTP_PORT": str(ports[1]),
        "MEETMESH_MEETING__GRPC_PORT": str(ports[2]),
        "MEETMESH_MEETING__HTTP_PORT": str(ports[3]),
        # A cache entry outlives the test: only the invalidation can refresh it.
        "MEETMESH_MEETING__CACHE_TTL_S": "600",
        "MEETMESH_USER__ARGON2_TIME_COST": "1",
        "MEETMESH_USER__ARGON2_MEMORY_KIB": "8",
        "MEETMESH_USER__ARGON2_PARALLELISM": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "user", "meeting", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield Workers(env, ports[0], ports[2], ports[3])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(90) == 0  # a loaded machine may take a while to stop both workers
        finally:
            if proc.poll() is None:
                proc.kill()
            asyncio.run(_drop(env))


async def _drop(env: dict[str, str]) -> None:
    import redis.asyncio as aioredis
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(env["MEETMESH_DATABASE_URL"])
    async with engine.begin() as conn:
        for svc in ("user", "meeting"):
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{env["MEETMESH_SCHEMA_PREFIX"]}{svc}" CASCADE'))
    await engine.dispose()
    client = aioredis.Redis.from_url(env["MEETMESH_REDIS_URL"])
    keys = [k async for k in client.scan_iter(match=f"{env['MEETMESH_REDIS_PREFIX']}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def channels(workers: Workers) -> AsyncIterator[list[Channel]]:
    """Both workers ready (each answered /healthz), then one connection per joiner."""
    pids: set[int] = set()

    async def both_ready() -> bool:
        # A fresh connection each time: the kernel picks a worker per connection.
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{workers.meeting_http_port}") as http:
                reply = await http.get("/healthz")
        except httpx.TransportError:
            return False
        if reply.status_code == 200:
            pids.add(reply.json()["pid"])
        return len(pids) == 2

    await wait_until(both_ready, within_s=120, every_s=0.05)  # two cold starts on a busy machine
    chans = [Channel("127.0.0.1", workers.meeting_port) for _ in range(JOINERS)]
    yield chans
    for ch in chans:
        ch.close()


async def _sign_in(users: user_grpc.UserServiceStub, name: str) -> dict[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.test"
    await users.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=name))
    login = await users.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
    return {"authorization": f"Bearer {login.tokens.access_token}"}


async def test_two_workers_keep_capacity_and_invalidate_each_others_caches(
    workers: Workers, channels: list[Channel]
) -> None:
    user_ch = Channel("127.0.0.1", workers.user_port)
    try:
        users = user_grpc.UserServiceStub(user_ch)
        host = await _sign_in(users, "host")
        guests = await asyncio.gather(*(_sign_in(users, f"guest{i}") for i in range(JOINERS)))
    finally:
        user_ch.close()
    stubs = [meeting_grpc.MeetingServiceStub(ch) for ch in channels]
    created = await stubs[0].CreateMeeting(
        meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(title="before", capacity=CAPACITY)),
        metadata=host,
    )
    name = created.meeting.name

    async def join(i: int) -> Status:
        try:
            reply = await stubs[i].JoinMeeting(
                meeting_pb2.JoinMeetingRequest(name=name, display_name=f"G{i}"), metadata=guests[i]
            )
        except GRPCError as err:
            return err.status
        assert reply.participant.state == meeting_pb2.Participant.STATE_ADMITTED
        assert reply.meeting.participant_count <= CAPACITY
        return Status.OK

    outcomes = await asyncio.gather(*(join(i) for i in range(JOINERS)))
    assert outcomes.count(Status.OK) == CAPACITY
    assert outcomes.count(Status.RESOURCE_EXHAUSTED) == JOINERS - CAPACITY
    listed = await stubs[1].ListParticipants(
        meeting_pb2.ListParticipantsRequest(parent=name, page_size=100), metadata=host
    )
    assert len(listed.participants) == CAPACITY

    # Every connection (spread over both workers by the kernel) caches the meeting ...
    for stub in stubs:
        got = await stub.GetMeeting(meeting_pb2.GetMeetingRequest(name=name), metadata=host)
        assert got.meeting.title == "before" and got.meeting.participant_count == CAPACITY
    # ... one worker changes it, and every connection sees the change long before the TTL.
    await stubs[0].UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(name=name, title="after"), update_mask=FieldMask(paths=["title"])
        ),
        metadata=host,
    )

    async def everyone_sees_it() -> bool:
        titles = await asyncio.gather(
            *(stub.GetMeeting(meeting_pb2.GetMeetingRequest(name=name), metadata=host) for stub in stubs)
        )
        return all(t.meeting.title == "after" for t in titles)

    await wait_until(everyone_sees_it, within_s=5, every_s=0.05)


def test_workers_need_a_shared_redis_fixed_ports_and_a_multi_worker_service() -> None:
    shared = PlatformSettings(redis_url="redis://127.0.0.1:1/0")
    assert workers_problem(["user", "meeting"], 2, shared) is None
    assert workers_problem(["media"], 1, shared) is None
    assert "media" in (workers_problem(["meeting", "media"], 2, shared) or "")
    assert "shared Redis" in (workers_problem(["meeting"], 2, PlatformSettings(redis_url="memory://")) or "")
    zero = PlatformSettings(redis_url="redis://127.0.0.1:1/0", meeting={"grpc_port": 0, "http_port": 1})
    assert "fixed ports" in (workers_problem(["meeting"], 2, zero) or "")
