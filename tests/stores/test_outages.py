"""A store going away: calls answer UNAVAILABLE with RetryInfo, quickly (and the edge HTTP 503,
never 500), and work again by themselves once the store is back (no service restart).

Each test starts a server of its own (PostgreSQL, Redis or FerretDB), kills it as a crash would
(SIGKILL) and starts it again on the same port and data directory; one stops Redis instead
(SIGSTOP), so that it hangs with its connections open, and lets it go on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from pymongo import AsyncMongoClient

from meetmesh.ai.v1 import ai_grpc, ai_pb2
from services.ai.config import AiServiceOptions, AiSettings
from services.edge.app import Edge
from services.edge.config import EdgeOptions, EdgeSettings, RateLimit
from services.kit import Endpoint, Runtime, ServiceHost, service_block
from services.stack import FerretDBServer, PostgresServer, RedisServer, free_port
from tests import servers
from tests.edge.harness import start_uvicorn, stop_uvicorn
from tests.support import PASSWORD, Platform, error_info, retry_delay, start_platform, wait_until

# A call during an outage must end within this (the settings' store_timeout_s is 3 s; the rest is
# room for a busy test machine).
OUTAGE_ANSWER_WITHIN_S = 8.0
RECOVER_WITHIN_S = 30.0


async def answers_unavailable(call: Callable[[], Awaitable[object]]) -> None:
    started = time.monotonic()
    with pytest.raises(GRPCError) as caught:
        await call()
    elapsed = time.monotonic() - started
    assert caught.value.status == Status.UNAVAILABLE, caught.value
    assert error_info(caught.value).reason == "DEPENDENCY_UNAVAILABLE"
    assert retry_delay(caught.value) >= 1
    assert elapsed < OUTAGE_ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"


async def recovers(call: Callable[[], Awaitable[object]]) -> None:
    async def succeeds() -> bool:
        try:
            await call()
        except GRPCError as exc:
            if exc.status != Status.UNAVAILABLE:  # nothing else while it comes back
                raise
            return False
        return True

    await wait_until(succeeds, within_s=RECOVER_WITHIN_S, every_s=0.2)


async def platform_on(database_url: str, redis_url: str, keys_dir: Path) -> Platform:
    stores = {
        "kind": "real",
        "database_url": database_url,
        "redis_url": redis_url,
        "schema_prefix": f"t{uuid.uuid4().hex[:8]}_",
        "redis_prefix": f"mmtest:{uuid.uuid4().hex[:8]}",
    }
    return await start_platform(stores, keys_dir, services=("user",))


@contextlib.asynccontextmanager
async def edge_in_front(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The edge (JSON/REST) in front of the platform's user service."""
    settings = EdgeSettings(
        redis_url=platform.settings.redis_url,
        redis_prefix=f"{platform.settings.redis_prefix}:edge",
        edge=EdgeOptions(
            port=0,
            jwks_url=f"http://127.0.0.1:{platform.hosts['user'].http_port}/.well-known/jwks.json",
            # one token per Redis call: every request asks Redis for its rate limit
            rate_limit_address=RateLimit(rate=5, burst=10),
        ),
        user=Endpoint(grpc_port=0, http_port=0, target=platform.settings.endpoint("user").address),
    )
    server, port = await start_uvicorn(Edge(settings))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        await stop_uvicorn(server)


async def edge_answers_unavailable(http: httpx.AsyncClient, credentials: dict[str, str]) -> httpx.Response:
    started = time.monotonic()
    answer = await http.post("/v1/sessions:login", json=credentials)
    assert time.monotonic() - started < OUTAGE_ANSWER_WITHIN_S
    assert answer.status_code == 503, answer.text  # never a 500, never a hang
    details = {d["@type"].rsplit("/", 1)[1]: d for d in answer.json()["details"]}
    assert details["google.rpc.RetryInfo"]["retryDelay"] == "1s"
    assert details["google.rpc.ErrorInfo"]["reason"] == "DEPENDENCY_UNAVAILABLE"
    return answer


@dataclass
class Session:
    """A platform with one signed-up client, and the edge in front of it."""

    platform: Platform
    http: httpx.AsyncClient
    credentials: dict[str, str]

    async def login(self) -> object:
        return await self.platform.login(self.credentials["email"], PASSWORD)

    async def edge_login_status(self) -> int:
        return (await self.http.post("/v1/sessions:login", json=self.credentials)).status_code


@contextlib.asynccontextmanager
async def signed_in(database_url: str, redis_url: str, keys_dir: Path) -> AsyncIterator[Session]:
    """The platform on these stores, a client that can log in directly and through the edge."""
    platform = await platform_on(database_url, redis_url, keys_dir)
    try:
        client = await platform.client("Ada")
        async with edge_in_front(platform) as http:  # its rate limits live in the same Redis
            session = Session(platform, http, {"email": client.email, "password": PASSWORD})
            assert await session.edge_login_status() == 200
            yield session
    finally:
        await platform.close()


async def test_postgresql_outage(keys_dir: Path, redis_url: str) -> None:
    with PostgresServer(durable=True) as postgres:
        async with signed_in(postgres.url, redis_url, keys_dir) as session:
            platform = session.platform
            postgres.kill()
            await answers_unavailable(session.login)
            await answers_unavailable(lambda: platform.register("Bob"))
            await edge_answers_unavailable(session.http, session.credentials)

            postgres.start()
            await recovers(session.login)
            assert (await platform.register("Bob")).display_name == "Bob"
            assert await session.edge_login_status() == 200


async def test_redis_outage(keys_dir: Path, postgres_url: str) -> None:
    with RedisServer() as redis:
        async with signed_in(postgres_url, redis.url, keys_dir) as session:
            redis.kill()
            await answers_unavailable(session.login)
            refused = await edge_answers_unavailable(session.http, session.credentials)
            assert refused.headers["retry-after"] == "1"  # the edge's own rate limiter

            redis.start()
            await recovers(session.login)
            tokens = (await session.platform.login(session.credentials["email"], PASSWORD)).tokens
            assert tokens.refresh_token
            assert await session.edge_login_status() == 200


async def test_a_redis_that_stops_answering(keys_dir: Path, postgres_url: str) -> None:
    """Redis alive but silent (SIGSTOP: connections stay open, nothing is read or answered): calls
    and the edge's rate limiter give up after the store timeout (services/kit/redis.py), then work
    again once it goes on (SIGCONT)."""
    with RedisServer() as redis:
        assert redis.proc is not None
        async with signed_in(postgres_url, redis.url, keys_dir) as session:
            os.kill(redis.proc.pid, signal.SIGSTOP)
            try:
                await answers_unavailable(session.login)
                refused = await edge_answers_unavailable(session.http, session.credentials)
                assert refused.headers["retry-after"] == "1"
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)
            await recovers(session.login)
            assert await session.edge_login_status() == 200


class AiTestSettings(AiSettings):
    pass


@pytest.fixture
async def ferretdb() -> AsyncIterator[FerretDBServer]:
    """A FerretDB of the test's own, on the session's PostgreSQL."""
    server = FerretDBServer(servers.postgres(), database=f"ferretdb_{uuid.uuid4().hex[:8]}")
    with server:
        yield server


@contextlib.asynccontextmanager
async def ai_service(
    mongo_url: str, keys_dir: Path, postgres_url: str, redis_url: str
) -> AsyncIterator[Callable[[], Awaitable[ai_pb2.ListTranscriptSegmentsResponse]]]:
    """The ai service with its results at ``mongo_url``; yields a call that needs them."""
    settings = AiTestSettings(
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=f"mmtest:{uuid.uuid4().hex[:8]}",
        mongo_url=mongo_url,
        keys_dir=keys_dir,
        shutdown_grace_s=1.0,
        # Inference is not used here: no Triton listens on this port.
        ai=service_block(AiServiceOptions, "ai", manage_triton=False, triton_url=f"127.0.0.1:{free_port()}"),
    )
    runtime = Runtime(settings, schema_prefix=f"t{uuid.uuid4().hex[:8]}_")
    from services.ai.wiring import create

    host = ServiceHost(await create(runtime), runtime.tokens, shutdown_grace_s=1.0)
    await host.start()
    channel = Channel("127.0.0.1", host.grpc_port)
    access, _ = runtime.tokens.issue_access(
        user_id=uuid.uuid4().hex[:12], role="admin", session_id=uuid.uuid4().hex, ttl_s=600
    )
    stub = ai_grpc.AnalysisServiceStub(channel)

    async def list_segments() -> ai_pb2.ListTranscriptSegmentsResponse:
        return await stub.ListTranscriptSegments(
            ai_pb2.ListTranscriptSegmentsRequest(parent="meetings/m1"),
            metadata={"authorization": f"Bearer {access}"},
        )

    try:
        yield list_segments
    finally:
        channel.close()
        await host.stop()
        await runtime.close()


async def test_ferretdb_outage(
    ferretdb: FerretDBServer, keys_dir: Path, postgres_url: str, redis_url: str
) -> None:
    async with ai_service(ferretdb.url, keys_dir, postgres_url, redis_url) as list_segments:
        assert list((await list_segments()).transcript_segments) == []
        ferretdb.kill()
        await answers_unavailable(list_segments)
        ferretdb.start()
        await recovers(list_segments)


async def test_the_ai_service_starts_while_ferretdb_is_down(
    keys_dir: Path, postgres_url: str, redis_url: str
) -> None:
    server = FerretDBServer(servers.postgres(), database=f"ferretdb_{uuid.uuid4().hex[:8]}")
    try:
        async with ai_service(server.url, keys_dir, postgres_url, redis_url) as list_segments:
            await answers_unavailable(list_segments)
            server.start()
            await recovers(list_segments)
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(server.url)
            try:

                async def indexed() -> bool:
                    names = await client["meetmesh_ai"]["transcript_segments"].index_information()
                    return "meeting_spoken" in names

                await wait_until(indexed, within_s=RECOVER_WITHIN_S, every_s=0.2)
            finally:
                await client.close()
    finally:
        server.remove()
