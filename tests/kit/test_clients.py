"""The kit's typed clients over real gRPC: the caller's deadline reaches the downstream call, and
methods the contract marks idempotent are retried on UNAVAILABLE (bounded by the deadline) while
others are not. The downstream servers are plain grpclib servers that fail on purpose."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2, settings_grpc, settings_pb2
from services.kit import ServiceHost, ServiceIdentity, ServiceSpec
from services.kit.auth import TokenService
from services.kit.clients import RetryPolicy, channel, client, is_idempotent
from services.kit.keys import generate

REQUEST = settings_pb2.GetMeetingSettingsRequest(name="meetings/m1")


class FlakySettings(settings_grpc.MeetingSettingsServiceBase):
    """Fails the first ``failures`` calls with UNAVAILABLE; records what each call saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.remaining: list[float | None] = []

    async def GetMeetingSettings(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        self.calls += 1
        self.remaining.append(stream.deadline.time_remaining() if stream.deadline else None)
        if self.calls <= self.failures:
            raise GRPCError(Status.UNAVAILABLE, "down for a moment")
        await stream.send_message(settings_pb2.GetMeetingSettingsResponse())


class FlakyRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self) -> None:
        self.calls = 0

    async def CreateRecording(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        self.calls += 1
        raise GRPCError(Status.UNAVAILABLE, "down")

    async def SetRecordingRenditions(self, stream: Stream[Any, Any]) -> None:
        raise GRPCError(Status.UNIMPLEMENTED, "not used here")


async def _serve(*handlers: Any) -> AsyncIterator[int]:
    server = Server(list(handlers))
    await server.start("127.0.0.1", 0)
    try:
        yield server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def flaky() -> FlakySettings:
    return FlakySettings(failures=2)


@pytest.fixture
async def port(flaky: FlakySettings) -> AsyncIterator[int]:
    async for p in _serve(flaky, FlakyRegistry()):
        yield p


def test_the_contract_marks_reads_idempotent_and_writes_not() -> None:
    assert is_idempotent("/meetmesh.meeting.internal.v1.MeetingSettingsService/GetMeetingSettings")
    assert is_idempotent("/meetmesh.user.v1.UserService/GetUser")
    assert not is_idempotent("/meetmesh.meeting.internal.v1.RecordingRegistryService/CreateRecording")
    assert not is_idempotent("/meetmesh.user.v1.UserService/Login")


async def test_an_idempotent_call_is_retried_until_the_server_answers(
    flaky: FlakySettings, port: int
) -> None:
    ch = channel(f"127.0.0.1:{port}")
    try:
        stub = client(
            settings_grpc.MeetingSettingsServiceStub, ch, RetryPolicy(attempts=4, initial_backoff_s=0.01)
        )
        await stub.GetMeetingSettings(REQUEST, timeout=5)
        assert flaky.calls == 3  # two UNAVAILABLE, then the answer

        flaky.calls, flaky.failures = 0, 10
        with pytest.raises(GRPCError) as failed:
            await stub.GetMeetingSettings(REQUEST, timeout=5)
        assert failed.value.status is Status.UNAVAILABLE
        assert flaky.calls == 4  # the policy's attempts, then the last error

        # Bounded by the deadline: retries stop before it, and no call outlives it.
        flaky.calls, flaky.remaining = 0, []
        slow = client(
            settings_grpc.MeetingSettingsServiceStub, ch, RetryPolicy(attempts=100, initial_backoff_s=0.05)
        )
        started = time.monotonic()
        # The last answer is UNAVAILABLE when the retries stop first; when the deadline passes
        # during an attempt (a slow machine), grpclib's client ends that attempt with TimeoutError.
        with pytest.raises((GRPCError, TimeoutError)):
            await slow.GetMeetingSettings(REQUEST, timeout=0.5)
        assert time.monotonic() - started < 0.5 + 0.3
        assert 1 < flaky.calls < 100
        assert all(r is not None and r <= 0.5 for r in flaky.remaining)
    finally:
        ch.close()


async def test_a_call_with_side_effects_is_not_retried(port: int) -> None:
    registry = FlakyRegistry()
    async for other in _serve(registry):
        ch = channel(f"127.0.0.1:{other}")
        try:
            stub = client(recordings_grpc.RecordingRegistryServiceStub, ch)
            with pytest.raises(GRPCError):
                await stub.CreateRecording(recordings_pb2.CreateRecordingRequest(), timeout=5)
            assert registry.calls == 1
        finally:
            ch.close()


class Relay(settings_grpc.MeetingSettingsServiceBase):
    """A service that calls another while serving (as media calls meeting)."""

    def __init__(self, downstream: settings_grpc.MeetingSettingsServiceStub) -> None:
        self.downstream = downstream

    async def GetMeetingSettings(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        await stream.send_message(await self.downstream.GetMeetingSettings(request))


async def test_a_downstream_call_carries_what_is_left_of_the_callers_deadline(port: int) -> None:
    inner = FlakySettings(failures=0)
    tokens = TokenService(generate(), service_key=generate())
    async for inner_port in _serve(inner):
        downstream = channel(f"127.0.0.1:{inner_port}")
        relay = Relay(client(settings_grpc.MeetingSettingsServiceStub, downstream))
        host = ServiceHost(ServiceSpec(name="relay", handlers=[relay]), tokens, shutdown_grace_s=1.0)
        await host.start()
        media = ServiceIdentity(tokens, "media")
        caller = channel(f"127.0.0.1:{host.grpc_port}", media)
        try:
            stub = settings_grpc.MeetingSettingsServiceStub(caller)
            await stub.GetMeetingSettings(REQUEST, timeout=2.0)
            (seen,) = inner.remaining
            assert seen is not None and 0 < seen < 2.0  # the relay passed its own deadline on
            await stub.GetMeetingSettings(REQUEST)
            assert inner.remaining[-1] is None  # no deadline upstream: none downstream
        finally:
            caller.close()
            downstream.close()
            await host.stop()
