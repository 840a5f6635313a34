"""Unary calls through the edge (gRPC-web and JSON) against direct gRPC, per transport and server,
in one run.

The user and meeting services run in one process (real PostgreSQL and Redis), the edges in three
more (JWT check, Redis rate limits and access logs on), each with a plain port (HTTP/1.1 + h2c)
and a TLS listener: uvicorn (the default: HTTP/2 by the edge's own h2_server.py), hypercorn (its
HTTP/2 rows only) and granian. The load generator runs in this one. The call is `GetUser(users/me)` with a
token:

- direct: grpclib over one HTTP/2 channel to the user service;
- gRPC-web: POST `/meetmesh.user.v1.UserService/GetUser` to the edge;
- JSON: `GET /v1/users/me` to the edge;

each over HTTP/1.1, HTTP/1.1 over TLS, HTTP/2 over TLS (ALPN) and h2c, per server.
The edge rows' clients are minimal, so that client-side HTTP work does not pass for edge overhead:
HTTP/1.1 is `Http1` (pre-built request bytes, one keep-alive connection per worker), HTTP/2 is
`Http2` (pre-built header blocks, frames by hand, one connection per worker, one request at a
time on it). Both cost less client CPU per call than the direct row's grpclib client (printed:
about 0.07-0.09 ms against 0.37 ms), so the added latencies do not hide any client cost of the
edge rows' own. Until 2026-12 the HTTP/2 rows used httpx, and then a client on the `h2` library
(0.25 ms of client CPU per call where `Http1` takes 0.07: the HTTP/2 rows' added median carried
0.18 ms more client work than the HTTP/1.1 rows'); httpx's pure-Python cost had been counted as
the edge's: in one run on a loaded machine, replacing it took the HTTP/2 rows' added median from
9.7-11.2 ms to 3.2-4.7 ms.
Latency: one client calls every kind in turn, in blocks of ``BLOCK`` calls (so they share
the machine's background load, and each is timed on a process that is in use: ``_interleaved``);
throughput: 50 concurrent clients, in alternating slices. Targets (issue 15): on every
transport, median added latency at most 0.5 ms and edge throughput at least 75% of direct.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import ssl
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from grpclib.client import Channel
from hpack import Decoder

from bench.support import Result, drop_platform, load, platform_env, spawn, stop, wait_for_port
from meetmesh.user.v1 import user_grpc, user_pb2
from services.edge.tls import dev_certificate
from services.kit.grpc_h2 import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
    literal,
)
from services.stack.servers import free_port

CLIENTS = 50
SLICES = 5
#: Consecutive calls of one kind in the 1-client rows (see ``_interleaved``).
BLOCK = 20
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
_MAX_WINDOW = (1 << 31) - 1


class Http1:
    """One keep-alive HTTP/1.1 connection sending pre-built requests (responses carry content-length).

    A server may end a keep-alive connection after a response that says `connection: close`
    (hypercorn does after 1,000 requests); the next request then opens a new one, as browsers do.
    """

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        self.port, self.context = port, context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reopened = 0

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None = None) -> Http1:
        conn = cls(port, context)
        await conn._connect()
        return conn

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.context)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
            self.reopened += 1
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length)
        if close:
            await self.aclose()
        return status, body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _interleaved(
    calls: dict[str, Callable[[int], Awaitable[None]]], seconds: float
) -> tuple[dict[str, Result], dict[str, float]]:
    """One client calling the kinds side by side under the same load: rounds in which every kind
    makes ``BLOCK`` calls in a row, in a new random order each round; the first call of each
    block is not timed. Also this process's CPU seconds per timed call of each kind (the client's
    own work, part of each latency).

    Until 2026-12 the kinds took one call each in a fixed order. Each edge process then sat idle
    while the 15 others were called, and its first call after that (always the gRPC-web kind, the
    JSON one followed at once on the same process) paid for waking a cold process; the direct
    row never did, since every kind's call reaches the user service. On one machine that order
    put gRPC-web 0.3-0.4 ms above JSON on the same transport, where a process that is called
    without pauses shows gRPC-web below JSON (it transcodes nothing)."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    order = list(calls)
    shuffle = random.Random(15).shuffle
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        shuffle(order)
        for name in order:
            call = calls[name]
            await call(0)  # the block's first call: the process wakes up
            own = time.process_time()
            for _ in range(BLOCK - 1):
                started = time.perf_counter()
                await call(0)
                latencies[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - own
    share = seconds / len(calls)
    results = {
        name: Result(f"{name} (1 client)", len(values), 0, share, values)
        for name, values in latencies.items()
    }
    return results, {name: cpu[name] / max(len(latencies[name]), 1) for name in calls}


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Http2:
    """One HTTP/2 connection, as lean as `Http1`: pre-built header blocks (literal fields, no
    Huffman coding), frames written and read by hand, one request at a time, the `hpack` library
    only to decode the answer's headers (servers index and Huffman-code them). It announces the
    largest windows, so only the connection window is given back (every MiB).

    The response's headers, DATA and trailers are gathered as bytes; a `grpc-status` header
    (a trailers-only answer) is appended to the body so that callers can check it as for HTTP/1.1.
    A GOAWAY ends the connection after the current response; the next request opens a new one.
    """

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        self.port, self.context = port, context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.decoder = Decoder()
        self.blocks: dict[int, bytes] = {}  # id of a pre-built header list -> its block
        self.buffer = b""
        self.next_stream = 1
        self.unacked = 0
        self.reopened = 0

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None = None) -> Http2:
        conn = cls(port, context)
        await conn._connect()
        return conn

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.context)
        if self.context is not None:
            chosen = self.writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if chosen != "h2":
                raise RuntimeError(f"the server chose {chosen!r}, not h2")
        self.decoder, self.buffer, self.next_stream, self.unacked = Decoder(), b"", 1, 0
        settings = struct.pack(">HIHI", 0x2, 0, 0x4, _MAX_WINDOW)  # no push; the largest window
        self.writer.write(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", _MAX_WINDOW - 65_535))
        )

    async def _frame(self) -> tuple[int, int, int, bytes]:
        assert self.reader is not None
        while len(self.buffer) < 9 or len(self.buffer) < 9 + (int.from_bytes(self.buffer[:3], "big")):
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags, stream = (
            self.buffer[3],
            self.buffer[4],
            int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF,
        )
        payload, self.buffer = self.buffer[9 : 9 + length], self.buffer[9 + length :]
        return kind, flags, stream, payload

    async def send(self, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
            self.reopened += 1
        writer = self.writer
        assert writer is not None
        block = self.blocks.get(id(headers))
        if block is None:
            block = self.blocks[id(headers)] = b"".join(literal(n, v) for n, v in headers)
        stream, self.next_stream = self.next_stream, self.next_stream + 2
        out = frame(HEADERS, END_HEADERS | (0 if body else END_STREAM), stream, block)
        writer.write(out + frame(DATA, END_STREAM, stream, body) if body else out)
        status, grpc_status, data, closing, ending = 0, b"", [], False, False
        pending = b""  # a header block awaiting CONTINUATION
        while True:
            kind, flags, on, payload = await self._frame()
            if kind in (HEADERS, CONTINUATION):
                if kind == HEADERS:
                    if flags & PADDED:
                        payload = payload[1 : len(payload) - payload[0]]
                    if flags & PRIORITY_FLAG:
                        payload = payload[5:]
                pending += payload
                if flags & END_HEADERS:
                    for name, value in self.decoder.decode(pending, raw=True):
                        if name == b":status":
                            status = int(value)
                        elif name == b"grpc-status":
                            grpc_status = bytes(value)
                    pending = b""
            elif kind == DATA:
                self.unacked += len(payload)
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                data.append(payload)
                if self.unacked >= 1 << 20:
                    writer.write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.unacked)))
                    self.unacked = 0
            elif kind == SETTINGS and not flags & ACK:
                writer.write(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                writer.write(frame(PING, ACK, 0, payload))
            elif kind == GOAWAY:
                closing = True
                if int.from_bytes(payload[:4], "big") < stream:
                    raise ConnectionError("the server refused the request (GOAWAY)")
            elif kind == RST_STREAM and on == stream:
                break
            if on == stream and kind in (HEADERS, DATA) and flags & END_STREAM:
                ending = True
            if ending and not pending:
                break
        if grpc_status:
            data.append(b"grpc-status: " + grpc_status + b"\r\n")
        if closing:
            await self.aclose()
        return status, b"".join(data)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _h2_request(
    scheme: str, port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> list[tuple[bytes, bytes]]:
    pseudo = {":method": method, ":scheme": scheme, ":authority": f"127.0.0.1:{port}", ":path": path}
    sized = {"content-length": str(len(body))} if body else {}
    return [(k.encode(), v.encode()) for k, v in (pseudo | sized | headers).items()]


async def _run() -> None:
    user_port, meeting_port, edge_port = free_port(), free_port(), free_port()
    tls_port, h2c_port, granian_port, granian_tls_port = free_port(), free_port(), free_port(), free_port()
    hyper_tls_port = free_port()
    tls_dir = Path(tempfile.mkdtemp(prefix="meetmesh-bench-tls-"))
    dev_certificate(tls_dir)  # made once here: the edges that start side by side all reuse it
    run = uuid.uuid4().hex[:6]
    env = platform_env(user_port, meeting_port)
    edge_env = {
        **env,
        "MEETMESH_LOG_LEVEL": "INFO",  # access logs on, as in production
        "MEETMESH_EDGE__PORT": str(edge_port),
        "MEETMESH_EDGE__SERVER": "uvicorn",
        "MEETMESH_EDGE__TLS_PORT": str(tls_port),
        "MEETMESH_EDGE__TLS_SERVER": "uvicorn",
        "MEETMESH_EDGE__TLS_DEV_DIR": str(tls_dir),
        # Buckets large enough never to refuse: the check itself still runs on every call.
        "MEETMESH_EDGE__RATE_LIMIT_ADDRESS__RATE": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_ADDRESS__BURST": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_TOKEN__RATE": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_TOKEN__BURST": "1000000",
        # 200 keep-alive connections from one address, opened (100 TLS handshakes) before the first
        # call: the slow-client limits (docs/security.md) would cut them off; the load is not slow.
        "MEETMESH_EDGE__MAX_CONNECTIONS_PER_ADDRESS": "1000",
        "MEETMESH_EDGE__HEADER_TIMEOUT_S": "300",
        "MEETMESH_EDGE__IDLE_TIMEOUT_S": "300",
    }
    platform = spawn(["-m", "services.cli", "serve", "user", "meeting"], env)
    edge = spawn(["-m", "services.edge.server"], edge_env, stderr=subprocess.DEVNULL)
    h2c_env = {
        **edge_env,
        "MEETMESH_EDGE__SERVER": "hypercorn",
        "MEETMESH_EDGE__PORT": str(h2c_port),
        "MEETMESH_EDGE__TLS_SERVER": "hypercorn",
        "MEETMESH_EDGE__TLS_PORT": str(hyper_tls_port),
    }
    h2c_edge = spawn(["-m", "services.edge.server"], h2c_env, stderr=subprocess.DEVNULL)
    granian_env = {
        **edge_env,
        "MEETMESH_EDGE__SERVER": "granian",
        "MEETMESH_EDGE__PORT": str(granian_port),
        "MEETMESH_EDGE__TLS_SERVER": "granian",
        "MEETMESH_EDGE__TLS_PORT": str(granian_tls_port),
    }
    granian_edge = spawn(["-m", "services.edge.server"], granian_env, stderr=subprocess.DEVNULL)
    channel = Channel("127.0.0.1", user_port)
    connections: dict[str, list[Any]] = {}
    try:
        ports = (user_port, meeting_port, edge_port, tls_port, h2c_port, hyper_tls_port, granian_port)
        for port in (*ports, granian_tls_port):
            await wait_for_port(port, 120)
        context = ssl.create_default_context(cafile=str(tls_dir / "dev-cert.pem"))
        context.set_alpn_protocols(["h2"])
        h1_context = ssl.create_default_context(cafile=str(tls_dir / "dev-cert.pem"))
        h1_context.set_alpn_protocols(["http/1.1"])
        users = user_grpc.UserServiceStub(channel)
        email = f"bench-edge-{run}@example.test"
        await users.Register(
            user_pb2.RegisterRequest(email=email, password="benchmark password", display_name="B")
        )
        login = await users.Login(user_pb2.LoginRequest(email=email, password="benchmark password"))
        auth = {"authorization": f"Bearer {login.tokens.access_token}"}
        get_me = user_pb2.GetUserRequest(name="users/me")
        framed = get_me.SerializeToString()
        web_path = "/meetmesh.user.v1.UserService/GetUser"
        web_headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **auth}
        web_body = struct.pack(">BI", 0, len(framed)) + framed
        json_headers = {"accept": "application/json", **auth}
        grpc_web = _request("POST", web_path, web_headers, web_body)
        json_get = _request("GET", "/v1/users/me", json_headers)
        # transport (and the server behind it) -> HTTP version, port, TLS
        table = {
            "HTTP/1.1 uvicorn": (1, edge_port, False),
            "HTTP/1.1+TLS uvicorn": (1, tls_port, True),
            "HTTP/2+TLS uvicorn": (2, tls_port, True),  # HTTP/2: the edge's own (h2_server.py)
            "h2c uvicorn": (2, edge_port, False),
            "HTTP/2+TLS hypercorn": (2, hyper_tls_port, True),
            "h2c hypercorn": (2, h2c_port, False),
            "HTTP/1.1 granian": (1, granian_port, False),
            "HTTP/1.1+TLS granian": (1, granian_tls_port, True),
            "HTTP/2+TLS granian": (2, granian_tls_port, True),
            "h2c granian": (2, granian_port, False),
        }
        h2_grpc_web: dict[str, list[tuple[bytes, bytes]]] = {}
        h2_json: dict[str, list[tuple[bytes, bytes]]] = {}
        transports: dict[str, Callable[[], Awaitable[Any]]] = {}
        for name, (version, port, tls) in table.items():
            if version == 1:
                transports[name] = functools.partial(Http1.open, port, h1_context if tls else None)
                continue
            scheme = "https" if tls else "http"
            h2_grpc_web[name] = _h2_request(scheme, port, "POST", web_path, web_headers, web_body)
            h2_json[name] = _h2_request(scheme, port, "GET", "/v1/users/me", json_headers)
            transports[name] = functools.partial(Http2.open, port, context if tls else None)

        async def reconnect(*names: str) -> None:  # fresh keep-alive connections for a run
            for name in names:
                for connection in connections.get(name, []):
                    await connection.aclose()
                connections[name] = [await transports[name]() for _ in range(CLIENTS)]

        async def direct(_: int) -> None:
            await users.GetUser(get_me, metadata=auth)

        def via_grpc_web(transport: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                conn = connections[transport][i]
                if isinstance(conn, Http1):
                    status, body = await conn.send(grpc_web)
                else:
                    status, body = await conn.send(h2_grpc_web[transport], web_body)
                if status != 200 or b"grpc-status: 0\r\n" not in body:
                    raise RuntimeError(f"gRPC-web call failed: {status} {body[-80:]!r}")

            return call

        def via_json(transport: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                conn = connections[transport][i]
                if isinstance(conn, Http1):
                    status, body = await conn.send(json_get)
                else:
                    status, body = await conn.send(h2_json[transport])
                if status != 200:
                    raise RuntimeError(f"JSON call failed: {status} {body[:80]!r}")

            return call

        calls: dict[str, Callable[[int], Awaitable[None]]] = {"direct gRPC": direct}
        over: dict[str, tuple[str, ...]] = {"direct gRPC": ()}  # the transport each kind uses
        for transport in transports:
            calls[f"gRPC-web {transport}"] = via_grpc_web(transport)
            calls[f"JSON {transport}"] = via_json(transport)
            over[f"gRPC-web {transport}"] = over[f"JSON {transport}"] = (transport,)
        await reconnect(*transports)
        serial, client_cpu = await _interleaved(calls, SECONDS * len(calls))
        concurrent = {name: Result(f"{name} ({CLIENTS} clients)", 0, 0, 0.0, []) for name in calls}
        for _ in range(SLICES):  # short alternating slices, so background load hits each alike
            for name, call in calls.items():
                await reconnect(*over[name])
                part = await load(name, CLIENTS, SECONDS / SLICES, call, warmup=0.2)
                total = concurrent[name]
                total.calls += part.calls
                total.errors += part.errors
                total.seconds += part.seconds
                total.latencies += part.latencies

        print(
            f"GetUser(users/me) with a token, {SECONDS:.0f} s per row, PostgreSQL + Redis, separate "
            f"processes; 1-client rows interleaved in blocks of {BLOCK} (calls/s there is per round), "
            "50-client rows in slices"
        )
        for result in [*serial.values(), *concurrent.values()]:
            print(result.row())
        print(
            f"  the 1-client rows' own client CPU per call (part of their latency): direct gRPC "
            f"(grpclib) {client_cpu['direct gRPC'] * 1000:.3f} ms; the edge rows' below"
        )
        base_p50 = serial["direct gRPC"].p50_ms
        base_rate = concurrent["direct gRPC"].throughput
        for name in calls:
            if name == "direct gRPC":
                continue
            added = serial[name].p50_ms - base_p50
            ratio = concurrent[name].throughput / base_rate
            print(
                f"  {name:<31} median added latency {added:6.3f} ms (target <= 0.5 ms: "
                f"{'met' if added <= 0.5 else 'NOT met'}); throughput / direct {ratio:.2f} "
                f"(target >= 0.75: {'met' if ratio >= 0.75 else 'NOT met'}); client CPU "
                f"{client_cpu[name] * 1000:.3f} ms/call"
            )
    finally:
        for pool in connections.values():
            for connection in pool:
                await connection.aclose()
        channel.close()
        stop(granian_edge)
        stop(h2c_edge)
        stop(edge)
        stop(platform)
        await drop_platform(env)


def main() -> None:
    uvloop.run(_run())


if __name__ == "__main__":
    main()
