"""Unary calls through the edge (gRPC-web and JSON) against direct gRPC, per transport, in one run.

The user and meeting services run in one process (real PostgreSQL and Redis), the edges in two
more (JWT check, Redis rate limits and access logs on): the default edge (uvicorn on the plain
port, hypercorn's TLS listener beside it) and one with `server=hypercorn` (HTTP/1.1 + h2c on
the plain port); the load generator in this one. The call is `GetUser(users/me)` with a token:

- direct: grpclib over one HTTP/2 channel to the user service;
- gRPC-web: POST `/meetmesh.user.v1.UserService/GetUser` to the edge;
- JSON: `GET /v1/users/me` to the edge;

each over HTTP/1.1 (uvicorn), HTTP/1.1 over TLS, HTTP/2 over TLS (ALPN) and h2c (hypercorn).
HTTP/1.1 is spoken by a minimal client (pre-built request bytes, one keep-alive connection per
worker), so client-side HTTP overhead does not pass for edge overhead; HTTP/2 by httpx (one
connection per worker), whose own cost per call (pure-Python h2, like grpclib's) IS included in
those rows. Latency: one client calls every kind in turn (so they share the machine's background
load); throughput: 50 concurrent clients, in alternating slices. Targets (issue 15): on every
transport, median added latency at most 0.5 ms and edge throughput at least 75% of direct.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop
from grpclib.client import Channel

from bench.support import Result, drop_platform, free_port, load, platform_env, spawn, stop, wait_for_port
from meetmesh.user.v1 import user_grpc, user_pb2

CLIENTS = 50
SLICES = 5
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


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
) -> dict[str, Result]:
    """One client calling each kind in turn: latencies measured side by side under the same load."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # warm-up
        await call(0)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, call in calls.items():
            started = time.perf_counter()
            await call(0)
            latencies[name].append(time.perf_counter() - started)
    share = seconds / len(calls)
    return {
        name: Result(f"{name} (1 client)", len(values), 0, share, values)
        for name, values in latencies.items()
    }


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Http2:
    """One HTTP/2 connection (httpx) sending the same requests."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self.client, self.base = client, base

    @classmethod
    def open(cls, base: str, context: ssl.SSLContext | None) -> Http2:
        return cls(httpx.AsyncClient(http1=False, http2=True, verify=context or False), base)

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        response = await self.client.request(method, self.base + path, headers=headers, content=body or None)
        trailer = f"grpc-status: {response.headers.get('grpc-status', '')}\r\n".encode()
        return response.status_code, response.content + trailer

    async def aclose(self) -> None:
        await self.client.aclose()


async def _run() -> None:
    user_port, meeting_port, edge_port = free_port(), free_port(), free_port()
    tls_port, h2c_port = free_port(), free_port()
    tls_dir = Path(tempfile.mkdtemp(prefix="meetmesh-bench-tls-"))
    run = uuid.uuid4().hex[:6]
    env = platform_env(user_port, meeting_port)
    edge_env = {
        **env,
        "MEETMESH_LOG_LEVEL": "INFO",  # access logs on, as in production
        "MEETMESH_EDGE__PORT": str(edge_port),
        "MEETMESH_EDGE__TLS_PORT": str(tls_port),
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
        "MEETMESH_EDGE__TLS": "false",
    }
    h2c_edge = spawn(["-m", "services.edge.server"], h2c_env, stderr=subprocess.DEVNULL)
    channel = Channel("127.0.0.1", user_port)
    connections: dict[str, list[Any]] = {}
    try:
        for port in (user_port, meeting_port, edge_port, tls_port, h2c_port):
            await wait_for_port(port, 120)
        context = ssl.create_default_context(cafile=str(tls_dir / "dev-cert.pem"))
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
        transports: dict[str, Callable[[], Awaitable[Any]]] = {
            "HTTP/1.1": lambda: Http1.open(edge_port),
            "HTTP/1.1+TLS": lambda: Http1.open(tls_port, h1_context),
            "HTTP/2+TLS": lambda: _ready(Http2.open(f"https://127.0.0.1:{tls_port}", context)),
            "h2c": lambda: _ready(Http2.open(f"http://127.0.0.1:{h2c_port}", None)),
        }

        async def reconnect() -> None:  # fresh keep-alive connections for each run (idle ones time out)
            for pool in connections.values():
                for connection in pool:
                    await connection.aclose()
            for name, opener in transports.items():
                connections[name] = [await opener() for _ in range(CLIENTS)]

        async def direct(_: int) -> None:
            await users.GetUser(get_me, metadata=auth)

        def via_grpc_web(transport: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                conn = connections[transport][i]
                if isinstance(conn, Http1):
                    status, body = await conn.send(grpc_web)
                else:
                    status, body = await conn.send("POST", web_path, web_headers, web_body)
                if status != 200 or b"grpc-status: 0\r\n" not in body:
                    raise RuntimeError(f"gRPC-web call failed: {status} {body[-80:]!r}")

            return call

        def via_json(transport: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                conn = connections[transport][i]
                if isinstance(conn, Http1):
                    status, body = await conn.send(json_get)
                else:
                    status, body = await conn.send("GET", "/v1/users/me", json_headers)
                if status != 200:
                    raise RuntimeError(f"JSON call failed: {status} {body[:80]!r}")

            return call

        calls: dict[str, Callable[[int], Awaitable[None]]] = {"direct gRPC": direct}
        for transport in transports:
            calls[f"gRPC-web {transport}"] = via_grpc_web(transport)
            calls[f"JSON {transport}"] = via_json(transport)
        await reconnect()
        serial = await _interleaved(calls, SECONDS * len(calls))
        concurrent = {name: Result(f"{name} ({CLIENTS} clients)", 0, 0, 0.0, []) for name in calls}
        for _ in range(SLICES):  # short alternating slices, so background load hits each alike
            for name, call in calls.items():
                await reconnect()
                part = await load(name, CLIENTS, SECONDS / SLICES, call, warmup=0.2)
                total = concurrent[name]
                total.calls += part.calls
                total.errors += part.errors
                total.seconds += part.seconds
                total.latencies += part.latencies

        print(
            f"GetUser(users/me) with a token, {SECONDS:.0f} s per row, PostgreSQL + Redis, separate "
            "processes; 1-client rows interleaved (calls/s there is per round), 50-client rows in slices"
        )
        for result in [*serial.values(), *concurrent.values()]:
            print(result.row())
        base_p50 = serial["direct gRPC"].p50_ms
        base_rate = concurrent["direct gRPC"].throughput
        for name in calls:
            if name == "direct gRPC":
                continue
            added = serial[name].p50_ms - base_p50
            ratio = concurrent[name].throughput / base_rate
            print(
                f"  {name:<22} median added latency {added:6.3f} ms (target <= 0.5 ms: "
                f"{'met' if added <= 0.5 else 'NOT met'}); throughput / direct {ratio:.2f} "
                f"(target >= 0.75: {'met' if ratio >= 0.75 else 'NOT met'})"
            )
    finally:
        for pool in connections.values():
            for connection in pool:
                await connection.aclose()
        channel.close()
        stop(h2c_edge)
        stop(edge)
        stop(platform)
        await drop_platform(env)


async def _ready(conn: Http2) -> Http2:
    return conn


def main() -> None:
    uvloop.run(_run())


if __name__ == "__main__":
    main()
