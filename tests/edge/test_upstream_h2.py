"""The edge's own HTTP/2 client for upstream calls (``services/kit/grpc_h2.py``, used by
``Upstreams``), against a real grpclib server over TCP: messages and metadata pass through intact
(`-bin` values, a header list past one frame, messages past every flow-control window), statuses
and details come back as grpclib's client gave them, replies that nobody reads hold the upstream
back, deadlines and callers that go away reset the stream at the server, many calls share one
connection, and a server that goes away or restarts is handled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.base import CodecBase, StatusDetailsCodecBase
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import StreamEnded

from services.edge.status import RpcStatus
from services.edge.upstream import Upstreams
from services.kit import grpc_h2
from services.kit.grpc_h2 import STREAM_WINDOW
from services.stack.servers import free_port
from tests.edge.harness import RecordedWrites
from tests.support import wait_until

BIG = 6 << 20  # past the server's 4 MiB windows and this client's


class Raw(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return message  # type: ignore[no-any-return]

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


class RawDetails(StatusDetailsCodecBase):
    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        return details  # type: ignore[no-any-return]

    def decode(self, status: Status, message: str | None, data: bytes) -> Any:
        return data


@dataclass
class Service:
    """Methods on message bytes; it notes what it saw."""

    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0  # messages the streaming method got out
    hanging: int = 0  # Hang calls under way
    served: int = 0  # Hang calls begun, in all
    metadata: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None  # seconds left of the last Echo's deadline, as the server saw it

    async def echo(self, stream: Stream[bytes, bytes]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self.metadata = dict(stream.metadata or {})
        self.deadline = stream.deadline.time_remaining() if stream.deadline else None
        initial: dict[str, str | bytes] = {"x-initial": "first", "x-initial-bin": b"\x00\xff"}
        await stream.send_initial_metadata(metadata=initial)
        await stream.send_message(request)
        await stream.send_trailing_metadata(metadata={"x-trailing": "last"})

    async def big(self, stream: Stream[bytes, bytes]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await stream.send_message(request[::-1] + b"!")

    async def count(self, stream: Stream[bytes, bytes]) -> None:
        request = await stream.recv_message()
        assert request is not None
        size, times = (int(x) for x in request.split(b","))
        try:
            for i in range(times):
                await stream.send_message(i.to_bytes(4, "big") * (size // 4))
                self.sent += 1
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def fail(self, stream: Stream[bytes, bytes]) -> None:
        await stream.recv_message()
        raise GRPCError(Status.FAILED_PRECONDITION, "not now: ünïcode % 100", b"\x08\x09details")

    async def hang(self, stream: Stream[bytes, bytes]) -> None:
        await stream.recv_message()
        await stream.send_initial_metadata()
        self.entered.set()
        self.hanging += 1
        self.served += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.hanging -= 1

    def __mapping__(self) -> dict[str, Handler]:
        unary, streaming = Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM
        return {
            "/t.T/Echo": Handler(self.echo, unary, bytes, bytes),
            "/t.T/Big": Handler(self.big, unary, bytes, bytes),
            "/t.T/Count": Handler(self.count, streaming, bytes, bytes),
            "/t.T/Fail": Handler(self.fail, unary, bytes, bytes),
            "/t.T/Hang": Handler(self.hang, unary, bytes, bytes),
        }


@dataclass
class Rpc:
    path: str
    server_streaming: bool = False
    service: str = "t"


class Running:
    def __init__(self, service: Service, port: int) -> None:
        self.service, self.port = service, port
        self.server: Server | None = None

    async def start(self) -> None:
        self.server = Server([self.service], codec=Raw(), status_details_codec=RawDetails())
        await self.server.start("127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    server = Running(Service(), free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def upstreams(running: Running, pool_size: int = 1) -> Upstreams:
    return Upstreams({"t": f"127.0.0.1:{running.port}"}, pool_size)


async def call(
    ups: Upstreams,
    path: str,
    payload: bytes,
    metadata: Any = (),
    deadline_s: float | None = None,
    *,
    announce: bool = True,
) -> tuple[Any, list[bytes], RpcStatus]:
    initial, messages, status = None, [], None
    rpc: Any = Rpc(path, server_streaming=path.endswith("Count"))
    async for event in ups.call(rpc, payload, list(metadata), deadline_s, announce=announce):
        if isinstance(event, RpcStatus):
            status = event
        elif isinstance(event, list):
            initial = event
        else:
            messages.append(event)
    assert status is not None
    return initial, messages, status


async def test_messages_and_metadata_pass_through(running: Running) -> None:
    ups = upstreams(running)
    try:
        big_value = "v" * 20_000  # the header list needs CONTINUATION frames (16 KiB frames)
        metadata = [("x-plain", "a b"), ("x-raw-bin", b"\x00\x01\xfe"), ("x-big", big_value)]
        for payload in (b"hello", b""):
            initial, messages, status = await call(ups, "/t.T/Echo", payload, metadata, 5.0)
            assert status.code is Status.OK, status
            assert messages == [payload]
            assert initial == [("x-initial", "first"), ("x-initial-bin", b"\x00\xff")]
            assert status.trailers == [("x-trailing", "last")]
        seen = running.service.metadata
        assert (seen["x-plain"], seen["x-raw-bin"], seen["x-big"]) == ("a b", b"\x00\x01\xfe", big_value)
    finally:
        ups.close()


async def test_messages_past_every_window_arrive_whole(running: Running) -> None:
    ups = upstreams(running)
    try:
        payload = os.urandom(BIG)
        _, messages, status = await call(ups, "/t.T/Big", payload)
        assert status.code is Status.OK, status
        assert messages == [payload[::-1] + b"!"]
    finally:
        ups.close()


async def test_errors_come_back_as_the_server_said_them(running: Running) -> None:
    ups = upstreams(running)
    try:
        initial, messages, status = await call(ups, "/t.T/Fail", b"x")
        assert (status.code, status.message) == (Status.FAILED_PRECONDITION, "not now: ünïcode % 100")
        assert status.details_bin == b"\x08\x09details"
        assert messages == [] and initial == []  # a trailers-only answer
        _, _, unknown = await call(ups, "/t.T/Nope", b"x")
        assert unknown.code is Status.UNIMPLEMENTED
        _, messages, ok = await call(ups, "/t.T/Echo", b"still fine")  # the connection goes on
        assert (ok.code, messages) == (Status.OK, [b"still fine"])
    finally:
        ups.close()


async def test_a_stream_nobody_reads_holds_the_upstream_back(running: Running) -> None:
    ups = upstreams(running)
    size, times = 64 << 10, 400  # 25 MiB in all, six times the stream's window
    rpc: Any = Rpc("/t.T/Count", server_streaming=True)
    events = cast(AsyncGenerator[Any, None], ups.call(rpc, f"{size},{times}".encode(), [], None))
    try:
        assert await anext(events) == []
        first = await anext(events)
        assert first == (0).to_bytes(4, "big") * (size // 4)

        async def settled() -> int:  # the server stops sending once the window is spent
            last = -1
            while running.service.sent != last:
                last = running.service.sent
                await asyncio.sleep(0.2)
            return last

        held = await asyncio.wait_for(settled(), 10)
        # At most the stream's window (plus the server's own buffering of a message or two).
        assert held * size <= STREAM_WINDOW + 4 * size, held
        got = [first]
        async for event in events:
            if isinstance(event, RpcStatus):
                assert event.code is Status.OK, event
                break
            got.append(event)
        assert len(got) == times
        assert all(m[:4] == i.to_bytes(4, "big") for i, m in enumerate(got))
    finally:
        await events.aclose()
        ups.close()


async def test_a_deadline_or_a_caller_that_goes_away_resets_the_stream(running: Running) -> None:
    ups = upstreams(running)
    try:
        _, _, status = await asyncio.wait_for(call(ups, "/t.T/Hang", b"x", deadline_s=0.3), 5)
        assert status.code is Status.DEADLINE_EXCEEDED
        await asyncio.wait_for(running.service.cancelled.wait(), 5)

        running.service.cancelled.clear()
        rpc: Any = Rpc("/t.T/Count", server_streaming=True)
        events = cast(AsyncGenerator[Any, None], ups.call(rpc, f"{1 << 10},{1_000_000}".encode(), [], None))
        assert await anext(events) == []
        assert isinstance(await anext(events), bytes)
        await events.aclose()  # the HTTP client went away
        await asyncio.wait_for(running.service.cancelled.wait(), 5)
        _, messages, ok = await call(ups, "/t.T/Echo", b"after")
        assert (ok.code, messages) == (Status.OK, [b"after"])
    finally:
        ups.close()


async def test_a_deadline_kept_to_this_side_is_enforced_and_not_sent(running: Running) -> None:
    """The edge's own default deadline (``announce=False``, as a proxy's route timeout): the server
    sees no ``grpc-timeout``, and at the deadline the stream is reset all the same."""
    ups = upstreams(running)
    try:
        _, _, ok = await call(ups, "/t.T/Echo", b"x", deadline_s=30.0, announce=False)
        assert ok.code is Status.OK and running.service.deadline is None
        _, _, ok = await call(ups, "/t.T/Echo", b"x", deadline_s=30.0)
        assert ok.code is Status.OK and running.service.deadline is not None
        assert 0 < running.service.deadline <= 30.0
        _, _, status = await asyncio.wait_for(call(ups, "/t.T/Hang", b"x", deadline_s=0.3, announce=False), 5)
        assert status.code is Status.DEADLINE_EXCEEDED
        await asyncio.wait_for(running.service.cancelled.wait(), 5)
    finally:
        ups.close()


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(type, flags) of each HTTP/2 frame in ``data``."""
    out, at = [], 0
    while at + 9 <= len(data):
        out.append((data[at + 3], data[at + 4]))
        at += 9 + int.from_bytes(data[at : at + 3], "big")
    return out


async def test_a_unary_request_goes_out_in_one_write(running: Running) -> None:
    """HEADERS and the message's DATA (ending the stream) leave together: one send, one TLS record
    where there is TLS, one wake-up of the server."""
    ups = upstreams(running)
    try:
        await call(ups, "/t.T/Echo", b"first")  # the connection is open
        upstream = ups.upstream("t")
        connection = upstream.ready() if upstream is not None else None
        assert connection is not None
        spy = RecordedWrites(connection.transport)
        connection.transport = cast(Any, spy)
        _, messages, ok = await call(ups, "/t.T/Echo", b"one write", deadline_s=5.0)
        assert (ok.code, messages) == (Status.OK, [b"one write"])
        assert _frames(spy.writes[0]) == [
            (grpc_h2.HEADERS, grpc_h2.END_HEADERS),
            (grpc_h2.DATA, grpc_h2.END_STREAM),
        ]
    finally:
        ups.close()


async def test_many_calls_share_one_connection(running: Running) -> None:
    ups = upstreams(running, pool_size=1)
    try:
        results = await asyncio.gather(*(call(ups, "/t.T/Echo", b"%d" % i) for i in range(300)))
        assert [r[1] for r in results] == [[b"%d" % i] for i in range(300)]
        assert all(r[2].code is Status.OK for r in results)
        upstream = ups.upstream("t")
        assert upstream is not None
        assert sum(c is not None for c in upstream._slots) == 1
    finally:
        ups.close()


async def _pool_of_one(running: Running) -> tuple[Upstreams, grpc_h2.Upstream]:
    """Upstreams with a pool of one connection, opened by one call (the server's stream limit is
    known after it)."""
    ups = upstreams(running, pool_size=1)
    assert (await call(ups, "/t.T/Echo", b"settle"))[2].code is Status.OK
    upstream = ups.upstream("t")
    assert upstream is not None
    return ups, upstream


async def _hanging(ups: Upstreams, running: Running, n: int, *, begun: int) -> list[asyncio.Future[Any]]:
    """``n`` Hang calls, returned once the server has begun ``begun`` of them."""
    calls: list[asyncio.Future[Any]] = [asyncio.ensure_future(call(ups, "/t.T/Hang", b"")) for _ in range(n)]

    async def started() -> bool:
        return running.service.served == begun

    try:
        await wait_until(started, within_s=20)
    except BaseException:
        for task in calls:
            task.cancel()
        raise
    return calls


async def test_calls_past_the_pools_stream_limits_take_extra_connections(running: Running) -> None:
    """grpclib's server takes 100 streams a connection: 250 long calls through a pool of one need
    two extra connections, and all 250 are served at once; idle, the extras close."""
    ups, upstream = await _pool_of_one(running)
    try:
        upstream.extra_idle_s = 0.2
        calls = await _hanging(ups, running, 250, begun=250)
        [pooled] = [c for c in upstream._slots if c is not None]
        assert len(pooled.streams) == 100
        assert sorted(len(c.streams) for c in upstream.extra) == [50, 100]
        assert not any(c.done() for c in calls)
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

        async def extras_closed() -> bool:
            return not upstream.extra and running.service.hanging == 0

        await wait_until(extras_closed, within_s=10)
        assert not pooled.closed  # the pool's own connection stays
        assert (await call(ups, "/t.T/Echo", b"after"))[1] == [b"after"]
    finally:
        ups.close()


async def test_past_the_cap_on_extra_connections_calls_wait_for_room(running: Running) -> None:
    ups, upstream = await _pool_of_one(running)
    calls: list[asyncio.Future[Any]] = []
    try:
        upstream.max_extra = 1
        calls = await _hanging(ups, running, 230, begun=200)  # two connections full
        assert len(upstream.extra) == 1
        assert not any(c.done() for c in calls)  # the other 30 wait for room; none failed
        for task in calls[:30]:  # the first 100 went out on the pool's connection, where they wait
            task.cancel()

        async def the_rest_served() -> bool:
            return running.service.served == 230

        await wait_until(the_rest_served, within_s=20)
        assert len(upstream.extra) == 1
        assert not any(c.done() for c in calls[30:])
    finally:
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        ups.close()


async def test_a_server_that_dies_and_comes_back() -> None:
    port = free_port()
    server = _serve_elsewhere(port)
    ups = Upstreams({"t": f"127.0.0.1:{port}"}, 2)
    try:
        await _answering(ups)
        rpc: Any = Rpc("/t.T/Hang")
        hanging = cast(AsyncGenerator[Any, None], ups.call(rpc, b"x", [], None))
        assert await anext(hanging) == []  # the server has the call
        server.kill()  # the connection ends under it
        server.wait()
        lost = await asyncio.wait_for(anext(hanging), 10)
        assert (lost.code, lost.message) == (Status.UNAVAILABLE, "the connection to the service was lost")
        _, _, refused = await call(ups, "/t.T/Echo", b"2")
        assert (refused.code, refused.message) == (Status.UNAVAILABLE, "service 't' is unavailable")
        server = _serve_elsewhere(port)
        await _answering(ups)
    finally:
        ups.close()
        server.kill()
        server.wait()


def _serve_elsewhere(port: int) -> subprocess.Popen[bytes]:
    code = f"import asyncio; from tests.edge.test_upstream_h2 import serve; asyncio.run(serve({port}))"
    return subprocess.Popen([sys.executable, "-c", code])


async def _answering(ups: Upstreams) -> None:
    """Waits (10 s at most) until the server in the other process answers."""
    async with asyncio.timeout(10):
        while True:
            _, messages, status = await call(ups, "/t.T/Echo", b"ping")
            if status.code is Status.OK:
                assert messages == [b"ping"]
                return
            await asyncio.sleep(0.05)  # a process starting: polled, with the bound above


async def serve(port: int) -> None:
    """The test service, for a process of its own."""
    server = Running(Service(), port)
    await server.start()
    await asyncio.Event().wait()


class GoingAway:
    """A bare HTTP/2 server (the `h2` library): it answers the first call of each connection and,
    once a second is open, sends GOAWAY naming the first as the last it took."""

    def __init__(self) -> None:
        self.connections = 0
        self.handlers: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.handlers.add(cast(asyncio.Task[None], asyncio.current_task()))
        self.writers.append(writer)
        conn = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        answered: int | None = None
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, StreamEnded) and answered is None:
                    answered = event.stream_id
                    conn.send_headers(answered, [(":status", "200"), ("content-type", "application/grpc")])
                    conn.send_data(answered, b"\x00\x00\x00\x00\x02ok")
                    conn.send_headers(answered, [("grpc-status", "0")], end_stream=True)
                elif isinstance(event, StreamEnded):
                    conn.close_connection(last_stream_id=answered or 0)
            writer.write(conn.data_to_send())
        writer.close()


async def test_streams_past_a_goaway_fail_and_new_calls_take_a_new_connection() -> None:
    going = GoingAway()
    server = await asyncio.start_server(going.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ups = Upstreams({"t": f"127.0.0.1:{port}"}, 1)
    try:
        rpc: Any = Rpc("/t.T/Echo")
        first = cast(AsyncGenerator[Any, None], ups.call(rpc, b"1", [], None))
        assert await anext(first) == []  # stream 1 is open and answered
        _, _, refused = await asyncio.wait_for(call(ups, "/t.T/Echo", b"2"), 5)  # stream 3
        assert (refused.code, refused.message) == (Status.UNAVAILABLE, "the service is going away")
        message, status = [e async for e in first]  # the stream the server took still finishes
        assert (message, status.code) == (b"ok", Status.OK)
        _, messages, again = await asyncio.wait_for(call(ups, "/t.T/Echo", b"3"), 5)
        assert (again.code, messages, going.connections) == (Status.OK, [b"ok"], 2)
    finally:
        ups.close()
        server.close()
        for writer in going.writers:  # the handlers end before the test's loop does
            writer.close()
        await asyncio.wait_for(asyncio.gather(*going.handlers, return_exceptions=True), 5)
        for writer in going.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class Misbehaving:
    """A raw HTTP/2 server that answers the first request with the given frames (after its SETTINGS
    and, when ``headers``, a valid response HEADERS), and records the GOAWAY the client sends."""

    def __init__(self, frames: bytes, headers: bool = True) -> None:
        self.frames, self.headers = frames, headers
        self.goaway: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        assert await reader.readexactly(len(grpc_h2.PREFACE)) == grpc_h2.PREFACE
        writer.write(grpc_h2.frame(grpc_h2.SETTINGS, 0, 0))
        answered = False
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readexactly(9)
                length, kind, flags, stream_id = int.from_bytes(head[:3], "big"), head[3], head[4], head[5:]
                payload = await reader.readexactly(length)
                if kind == grpc_h2.GOAWAY and not self.goaway.done():
                    self.goaway.set_result(int.from_bytes(payload[4:8], "big"))
                if kind == grpc_h2.DATA and flags & grpc_h2.END_STREAM and not answered:
                    answered = True
                    sid = int.from_bytes(stream_id, "big")
                    if self.headers:
                        block = grpc_h2.literal(b":status", b"200") + grpc_h2.literal(
                            b"content-type", b"application/grpc"
                        )
                        writer.write(grpc_h2.frame(grpc_h2.HEADERS, grpc_h2.END_HEADERS, sid, block))
                    writer.write(self.frames.replace(b"SID!", stream_id))
        writer.close()


def _frame(kind: int, flags: int, payload: bytes) -> bytes:
    """A frame on the answered stream (its id filled in by ``Misbehaving``)."""
    return grpc_h2.frame(kind, flags, 0, payload)[:5] + b"SID!" + payload


@pytest.mark.parametrize(
    ("frames", "headers", "code"),
    [
        # DATA whose padding length is the whole frame.
        (_frame(grpc_h2.DATA, grpc_h2.PADDED, b"\x05abcd"), True, grpc_h2.PROTOCOL_ERROR),
        # HEADERS whose padding is longer than the frame.
        (
            _frame(grpc_h2.HEADERS, grpc_h2.PADDED | grpc_h2.END_HEADERS, b"\x09\x88"),
            False,
            grpc_h2.PROTOCOL_ERROR,
        ),
        # HEADERS with the priority flag and no room for the priority fields.
        (
            _frame(grpc_h2.HEADERS, grpc_h2.PRIORITY_FLAG | grpc_h2.END_HEADERS, b"\x00\x01"),
            False,
            grpc_h2.FRAME_SIZE_ERROR,
        ),
        # Control frames of the wrong length (RFC 9113, section 6).
        (grpc_h2.frame(grpc_h2.WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), True, grpc_h2.FRAME_SIZE_ERROR),
        (grpc_h2.frame(grpc_h2.PING, 0, 0, b"1234567"), True, grpc_h2.FRAME_SIZE_ERROR),
        (grpc_h2.frame(grpc_h2.GOAWAY, 0, 0, b"\x00\x00\x00"), True, grpc_h2.FRAME_SIZE_ERROR),
        (_frame(grpc_h2.RST_STREAM, 0, b"\x00\x08"), True, grpc_h2.FRAME_SIZE_ERROR),
    ],
    ids=[
        "data-padding",
        "headers-padding",
        "headers-priority",
        "window-update",
        "ping",
        "goaway",
        "rst-stream",
    ],
)
async def test_a_server_that_breaks_the_framing_rules_gets_goaway_and_the_call_fails_cleanly(
    frames: bytes, headers: bool, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    bad = Misbehaving(frames, headers)
    server = await asyncio.start_server(bad.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ups = Upstreams({"t": f"127.0.0.1:{port}"}, 1)
    try:
        _, messages, status = await asyncio.wait_for(call(ups, "/t.T/Echo", b"hi"), 5)
        assert (status.code, messages) == (Status.INTERNAL, [])
        assert status.message.startswith("upstream protocol error")
        assert await asyncio.wait_for(bad.goaway, 5) == code
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]  # no traceback
    finally:
        ups.close()
        server.close()
        for writer in bad.writers:
            writer.close()


def test_the_encoder_table_follows_the_peers_through_evictions() -> None:
    """Every header block made with ``EncoderTable`` decodes, with the peer's own HPACK decoder,
    to exactly the fields it was made from, while new entries push old ones out of the 4 KiB table
    and indexes move."""
    from hpack import Decoder

    table, decoder = grpc_h2.EncoderTable(), Decoder()
    paths = [f"/pkg.Service/Method{i:03d}".encode() for i in range(120)]  # far more than 4 KiB
    for round_ in range(3):
        for i, path in enumerate(paths if round_ != 1 else paths[::-1]):
            fields = [(b":path", path, 4), (b":authority", b"meeting:8082", 1), (b"te", b"trailers", 0)]
            block = b"".join(table.field(name, value, index) for name, value, index in fields)
            assert decoder.decode(block, raw=True) == [(n, v) for n, v, _ in fields], (round_, i)
    assert table.size <= grpc_h2.EncoderTable.SIZE
    assert len(table.where) == len(table.entries) < len(paths)  # the oldest went


async def test_indexed_request_fields_stay_right_across_many_paths(running: Running) -> None:
    """Concurrent calls on one connection over more paths than the peer's table holds: the
    server finds each call's own method (its index into the table is right), and later calls of a
    path refer to the table instead of repeating the fields."""
    ups = upstreams(running, pool_size=1)
    try:
        unknown = [f"/t.T/Nothing{i:03d}" for i in range(150)]
        calls = [call(ups, "/t.T/Echo", b"%d" % i) for i in range(150)]
        calls += [call(ups, path, b"x") for path in unknown]
        results = await asyncio.gather(*calls)
        assert [r[1] for r in results[:150]] == [[b"%d" % i] for i in range(150)]
        assert all(r[2].code is Status.OK for r in results[:150])
        assert all(r[2].code is Status.UNIMPLEMENTED for r in results[150:])
        upstream = ups.upstream("t")
        connection = upstream.ready() if upstream is not None else None
        assert connection is not None and connection.table is not None
        spy = RecordedWrites(connection.transport)
        connection.transport = cast(Any, spy)
        await call(ups, "/t.T/Echo", b"again")
        await call(ups, "/t.T/Echo", b"and again")
        head = spy.writes[-1]
        block_length = int.from_bytes(head[:3], "big")
        assert block_length < 16  # seven fields as a few bytes of indexes (literals: ~90 bytes)
    finally:
        ups.close()
