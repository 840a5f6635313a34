"""The edge's own HTTP/2 server side (services/kit/h2_server.py) over real loopback connections:
flow control both ways, the limits it announces and holds, protocol errors, deadlines, resets and
a graceful end. Frames are written and read by hand (with the ``hpack`` library for header
blocks) so that a test can do what a well-behaved client library would refuse to do. The edge's
whole app over it is tests/edge/test_transports.py (parity over h2c and TLS)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hpack import Decoder, Encoder

from services.kit.grpc_h2 import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
)
from services.kit.h2_server import (
    CONNECTION_WINDOW,
    STREAM_WINDOW,
    Http2Connection,
    Http2Limits,
)
from tests.support import wait_until

_HEAD = struct.Struct(">IBI")
_U32 = struct.Struct(">I")
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM = (
    0x0,
    0x1,
    0x2,
    0x3,
    0x6,
    0x7,
)
Frame = tuple[int, int, int, bytes]  # type, flags, stream id, payload
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass
class Seen:
    """What the app saw."""

    scopes: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0
    read: asyncio.Event = field(default_factory=asyncio.Event)  # set: the body reader may go on


async def read_all(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("disconnected")
        body += message["body"]
        if not message["more_body"]:
            return body


def make_app(seen: Seen) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.scopes.append(scope)
        path = scope["path"]
        if path == "/held":  # reads nothing until told to
            await seen.read.wait()
        if path == "/until-disconnect":
            while (await receive())["type"] != "http.disconnect":
                pass
            seen.disconnects += 1
            return
        if path == "/no-content":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b"ignored"})
            return
        if path == "/boom":
            raise RuntimeError("boom")
        if path == "/half":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            return  # ends without finishing its answer
        body = await read_all(receive)
        if path.startswith("/download/"):
            size = int(path.rsplit("/", 1)[1])
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-size", b"%d" % size)]})
            chunk = b"d" * 100_000
            for start in range(0, size, len(chunk)):
                await send({"type": "http.response.body", "body": chunk[: size - start], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"x-length", b"%d" % len(body)), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body[:64]})

    return app


class Client:
    """One HTTP/2 connection written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.encoder, self.decoder = Encoder(), Decoder()
        self.settings: dict[int, int] = {}

    @classmethod
    async def open(cls, port: int, settings: bytes = b"", preface: bool = True) -> Client:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        if preface:
            client.writer.write(PREFACE + frame(SETTINGS, 0, 0, settings))
        return client

    def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))

    def headers(
        self, stream_id: int, path: str, *, end: bool = True, method: str = "POST", extra: Any = ()
    ) -> bytes:
        fields = [(":method", method), (":scheme", "http"), (":authority", "edge"), (":path", path)]
        block = self.encoder.encode([*fields, *extra])
        return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream_id, block)

    async def frame(self, within_s: float = 5.0) -> Frame | None:
        """The next frame (SETTINGS from the server are acknowledged and noted); None at the end."""
        async with asyncio.timeout(within_s):
            while True:
                try:
                    head = await self.reader.readexactly(9)
                except (asyncio.IncompleteReadError, ConnectionResetError):
                    return None
                packed, flags, stream_id = _HEAD.unpack(head)
                payload = await self.reader.readexactly(packed >> 8)
                kind = packed & 0xFF
                if kind == SETTINGS and not flags & ACK:
                    for offset in range(0, len(payload), 6):
                        key, value = struct.unpack_from(">HI", payload, offset)
                        self.settings[key] = value
                    self.send(frame(SETTINGS, ACK, 0))
                    continue
                return kind, flags, stream_id, payload

    async def until(self, kind: int, stream_id: int | None = None, within_s: float = 5.0) -> Frame:
        """Frames up to the first of ``kind`` (on ``stream_id``); fails on the connection's end."""
        while True:
            got = await self.frame(within_s)
            assert got is not None, f"the connection ended before a frame of type {kind}"
            if got[0] == kind and (stream_id is None or got[2] == stream_id):
                return got

    async def answer(self, stream_id: int) -> tuple[dict[bytes, bytes], bytes, list[Frame]]:
        """The response on ``stream_id``: its headers, its body, and every frame seen meanwhile."""
        headers: dict[bytes, bytes] = {}
        body = b""
        frames: list[Frame] = []
        while True:
            got = await self.frame()
            assert got is not None, "the connection ended before the answer"
            frames.append(got)
            kind, flags, sid, payload = got
            if sid != stream_id:
                continue
            if kind == HEADERS:
                headers.update(dict(self.decoder.decode(payload, raw=True)))  # type: ignore[arg-type]
            elif kind == DATA:
                body += payload
                if payload:  # keep the windows open
                    self.send(
                        frame(WINDOW_UPDATE, 0, 0, _U32.pack(len(payload))),
                        frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(len(payload))),
                    )
            elif kind == RST_STREAM:
                raise AssertionError(f"stream {stream_id} reset: {_U32.unpack(payload)[0]}")
            if flags & END_STREAM:
                return headers, body, frames

    async def ended(self) -> tuple[int | None, bool]:
        """Reads to the end: the GOAWAY's error code (None: no GOAWAY), and whether it ended."""
        code = None
        while True:
            try:
                got = await self.frame()
            except TimeoutError:
                return code, False
            if got is None:
                return code, True
            if got[0] == GOAWAY:
                code = _U32.unpack(got[3][4:8])[0]

    def close(self) -> None:
        self.writer.close()


@dataclass
class Server:
    port: int
    seen: Seen
    connections: list[Http2Connection]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[asyncio.Server] = []
    made: list[Http2Connection] = []

    async def start(**limits: Any) -> Server:
        seen = Seen()
        app = make_app(seen)
        options = Http2Limits(**{"header_timeout_s": 5.0, "idle_timeout_s": 5.0, **limits})

        def protocol() -> Http2Connection:
            connection = Http2Connection(app, options)
            made.append(connection)
            return connection

        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
        servers.append(server)
        return Server(server.sockets[0].getsockname()[1], seen, made)

    yield start
    for connection in made:
        if connection.transport is not None:
            connection.transport.abort()
    for server in servers:
        server.close()
        await server.wait_closed()
    await asyncio.sleep(0)  # aborted transports release their sockets on the next turn


async def test_a_request_and_its_answer_with_the_asgi_scope(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(
            client.headers(1, "/echo%20me?x=1", end=False, extra=[("x-a", "1")]),
            frame(DATA, 0, 1, b"hello "),
            frame(DATA, END_STREAM, 1, b"world"),
        )
        headers, body, _ = await client.answer(1)
        assert headers[b":status"] == b"201" and headers[b"x-length"] == b"11" and body == b"hello world"
        [scope] = server.seen.scopes
        assert scope["http_version"] == "2" and scope["method"] == "POST" and scope["scheme"] == "http"
        assert scope["path"] == "/echo me" and scope["raw_path"] == b"/echo%20me"
        assert scope["query_string"] == b"x=1"
        assert (b"host", b"edge") in scope["headers"] and (b"x-a", b"1") in scope["headers"]
        assert client.settings[3] == 100 and client.settings[4] == STREAM_WINDOW  # streams, window
    finally:
        client.close()


async def test_an_upload_is_held_to_the_stream_window_until_the_app_reads(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/held", end=False))
        chunk = b"u" * 16_384
        sent = 0
        while sent + len(chunk) <= STREAM_WINDOW:  # the whole stream window, unread by the app
            client.send(frame(DATA, 0, 1, chunk))
            sent += len(chunk)
        client.send(frame(DATA, 0, 1, b"x"))  # one byte past it: a flow-control error
        code, ended = await client.ended()
        assert (code, ended) == (FLOW_CONTROL_ERROR, True)
    finally:
        client.close()

    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/held", end=False))
        sent = 0
        while sent + len(chunk) <= STREAM_WINDOW:
            client.send(frame(DATA, 0, 1, chunk))
            sent += len(chunk)
        with pytest.raises(TimeoutError):  # no window comes back while the app reads nothing
            await client.until(WINDOW_UPDATE, 1, within_s=0.5)
        server.seen.read.set()
        _, _, _, payload = await client.until(WINDOW_UPDATE, 1)
        assert _U32.unpack(payload)[0] == sent  # what the app read, given back
        for _ in range(40):  # and 640 KiB more, now that it reads
            client.send(frame(DATA, 0, 1, chunk))
            sent += len(chunk)
        client.send(frame(DATA, END_STREAM, 1, b""))
        headers, _, _ = await client.answer(1)
        assert headers[b"x-length"] == b"%d" % sent
    finally:
        client.close()


async def test_a_download_waits_for_the_clients_window(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port, settings=struct.pack(">HI", 4, 10_000))  # stream window
    try:
        client.send(client.headers(1, "/download/50000"))
        received = 0
        while received < 10_000:
            _, _, _, payload = await client.until(DATA, 1)
            received += len(payload)
        assert received == 10_000
        with pytest.raises(TimeoutError):  # nothing past the window
            await client.until(DATA, 1, within_s=0.5)
        client.send(frame(WINDOW_UPDATE, 0, 1, _U32.pack(40_000)))
        flags = 0
        while not flags & END_STREAM:
            _, flags, _, payload = await client.until(DATA, 1)
            received += len(payload)
        assert received == 50_000
    finally:
        client.close()


async def test_large_bodies_both_ways(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(frame(WINDOW_UPDATE, 0, 0, _U32.pack(CONNECTION_WINDOW)))
        client.send(client.headers(1, "/download/6000000"))
        headers, body, _ = await client.answer(1)
        assert headers[b"x-size"] == b"6000000" and len(body) == 6_000_000
    finally:
        client.close()


async def test_streams_past_the_announced_limit_are_refused(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve(max_streams=2)
    client = await Client.open(server.port)
    try:
        client.send(*(client.headers(sid, "/held", end=False) for sid in (1, 3, 5)))
        _, _, sid, payload = await client.until(RST_STREAM)
        assert (sid, _U32.unpack(payload)[0]) == (5, REFUSED_STREAM)
        assert client.settings[3] == 2
        server.seen.read.set()
        client.send(frame(DATA, END_STREAM, 1, b""), frame(DATA, END_STREAM, 3, b""))
        await client.answer(1)
        client.send(client.headers(7, "/echo"))  # room again
        headers, _, _ = await client.answer(7)
        assert headers[b":status"] == b"201"
    finally:
        client.close()


async def test_an_oversized_header_list_gets_431_and_the_connection_goes_on(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(max_header_bytes=4096)
    client = await Client.open(server.port)
    try:
        request = [(":method", "GET"), (":scheme", "http"), (":authority", "edge"), (":path", "/echo")]
        big_block = client.encoder.encode([*request, ("x-big", "b" * 6000)])
        first, rest = big_block[:3000], big_block[3000:]
        client.send(frame(HEADERS, END_STREAM, 1, first), frame(CONTINUATION, END_HEADERS, 1, rest))
        headers, _, _ = await client.answer(1)
        assert headers[b":status"] == b"431"
        client.send(client.headers(3, "/echo", extra=[("x-big", "b" * 6000)]))  # indexed now
        headers, _, _ = await client.answer(3)
        assert headers[b":status"] == b"431"
        client.send(client.headers(5, "/echo"))
        headers, _, _ = await client.answer(5)
        assert headers[b":status"] == b"201"  # the table stayed in step
        assert [s["path"] for s in server.seen.scopes] == ["/echo"]
    finally:
        client.close()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (lambda c: frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR),  # DATA on stream 0
        (lambda c: c.headers(2, "/echo"), PROTOCOL_ERROR),  # a client stream with an even id
        (lambda c: frame(DATA, 0, 9, b"x"), PROTOCOL_ERROR),  # DATA on an idle stream
        (lambda c: frame(PING, 0, 0, b"1234"), FRAME_SIZE_ERROR),
        (lambda c: frame(WINDOW_UPDATE, 0, 0, _U32.pack(0)), PROTOCOL_ERROR),
        (lambda c: _HEAD.pack((20_000 << 8) | DATA, 0, 1) + b"x" * 20_000, FRAME_SIZE_ERROR),
        (lambda c: frame(HEADERS, 0, 1, b"") + frame(DATA, 0, 1, b""), PROTOCOL_ERROR),  # cut block
        (lambda c: frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff"), 0x9),  # COMPRESSION_ERROR
    ],
)
async def test_protocol_errors_end_the_connection_with_goaway(
    serve: Callable[..., Awaitable[Server]], frames: Callable[[Client], bytes], code: int
) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(frames(client))
        assert await client.ended() == (code, True)
        assert server.seen.scopes == []
    finally:
        client.close()


async def test_a_connection_without_the_preface_is_closed(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port, preface=False)
    try:
        client.send(b"GET / HTTP/1.1\r\nhost: edge\r\n\r\n")
        code, ended = await client.ended()
        assert ended and code == PROTOCOL_ERROR
    finally:
        client.close()


async def test_a_malformed_request_is_reset_and_others_go_on(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        block = client.encoder.encode([(":method", "GET"), (":authority", "edge")])  # no :path
        client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        _, _, sid, payload = await client.until(RST_STREAM)
        assert (sid, _U32.unpack(payload)[0]) == (1, PROTOCOL_ERROR)
        client.send(client.headers(3, "/echo", extra=[("Upper", "x")]))  # an upper-case name
        _, _, sid, payload = await client.until(RST_STREAM)
        assert (sid, _U32.unpack(payload)[0]) == (3, PROTOCOL_ERROR)
        client.send(client.headers(5, "/echo"))
        headers, _, _ = await client.answer(5)
        assert headers[b":status"] == b"201"
    finally:
        client.close()


async def test_a_client_reset_reaches_the_app_as_a_disconnect(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/until-disconnect", end=False))

        async def started() -> bool:
            return len(server.seen.scopes) == 1

        await wait_until(started)
        client.send(frame(RST_STREAM, 0, 1, _U32.pack(0x8)))  # CANCEL

        async def disconnected() -> bool:
            return server.seen.disconnects == 1

        await wait_until(disconnected)
        client.send(frame(PING, 0, 0, b"12345678"))
        _, flags, _, payload = await client.until(PING)
        assert flags & ACK and payload == b"12345678"  # the connection lives on
    finally:
        client.close()


async def test_an_app_that_fails_answers_500_and_one_that_stops_halfway_is_reset(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/boom"))
        headers, _, _ = await client.answer(1)
        assert headers[b":status"] == b"500"
        client.send(client.headers(3, "/half"))
        _, _, _, payload = await client.until(RST_STREAM, 3)
        assert _U32.unpack(payload)[0] == INTERNAL_ERROR
    finally:
        client.close()


async def test_request_trailers_are_taken(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        trailers = client.encoder.encode([("x-checksum", "abc")])
        client.send(
            client.headers(1, "/echo", end=False),
            frame(DATA, 0, 1, b"body"),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, trailers),
        )
        headers, body, _ = await client.answer(1)
        assert headers[b"x-length"] == b"4" and body == b"body"
    finally:
        client.close()


async def test_deadlines_idle_and_first_request(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve(header_timeout_s=0.3, idle_timeout_s=0.3)
    served = await Client.open(server.port)
    served.send(served.headers(1, "/echo"))
    silent = await Client.open(server.port)  # the preface, and never a request
    try:
        await served.answer(1)
        assert await served.ended() == (NO_ERROR, True)  # idle after its answer
        assert await silent.ended() == (NO_ERROR, True)
    finally:
        silent.close()
        served.close()


async def test_max_requests_then_goaway(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve(max_requests=2)
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/echo"))
        await client.answer(1)
        client.send(client.headers(3, "/echo"))
        _, _, frames = await client.answer(3)
        [(_, _, _, goaway)] = [f for f in frames if f[0] == GOAWAY]  # with the second request
        assert _U32.unpack(goaway[:4])[0] == 3 and _U32.unpack(goaway[4:8])[0] == NO_ERROR
        assert (await client.ended())[1]  # and the connection ends once it is answered
    finally:
        client.close()


async def test_shutdown_lets_open_streams_finish(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/held"))

        async def started() -> bool:
            return len(server.seen.scopes) == 1

        await wait_until(started)
        [connection] = server.connections
        connection.shutdown()
        _, _, _, payload = await client.until(GOAWAY)
        assert _U32.unpack(payload[:4])[0] == 1 and _U32.unpack(payload[4:8])[0] == NO_ERROR
        client.send(client.headers(3, "/echo"))  # after the GOAWAY: refused
        _, _, sid, payload = await client.until(RST_STREAM)
        assert (sid, _U32.unpack(payload)[0]) == (3, REFUSED_STREAM)
        server.seen.read.set()
        headers, _, _ = await client.answer(1)  # the open one finishes
        assert headers[b":status"] == b"201"
        assert (await client.ended())[1]  # then the connection ends
    finally:
        client.close()


async def test_a_head_request_and_a_204_get_headers_only(serve: Callable[..., Awaitable[Server]]) -> None:
    server = await serve()
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/echo", method="HEAD"))
        headers, body, frames = await client.answer(1)
        assert headers[b":status"] == b"201" and headers[b"x-length"] == b"0" and body == b""
        assert [f[0] for f in frames if f[2] == 1] == [HEADERS]  # END_STREAM on the HEADERS
        client.send(client.headers(3, "/no-content", method="GET"))
        headers, body, _ = await client.answer(3)
        assert headers[b":status"] == b"204" and body == b""
        assert [s["method"] for s in server.seen.scopes] == ["HEAD", "GET"]
    finally:
        client.close()


async def test_reset_streams_count_until_their_app_tasks_end(serve: Callable[..., Awaitable[Server]]) -> None:
    # "rapid reset": streams opened and reset at once would start app work without bound
    server = await serve(max_streams=2)
    client = await Client.open(server.port)
    try:
        client.send(client.headers(1, "/held"), client.headers(3, "/held"))

        async def started() -> bool:
            return len(server.seen.scopes) == 2

        await wait_until(started)
        client.send(frame(RST_STREAM, 0, 1, _U32.pack(0x8)), frame(RST_STREAM, 0, 3, _U32.pack(0x8)))
        client.send(client.headers(5, "/echo"))  # the two apps still run: refused
        _, _, sid, payload = await client.until(RST_STREAM)
        assert (sid, _U32.unpack(payload)[0]) == (5, REFUSED_STREAM)
        server.seen.read.set()  # they end (their answers go nowhere)

        async def room() -> bool:
            return not server.connections[0].tasks

        await wait_until(room)
        client.send(client.headers(7, "/echo"))
        headers, _, _ = await client.answer(7)
        assert headers[b":status"] == b"201"
    finally:
        client.close()


async def test_a_ping_flood_whose_answers_go_unread_ends_the_connection(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    server = await serve(header_timeout_s=60.0)  # no deadline ends it meanwhile
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small, and this side reads nothing
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    client = Client(*await asyncio.open_connection(sock=sock))
    try:
        client.send(PREFACE + frame(SETTINGS, 0, 0))

        async def accepted() -> bool:
            return bool(server.connections) and server.connections[0].transport is not None

        await wait_until(accepted)
        connection = server.connections[0]
        assert connection.transport is not None
        connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        connection.transport.set_write_buffer_limits(high=1024)  # small buffers: the flood shows soon
        ping = frame(PING, 0, 0, b"12345678")
        for _ in range(50):
            if connection.transport is None:
                break
            client.send(ping * 1000)
            try:
                await client.writer.drain()
            except ConnectionError:
                break  # closed: this side's further PINGs met a reset
            await asyncio.sleep(0)  # a turn of the loop: the server reads what was sent

        async def closed() -> bool:
            return connection.transport is None

        await wait_until(closed)
        assert connection.going_away  # with a GOAWAY (ENHANCE_YOUR_CALM; the reset that the
        # unread PINGs cause may overtake it on the wire)
        assert (await client.ended())[1]
    finally:
        client.close()
