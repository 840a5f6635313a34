"""Unary calls through the edge (gRPC-web and JSON) against direct gRPC, in the same run.

The user and meeting services run in one process (real PostgreSQL and Redis), the edge in
another (uvicorn, uvloop, httptools; JWT check, Redis rate limits and access logs on), the load
generator in this one. The call is `GetUser(users/me)` with an access token:

- direct: grpclib over one HTTP/2 channel to the user service;
- gRPC-web: HTTP/1.1 keep-alive POST `/meetmesh.user.v1.UserService/GetUser` to the edge;
- JSON: HTTP/1.1 keep-alive `GET /v1/users/me` to the edge.

HTTP/1.1 is spoken by a minimal client here (pre-built request bytes, one connection per worker),
so client-side HTTP overhead does not pass for edge overhead. Latency: one client calls the three
kinds in turn (so they share the machine's background load); throughput: 50 concurrent clients,
in alternating one-second slices. Targets (issue 3): median added latency at most 1 ms; edge
throughput at least 50% of direct.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

import uvloop
from grpclib.client import Channel

from bench.support import Result, drop_platform, free_port, load, platform_env, spawn, stop, wait_for_port
from meetmesh.user.v1 import user_grpc, user_pb2

CLIENTS = 50
SLICES = 5
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


class Http1:
    """One keep-alive HTTP/1.1 connection sending pre-built requests (responses carry content-length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Http1:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


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


async def _run() -> None:
    user_port, meeting_port, edge_port = free_port(), free_port(), free_port()
    run = uuid.uuid4().hex[:6]
    env = platform_env(user_port, meeting_port)
    edge_env = {
        **env,
        "MEETMESH_LOG_LEVEL": "INFO",  # access logs on, as in production
        "MEETMESH_EDGE_SVC__PORT": str(edge_port),
        # Buckets large enough never to refuse: the check itself still runs on every call.
        "MEETMESH_EDGE_SVC__RATE_LIMIT_ADDRESS__RATE": "1000000",
        "MEETMESH_EDGE_SVC__RATE_LIMIT_ADDRESS__BURST": "1000000",
        "MEETMESH_EDGE_SVC__RATE_LIMIT_TOKEN__RATE": "1000000",
        "MEETMESH_EDGE_SVC__RATE_LIMIT_TOKEN__BURST": "1000000",
    }
    platform = spawn(["-m", "services.cli", "serve", "user", "meeting"], env)
    edge = spawn(["-m", "services.edge.server"], edge_env, stderr=subprocess.DEVNULL)
    channel = Channel("127.0.0.1", user_port)
    connections: list[Http1] = []
    try:
        for port in (user_port, meeting_port, edge_port):
            await wait_for_port(port)
        users = user_grpc.UserServiceStub(channel)
        email = f"bench-edge-{run}@example.test"
        await users.Register(
            user_pb2.RegisterRequest(email=email, password="benchmark password", display_name="B")
        )
        login = await users.Login(user_pb2.LoginRequest(email=email, password="benchmark password"))
        auth = {"authorization": f"Bearer {login.tokens.access_token}"}
        get_me = user_pb2.GetUserRequest(name="users/me")
        framed = get_me.SerializeToString()
        grpc_web = _request(
            "POST",
            "/meetmesh.user.v1.UserService/GetUser",
            {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **auth},
            struct.pack(">BI", 0, len(framed)) + framed,
        )
        json_get = _request("GET", "/v1/users/me", {"accept": "application/json", **auth})

        async def reconnect() -> None:  # fresh keep-alive connections for each run (idle ones time out)
            for connection in connections:
                connection.close()
            connections[:] = [await Http1.open(edge_port) for _ in range(CLIENTS)]

        async def direct(_: int) -> None:
            await users.GetUser(get_me, metadata=auth)

        async def via_grpc_web(i: int) -> None:
            status, body = await connections[i].send(grpc_web)
            if status != 200 or b"grpc-status: 0\r\n" not in body:
                raise RuntimeError(f"gRPC-web call failed: {status} {body[-80:]!r}")

        async def via_json(i: int) -> None:
            status, body = await connections[i].send(json_get)
            if status != 200:
                raise RuntimeError(f"JSON call failed: {status} {body[:80]!r}")

        calls = {"direct gRPC": direct, "edge gRPC-web": via_grpc_web, "edge JSON": via_json}
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
        for name in ("edge gRPC-web", "edge JSON"):
            added = serial[name].p50_ms - base_p50
            ratio = concurrent[name].throughput / base_rate
            print(
                f"  {name}: median added latency {added:.3f} ms (target <= 1 ms: "
                f"{'met' if added <= 1 else 'NOT met'}); throughput / direct {ratio:.2f} "
                f"(target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})"
            )
    finally:
        for connection in connections:
            connection.close()
        channel.close()
        stop(edge)
        stop(platform)
        await drop_platform(env)


def main() -> None:
    uvloop.run(_run())


if __name__ == "__main__":
    main()
