"""The kit's server host, over real connections: health, reflection, metrics, limits, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1 import health_grpc, health_pb2
from grpclib.reflection.v1 import reflection_grpc as reflection_v1_grpc
from grpclib.reflection.v1 import reflection_pb2 as reflection_v1_pb2
from grpclib.reflection.v1alpha import reflection_grpc, reflection_pb2

from meetmesh.user.v1 import user_pb2
from services.kit import ServiceHost
from services.kit.logs import JsonFormatter, RedactingFilter
from services.registry import factory
from tests.support import Platform, error_info, wait_until


async def test_health_reflection_and_http_side_port(platform: Platform) -> None:
    host = platform.hosts["user"]
    channel = platform.channel("user")
    health = await health_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_grpc.ServerReflectionStub(channel)
    async with stub.ServerReflectionInfo.open() as stream:
        await stream.send_message(reflection_pb2.ServerReflectionRequest(list_services=""), end=True)
        reply = await stream.recv_message()
    assert reply is not None
    assert "meetmesh.user.v1.UserService" in {s.name for s in reply.list_services_response.service}
    await platform.client()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.http_port}") as http:
        ok = await http.get("/healthz")
        assert ok.status_code == 200 and ok.json() == {"status": "ok", "service": "user", "pid": os.getpid()}
        metrics = (await http.get("/metrics")).text
        assert (
            'grpc_server_handled_total{grpc_code="OK",grpc_method="Register",'
            'grpc_service="meetmesh.user.v1.UserService",grpc_type="unary"} 1.0'
        ) in metrics
        assert "grpc_server_handling_seconds_bucket" in metrics
        jwks = (await http.get("/.well-known/jwks.json")).json()
        assert jwks["keys"][0]["kid"] == platform.runtime.tokens.key.kid


@pytest.mark.parametrize("service", ["user", "meeting"])
async def test_reflection_v1_is_anonymous_like_v1alpha(platform: Platform, service: str) -> None:
    """Standard tools (grpcurl, buf curl, grpcio) ask v1 first (issue 11: it needed a token)."""
    stub = reflection_v1_grpc.ServerReflectionStub(platform.channel(service))
    async with stub.ServerReflectionInfo.open() as stream:
        await stream.send_message(reflection_v1_pb2.ServerReflectionRequest(list_services=""), end=True)
        reply = await stream.recv_message()
    assert reply is not None
    names = {s.name for s in reply.list_services_response.service}
    assert f"meetmesh.{service}.v1.{service.capitalize()}Service" in names


async def test_grpc_health_follows_readiness_like_healthz(platform: Platform) -> None:
    """gRPC health said SERVING while /healthz said 503 (issue 11); both now run the same checks."""
    ready = asyncio.Event()

    async def dependency() -> None:
        if not ready.is_set():
            raise ConnectionError("the dependency is down")

    spec = await factory("user")(platform.runtime)
    spec.readiness = [*spec.readiness, dependency]
    host = ServiceHost(spec, platform.runtime.tokens, shutdown_grace_s=1.0)
    await host.start()
    channel = Channel("127.0.0.1", host.grpc_port)
    health = health_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{host.http_port}") as http:
            for name in ("", "meetmesh.user.v1.UserService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await http.get("/healthz")).status_code == 503
            ready.set()

            async def grpc_serving() -> bool:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
                return reply.status == serving

            await wait_until(grpc_serving, within_s=5)
            assert (await http.get("/healthz")).status_code == 200
    finally:
        channel.close()
        await host.stop()


async def _raw_unary(port: int, path: str, payload: bytes) -> GRPCError:
    """Send raw bytes as a request message (what a broken or hostile client might do)."""
    from grpclib.const import Cardinality
    from grpclib.encoding.base import CodecBase
    from grpclib.encoding.proto import ProtoStatusDetailsCodec

    class Raw(CodecBase):
        __content_subtype__ = "proto"

        def encode(self, message: bytes, message_type: object) -> bytes:
            return message

        def decode(self, data: bytes, message_type: object) -> bytes:
            return data

    raw = Channel("127.0.0.1", port, codec=Raw(), status_details_codec=ProtoStatusDetailsCodec())

    async def call() -> None:
        async with raw.request(path, Cardinality.UNARY_UNARY, bytes, bytes) as stream:
            await stream.send_message(payload, end=True)
            await stream.recv_message()

    try:
        with pytest.raises(GRPCError) as err:
            await call()
        return err.value
    finally:
        raw.close()


async def test_garbage_and_oversized_messages_are_refused_cleanly(platform: Platform) -> None:
    port = platform.hosts["user"].grpc_port
    garbage = await _raw_unary(port, "/meetmesh.user.v1.UserService/Register", b"\xff\xff\xff\xff\x0f")
    assert garbage.status == Status.INVALID_ARGUMENT
    big = user_pb2.RegisterRequest(
        email="a@example.test",
        password="x" * 20,
        display_name="y" * (platform.settings.max_message_bytes + 10),
    ).SerializeToString()
    oversized = await _raw_unary(port, "/meetmesh.user.v1.UserService/Register", big)
    assert oversized.status == Status.RESOURCE_EXHAUSTED
    assert error_info(oversized).reason == "PAYLOAD_TOO_LARGE"
    # The service is still serving.
    assert (await platform.client()).tokens.access_token


async def test_graceful_shutdown_finishes_in_flight_calls(platform: Platform) -> None:
    client = await platform.client()
    call = asyncio.create_task(
        platform.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=client.metadata)
    )
    await asyncio.sleep(0)  # let the call start before the stop begins
    host = platform.hosts["user"]
    await host.stop()
    reply = await call
    assert reply.user.name == client.user.name
    platform.hosts.pop("user")
    platform.channels.pop("user").close()
    fresh = Channel("127.0.0.1", host.grpc_port)
    try:
        with pytest.raises((ConnectionError, OSError, GRPCError)):
            await health_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=2)
    finally:
        fresh.close()


def test_logs_never_carry_emails_or_tokens() -> None:
    record = logging.LogRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "user %s logged in with Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
        ("ada@example.com",),
        None,
    )
    record.note = "contact bob@example.org"
    assert RedactingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert "example.com" not in line["msg"] and "eyJ" not in line["msg"]
    assert line["msg"] == "user [email] logged in with Bearer [token]"
    assert line["note"] == "contact [email]"
