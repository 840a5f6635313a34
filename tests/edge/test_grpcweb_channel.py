"""``meetmesh_sdk.grpcweb.GrpcWebChannel`` under generated grpclib stubs, through the edge to the
test-only echo service: unary, a server stream read to its end, a stream failing midway, status
details decoded as over native gRPC, and an edge that is not there."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh_sdk.grpcweb import GrpcWebChannel
from services.stack.servers import free_port
from tests.edge.conftest import EdgeStack


async def test_stubs_over_grpc_web(stack: EdgeStack) -> None:
    from meetmesh.edgetest.v1 import echo_grpc, echo_pb2

    channel = GrpcWebChannel(stack.url)
    stub = echo_grpc.EchoServiceStub(channel)
    try:
        reply = await stub.Echo(echo_pb2.EchoRequest(parent="rooms/a", note=echo_pb2.Note(text="hé")))
        assert reply.note.text == "hé"

        counted = []
        async with stub.Count.open() as stream:
            await stream.send_message(echo_pb2.CountRequest(parent="rooms/a", count=5), end=True)
            async for message in stream:
                counted.append(message.n)
        assert counted == [1, 2, 3, 4, 5]

        got: list[int] = []

        async def count_to_five_failing_after_two() -> None:
            async with stub.Count.open() as stream:
                await stream.send_message(
                    echo_pb2.CountRequest(parent="rooms/a", count=5, fail_after=2), end=True
                )
                async for message in stream:
                    got.append(message.n)

        with pytest.raises(GRPCError) as err:
            await count_to_five_failing_after_two()
        assert got == [1, 2]
        assert err.value.status is Status.ABORTED and err.value.message == "stopped after 2"

        with pytest.raises(GRPCError) as err:
            await stub.Fail(echo_pb2.FailRequest(code=Status.INVALID_ARGUMENT.value, message="no good"))
        assert err.value.status is Status.INVALID_ARGUMENT
        assert any(isinstance(d, error_details_pb2.BadRequest) for d in err.value.details or [])
    finally:
        await channel.aclose()


async def test_no_edge_is_unavailable() -> None:
    from meetmesh.edgetest.v1 import echo_grpc, echo_pb2

    channel = GrpcWebChannel(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(GRPCError) as err:
            await echo_grpc.EchoServiceStub(channel).Echo(echo_pb2.EchoRequest(parent="rooms/a"))
        assert err.value.status is Status.UNAVAILABLE
    finally:
        await channel.aclose()
