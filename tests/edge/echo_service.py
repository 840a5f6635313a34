"""The test-only echo service (a real grpclib server), imported after `harness.compile_echo`."""

from __future__ import annotations

import asyncio

from google.rpc import error_details_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

from meetmesh.edgetest.v1 import echo_grpc, echo_pb2  # compiled by harness.compile_echo


def _bad_request(message: str) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="code", description=message)]
    )


class EchoService(echo_grpc.EchoServiceBase):
    async def Echo(self, stream: Stream[echo_pb2.EchoRequest, echo_pb2.EchoResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await stream.send_initial_metadata(metadata={"x-echo-initial": "hello", "x-echo-bin": b"\x00\xff"})
        seen = {k: v for k, v in stream.metadata.items() if isinstance(v, str)}
        seen.update({k: v.hex() for k, v in stream.metadata.items() if isinstance(v, bytes)})
        remaining = stream.deadline.time_remaining() if stream.deadline else 0.0
        await stream.send_message(
            echo_pb2.EchoResponse(
                parent=request.parent,
                note=request.note,
                metadata=seen,
                timeout_seconds=remaining,
                repeat=request.repeat,
                mask=request.mask,
            )
        )
        await stream.send_trailing_metadata(metadata={"x-echo-trailing": "bye"})

    async def GetNote(self, stream: Stream[echo_pb2.EchoRequest, echo_pb2.EchoResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await stream.send_message(echo_pb2.EchoResponse(parent=request.parent, note=request.note))

    async def Count(self, stream: Stream[echo_pb2.CountRequest, echo_pb2.CountResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        for n in range(1, request.count + 1):
            if request.fail_after and n > request.fail_after:
                raise GRPCError(Status.ABORTED, f"stopped after {request.fail_after}")
            await stream.send_message(echo_pb2.CountResponse(n=n))

    async def Fail(self, stream: Stream[echo_pb2.FailRequest, echo_pb2.FailResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        if request.delay_ms:
            await asyncio.sleep(request.delay_ms / 1000)
        if request.code:
            raise GRPCError(Status(request.code), request.message, [_bad_request(request.message)])
        await stream.send_message(echo_pb2.FailResponse())

    async def WhoAmI(self, stream: Stream[echo_pb2.WhoAmIRequest, echo_pb2.WhoAmIResponse]) -> None:
        await stream.recv_message()
        await stream.send_message(
            echo_pb2.WhoAmIResponse(authorization=str(stream.metadata.get("authorization", "")))
        )


async def start_echo(port: int = 0) -> tuple[Server, int]:
    server = Server([EchoService()])
    await server.start("127.0.0.1", port)
    sockets = server._server.sockets if server._server else []  # grpclib keeps the asyncio server here
    return server, int(sockets[0].getsockname()[1])


async def _serve_forever(port: int) -> None:
    await start_echo(port)
    await asyncio.Event().wait()


if __name__ == "__main__":  # `python -m tests.edge.echo_service PORT`: a process the tests can kill
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1])))
