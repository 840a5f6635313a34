"""The cost of tracing: GetMeeting on the meeting service (native gRPC) and through the edge (JSON),
with tracing off, sampling 1% and sampling 100%, in one run (issue 13's target: at most 10% loss
of throughput at 1%).

Each mode runs the user and meeting services and the edge as their own processes on the real
PostgreSQL and Redis, exporting spans over OTLP to a real Jaeger (the project's Go tool) when on.
The modes run interleaved, ``BENCH_ROUNDS`` times (default 2: off, 1%, 100%, off, 1%, 100%), and
each mode's best round counts: on a shared machine other work only ever slows a round down, so the
best of several is the figure least bent by it (every round is printed too).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import httpx
import uvloop
from grpclib.client import Channel

from bench.support import Result, drop_platform, load, platform_env, spawn, stop, wait_for_port
from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2
from services.stack.observability import JaegerServer
from services.stack.servers import free_port

CLIENTS = 20
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
MODES = (("off", None), ("1%", 0.01), ("100%", 1.0))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "2")))


async def _mode(label: str, ratio: float | None, jaeger: JaegerServer) -> tuple[Result, Result]:
    user_port, meeting_port, edge_port = free_port(), free_port(), free_port()
    env = platform_env(user_port, meeting_port)
    if ratio is not None:
        env |= {
            "MEETMESH_TRACING__ENDPOINT": jaeger.otlp_endpoint,
            "MEETMESH_TRACING__SAMPLE_RATIO": str(ratio),
        }
    edge_env = {
        **env,
        "MEETMESH_LOG_LEVEL": "INFO",  # access logs on, as in production
        "MEETMESH_EDGE__PORT": str(edge_port),
        "MEETMESH_EDGE__TLS": "false",
        "MEETMESH_EDGE__RATE_LIMIT_ADDRESS__RATE": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_ADDRESS__BURST": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_TOKEN__RATE": "1000000",
        "MEETMESH_EDGE__RATE_LIMIT_TOKEN__BURST": "1000000",
    }
    platform = spawn(["-m", "services.cli", "serve", "user", "meeting"], env)
    edge = spawn(["-m", "services.edge.server"], edge_env, stderr=subprocess.DEVNULL)
    channels: list[Channel] = []
    try:
        await wait_for_port(user_port, 120)
        await wait_for_port(meeting_port, 120)
        await wait_for_port(edge_port, 120)
        user_ch = Channel("127.0.0.1", user_port)
        meeting_chs = [Channel("127.0.0.1", meeting_port) for _ in range(CLIENTS)]
        channels += [user_ch, *meeting_chs]
        users = user_grpc.UserServiceStub(user_ch)
        email = f"bench-tracing-{uuid.uuid4().hex[:6]}@example.test"
        await users.Register(
            user_pb2.RegisterRequest(email=email, password="benchmark password", display_name="B")
        )
        login = await users.Login(user_pb2.LoginRequest(email=email, password="benchmark password"))
        creds = {"authorization": f"Bearer {login.tokens.access_token}"}
        stubs = [meeting_grpc.MeetingServiceStub(ch) for ch in meeting_chs]
        created = await stubs[0].CreateMeeting(
            meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(title="bench")), metadata=creds
        )
        name = created.meeting.name
        request = meeting_pb2.GetMeetingRequest(name=name)

        async def grpc_call(i: int) -> None:
            await stubs[i].GetMeeting(request, metadata=creds)

        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_port}", headers=creds) for _ in range(CLIENTS)
        ]

        async def json_call(i: int) -> None:
            reply = await clients[i].get(f"/v1/{name}")
            reply.raise_for_status()

        try:
            direct = await load(f"GetMeeting gRPC, tracing {label}", CLIENTS, SECONDS, grpc_call)
            through_edge = await load(f"GetMeeting JSON edge, tracing {label}", CLIENTS, SECONDS, json_call)
        finally:
            for client in clients:
                await client.aclose()
        return direct, through_edge
    finally:
        for ch in channels:
            ch.close()
        stop(edge)
        stop(platform)
        await drop_platform(env)


async def _run() -> None:
    rounds: dict[str, list[tuple[Result, Result]]] = {label: [] for label, _ in MODES}
    with JaegerServer() as jaeger:
        assert isinstance(jaeger, JaegerServer)
        for _ in range(ROUNDS):
            for label, ratio in MODES:
                rounds[label].append(await _mode(label, ratio, jaeger))
    print(
        f"{CLIENTS} concurrent clients, {SECONDS:.0f} s each, {ROUNDS} interleaved round(s); "
        "spans to a real Jaeger over OTLP/gRPC"
    )
    for runs in rounds.values():
        for direct, through_edge in runs:
            print(direct.row())
            print(through_edge.row())
    best = {
        label: (
            max((r[0] for r in runs), key=lambda r: r.throughput),
            max((r[1] for r in runs), key=lambda r: r.throughput),
        )
        for label, runs in rounds.items()
    }
    off_direct, off_edge = best["off"]
    print(
        f"  best rounds (calls/s): meeting off {off_direct.throughput:.0f}, "
        f"edge off {off_edge.throughput:.0f}"
    )
    for label in ("1%", "100%"):
        direct, through_edge = best[label]
        d = direct.throughput / off_direct.throughput
        e = through_edge.throughput / off_edge.throughput
        verdict = (
            "" if label != "1%" else f"  (target loss <= 10%: {'met' if min(d, e) >= 0.9 else 'NOT met'})"
        )
        print(f"  tracing {label:>4} / off: meeting {d:.2f}, edge {e:.2f}{verdict}")


def main() -> None:
    uvloop.install()
    asyncio.run(_run())
