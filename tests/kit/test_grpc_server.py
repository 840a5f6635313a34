"""The kit's gRPC server (services/kit/grpc_server.py) over real loopback connections: grpclib's
client against it for every kind of call, and a raw HTTP/2 client (the ``h2`` library) for what
grpclib's client never sends (requests that are not gRPC, resets, stream floods)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from google.protobuf import wrappers_pb2
from grpclib.client import Channel
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoCodec, ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError, StreamTerminatedError

from services.kit.grpc_h2 import (
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    frame,
    literal,
)
from services.kit.grpc_server import GrpcServer

S = wrappers_pb2.StringValue


async def until(condition: Any, within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling the server's state
            await asyncio.sleep(0.01)


class Probe:
    """A service of one method per kind of call; it records what its handlers saw."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.metadata: dict[str, Any] = {}
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def unary(self, stream: Any) -> None:
        request = await stream.recv_message()
        self.metadata = dict(stream.metadata)
        await stream.send_message(S(value=request.value.upper()))

    async def big(self, stream: Any) -> None:
        request = await stream.recv_message()
        await stream.send_message(S(value=request.value[::-1]))

    async def slow(self, stream: Any) -> None:
        await stream.recv_message()
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append("slow")
            raise
        await stream.send_message(S(value="done"))

    async def fail(self, stream: Any) -> None:
        await stream.recv_message()
        raise GRPCError(Status.FAILED_PRECONDITION, "not now: ünïcode % and spaces", None)

    async def crash(self, stream: Any) -> None:
        await stream.recv_message()
        raise RuntimeError("a bug")

    async def silent(self, stream: Any) -> None:
        await stream.recv_message()

    async def meta(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_initial_metadata(metadata={"x-initial": "yes", "x-raw-bin": b"\x00\xff"})
        await stream.send_message(S(value="m"))
        await stream.send_trailing_metadata(metadata={"x-trailing": "done"})

    async def count(self, stream: Any) -> None:
        request = await stream.recv_message()
        for i in range(int(request.value)):
            await stream.send_message(S(value=str(i)))

    async def watch(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(S(value="first"))
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append("watch")
            raise

    async def chat(self, stream: Any) -> None:
        async for message in stream:
            await stream.send_message(S(value=f"echo {message.value}"))
        await stream.send_message(S(value="bye"))

    async def greet(self, stream: Any) -> None:
        message = await stream.recv_message()
        await stream.send_message(S(value=f"hello {message.value}"))  # and ends, the client's side open

    def __mapping__(self) -> dict[str, Handler]:
        uu, us, ss = Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM, Cardinality.STREAM_STREAM
        kinds = {
            "Unary": (self.unary, uu),
            "Big": (self.big, uu),
            "Slow": (self.slow, uu),
            "Fail": (self.fail, uu),
            "Crash": (self.crash, uu),
            "Silent": (self.silent, uu),
            "Meta": (self.meta, uu),
            "Count": (self.count, us),
            "Watch": (self.watch, us),
            "Chat": (self.chat, ss),
            "Greet": (self.greet, ss),
        }
        return {f"/test.Probe/{name}": Handler(func, kind, S, S) for name, (func, kind) in kinds.items()}


@pytest.fixture
async def probe() -> AsyncIterator[tuple[Probe, GrpcServer, Channel]]:
    service = Probe()
    server = GrpcServer([service], codec=ProtoCodec(), status_details_codec=ProtoStatusDetailsCodec())
    await server.start("127.0.0.1", 0)
    channel = Channel("127.0.0.1", server.port)
    try:
        yield service, server, channel
    finally:
        channel.close()
        if not server.closing:
            server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        server.close_connections()


async def call(channel: Channel, name: str, value: str = "", **kwargs: Any) -> S:
    async with channel.request(f"/test.Probe/{name}", Cardinality.UNARY_UNARY, S, S, **kwargs) as stream:
        await stream.send_message(S(value=value), end=True)
        reply = await stream.recv_message()
        assert reply is not None
        return reply


async def test_unary_calls_answer_and_carry_metadata(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    service, _, channel = probe
    replies = await asyncio.gather(
        *(
            call(channel, "Unary", f"v{i}", metadata={"x-id": str(i), "x-blob-bin": b"\x01\x02"})
            for i in range(50)
        )
    )
    assert [r.value for r in replies] == [f"V{i}" for i in range(50)]
    assert service.metadata["x-blob-bin"] == b"\x01\x02"
    assert "te" not in service.metadata and "content-type" not in service.metadata


async def test_messages_larger_than_the_windows_cross_both_ways(
    probe: tuple[Probe, GrpcServer, Channel],
) -> None:
    _, _, channel = probe
    text = "".join(chr(ord("a") + i % 26) for i in range(3_000_000))  # past the 64 KiB default windows
    replies = await asyncio.gather(*(call(channel, "Big", text) for _ in range(3)))
    assert [len(r.value) for r in replies] == [len(text)] * 3
    assert all(r.value == text[::-1] for r in replies), "a large message came back changed"


async def test_initial_and_trailing_metadata(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    _, _, channel = probe
    async with channel.request("/test.Probe/Meta", Cardinality.UNARY_UNARY, S, S) as stream:
        await stream.send_message(S(), end=True)
        await stream.recv_initial_metadata()
        assert stream.initial_metadata is not None
        assert stream.initial_metadata["x-initial"] == "yes"
        assert stream.initial_metadata["x-raw-bin"] == b"\x00\xff"
        assert (await stream.recv_message()) == S(value="m")
        await stream.recv_trailing_metadata()
        assert stream.trailing_metadata is not None
        assert stream.trailing_metadata["x-trailing"] == "done"


async def test_errors_become_statuses(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    _, _, channel = probe
    with pytest.raises(GRPCError) as failed:
        await call(channel, "Fail")
    assert failed.value.status is Status.FAILED_PRECONDITION
    assert failed.value.message == "not now: ünïcode % and spaces"
    with pytest.raises(GRPCError) as crashed:
        await call(channel, "Crash")
    assert crashed.value.status is Status.UNKNOWN and crashed.value.message == "Internal Server Error"
    with pytest.raises(GRPCError) as silent:
        await call(channel, "Silent")
    assert silent.value.status is Status.UNKNOWN
    with pytest.raises(GRPCError) as missing:
        await call(channel, "Nothing")
    assert missing.value.status is Status.UNIMPLEMENTED and missing.value.message == "Method not found"
    # the connection is still good
    assert (await call(channel, "Unary", "ok")).value == "OK"


async def test_streaming_calls(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    _, _, channel = probe
    async with channel.request("/test.Probe/Count", Cardinality.UNARY_STREAM, S, S) as stream:
        await stream.send_message(S(value="200"), end=True)
        got = [m.value async for m in stream]
    assert got == [str(i) for i in range(200)]
    async with channel.request("/test.Probe/Chat", Cardinality.STREAM_STREAM, S, S) as stream:
        for word in ("a", "b", "c"):
            await stream.send_message(S(value=word))
            assert (await stream.recv_message()) == S(value=f"echo {word}")
        await stream.end()
        assert (await stream.recv_message()) == S(value="bye")
        assert (await stream.recv_message()) is None
    # The server ends a call while the client's side is still open: the answer and the OK status
    # arrive whole (a reset after them would make grpclib's client drop the call).
    async with channel.request("/test.Probe/Greet", Cardinality.STREAM_STREAM, S, S) as stream:
        await stream.send_message(S(value="you"))
        assert (await stream.recv_message()) == S(value="hello you")
        assert (await stream.recv_message()) is None
        await stream.end()
        await stream.recv_trailing_metadata()


async def test_the_deadline_cancels_the_handler(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    service, server, _ = probe
    raw = await Raw.open(server.port)  # grpclib's client would end the call itself at the deadline
    try:
        answer = await raw.request(_grpc("/test.Probe/Slow", **{"grpc-timeout": "200m"}), _message(""))
    finally:
        raw.close()
    assert answer["grpc-status"] == str(Status.DEADLINE_EXCEEDED.value)
    assert service.cancelled == ["slow"]


async def test_a_client_reset_cancels_the_handler(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    service, server, channel = probe
    async with channel.request("/test.Probe/Slow", Cardinality.UNARY_UNARY, S, S) as stream:
        await stream.send_message(S(), end=True)
        await asyncio.wait_for(service.started.wait(), 5)
        await stream.cancel()
    await until(lambda: service.cancelled == ["slow"] and not server.calls)
    assert (await call(channel, "Unary", "after")).value == "AFTER"


async def test_close_lets_unary_calls_finish_and_ends_streams(
    probe: tuple[Probe, GrpcServer, Channel],
) -> None:
    service, server, channel = probe
    unary = asyncio.create_task(call(channel, "Slow"))
    await asyncio.wait_for(service.started.wait(), 5)
    service.started.clear()

    async def watch() -> None:
        async with channel.request("/test.Probe/Watch", Cardinality.UNARY_STREAM, S, S) as stream:
            await stream.send_message(S(), end=True)
            assert (await stream.recv_message()) == S(value="first")
            server.close()
            assert (await stream.recv_message()) is None

    with pytest.raises(GRPCError) as err:
        await watch()  # the status comes with the trailers, at the end of the call
    assert err.value.status is Status.UNAVAILABLE
    assert service.cancelled == ["watch"]
    assert not unary.done()
    # the open connection still takes a unary call while the server drains
    assert (await call(channel, "Unary", "late")).value == "LATE"
    service.release.set()
    assert (await unary).value == "done"
    await asyncio.wait_for(server.wait_closed(), 5)
    server.close_connections()
    fresh = Channel("127.0.0.1", server.port)
    try:
        with pytest.raises((ConnectionError, OSError, GRPCError, StreamTerminatedError)):
            await call(fresh, "Unary", "x", timeout=2)
    finally:
        fresh.close()


# -- a raw HTTP/2 client: what grpclib's client never sends -------------------------------------


class Raw:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.h2.initiate_connection()
        self.flush()

    @classmethod
    async def open(cls, port: int) -> Raw:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    async def events(self, until: type) -> list[Any]:
        seen: list[Any] = []
        while not any(isinstance(e, until) for e in seen):
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                break
            seen += self.h2.receive_data(data)
            self.flush()
        return seen

    async def request(self, headers: list[tuple[str, str]], body: bytes = b"") -> dict[str, str]:
        """One request, its body sent as the server's windows allow (like any client); the
        answer's headers and trailers."""
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, headers, end_stream=not body)
        self.flush()
        seen: list[Any] = []
        sent = 0
        while sent < len(body):
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room == 0:
                seen += await self.events(h2.events.WindowUpdated)
                continue
            chunk = body[sent : sent + room]
            sent += len(chunk)
            self.h2.send_data(sid, chunk, end_stream=sent == len(body))
            self.flush()
            await self.writer.drain()
        if not any(isinstance(e, h2.events.StreamEnded) for e in seen):
            seen += await self.events(h2.events.StreamEnded)
        answer: dict[str, str] = {}
        for event in seen:
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                answer.update(dict(event.headers))
        return answer

    def close(self) -> None:
        self.writer.close()


def _grpc(path: str = "/test.Probe/Unary", **changes: str | None) -> list[tuple[str, str]]:
    fields = {
        ":method": "POST",
        ":scheme": "http",
        ":path": path,
        ":authority": "test",
        "content-type": "application/grpc",
        "te": "trailers",
    }
    fields.update(changes)  # type: ignore[arg-type]
    return [(k, v) for k, v in fields.items() if v is not None]


def _message(value: str) -> bytes:
    data = S(value=value).SerializeToString()
    return struct.pack(">?I", False, len(data)) + data


async def test_requests_that_are_not_grpc_get_grpclibs_answers(
    probe: tuple[Probe, GrpcServer, Channel],
) -> None:
    _, server, _ = probe
    raw = await Raw.open(server.port)
    try:
        assert (await raw.request(_grpc(**{":method": "GET"})))[":status"] == "405"
        missing = await raw.request(_grpc(**{"content-type": None}))
        assert missing[":status"] == "415" and missing["grpc-message"] == "Missing content-type header"
        other = await raw.request(_grpc(**{"content-type": "application/json"}))
        assert other[":status"] == "415" and other["grpc-status"] == str(Status.UNKNOWN.value)
        no_te = await raw.request(_grpc(te=None))
        assert no_te[":status"] == "400"
        bad_timeout = await raw.request(_grpc(**{"grpc-timeout": "soon"}), _message("x"))
        assert bad_timeout["grpc-message"] == "Invalid grpc-timeout header"
        compressed = await raw.request(_grpc(), b"\x01" + _message("x")[1:])
        assert compressed["grpc-status"] == str(Status.INTERNAL.value)
        cut = await raw.request(_grpc(), _message("hello")[:-2])
        assert cut["grpc-status"] == str(Status.INTERNAL.value)
        ok = await raw.request(_grpc(**{"content-type": "application/grpc+proto"}), _message("fine"))
        assert ok["grpc-status"] == "0" and ok["content-type"] == "application/grpc+proto"
    finally:
        raw.close()


async def test_streams_past_the_limit_are_refused(probe: tuple[Probe, GrpcServer, Channel]) -> None:
    service, server, _ = probe
    limit = server.limits.max_streams
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # written by hand: h2's client keeps to the server's MAX_CONCURRENT_STREAMS; this one does not
        out = [PREFACE, frame(SETTINGS, 0, 0)]
        block = b"".join(literal(k.encode(), v.encode(), b"\x00") for k, v in _grpc("/test.Probe/Slow"))
        for i in range(limit + 5):
            out += [
                frame(HEADERS, END_HEADERS, 2 * i + 1, block),
                frame(DATA, END_STREAM, 2 * i + 1, _message("")),
            ]
        writer.write(b"".join(out))
        refused: list[int] = []
        buffer = b""
        async with asyncio.timeout(5):
            while len(refused) < 5:
                buffer += await reader.read(65536)
                while len(buffer) >= 9 and len(buffer) >= 9 + (int.from_bytes(buffer[:3], "big")):
                    length, kind = int.from_bytes(buffer[:3], "big"), buffer[3]
                    payload, buffer = buffer[9 : 9 + length], buffer[9 + length :]
                    if kind == RST_STREAM:
                        refused.append(int.from_bytes(payload, "big"))
        assert refused == [0x7] * 5  # REFUSED_STREAM
        await until(lambda: len(server.calls) == limit)
    finally:
        service.release.set()
        writer.close()


async def test_an_oversized_message_is_refused_from_its_length_and_never_gathered() -> None:
    """With ``max_message_bytes``, a request message whose length prefix is over the limit is
    refused RESOURCE_EXHAUSTED, and its bytes are dropped as they come rather than gathered: a
    prefix claiming a gigabyte that ends early is refused for its size (not for ending inside a
    message), and 6 MiB really sent (past the 4 MiB stream window, so the server must give the
    window back while dropping) leave the server holding well under the message's size."""
    import tracemalloc

    service = Probe()
    limit = 64 * 1024
    server = GrpcServer(
        [service],
        codec=ProtoCodec(),
        status_details_codec=ProtoStatusDetailsCodec(),
        max_message_bytes=limit,
    )
    await server.start("127.0.0.1", 0)
    raw = await Raw.open(server.port)
    channel = Channel("127.0.0.1", server.port)
    try:
        claims_a_gigabyte = struct.pack(">?I", False, 1 << 30) + bytes(100_000)
        answer = await raw.request(_grpc(), claims_a_gigabyte)
        assert answer["grpc-status"] == str(Status.RESOURCE_EXHAUSTED.value)
        assert str(1 << 30) in answer["grpc-message"]

        body = struct.pack(">?I", False, 6 << 20) + bytes(6 << 20)
        tracemalloc.start()
        try:
            answer = await raw.request(_grpc(), body)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert answer["grpc-status"] == str(Status.RESOURCE_EXHAUSTED.value)
        assert peak < 3 << 20, f"{peak} bytes traced while a 6 MiB message was refused"
        assert await call(channel, "Unary", "still") == S(value="STILL")
    finally:
        channel.close()
        raw.close()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        server.close_connections()
