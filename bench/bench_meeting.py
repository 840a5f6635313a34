"""GetMeeting and JoinMeeting at 50 concurrent clients on PostgreSQL, against a grpclib echo server.

The user and meeting services run in their own process (``meetmesh serve``-style, uvloop) on the
real PostgreSQL and Redis; the echo server in another; the load generator in this one. Targets
(issue 2): GetMeeting at least 40% of echo throughput; JoinMeeting p99 at most 25 ms.

JoinMeeting is measured on the full seat path: each client joins another client's meeting (no
lobby, no passcode), then leaves it (not timed), so every timed join takes a seat in a transaction.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import uvloop
from grpclib.client import Channel
from grpclib.health.v1 import health_grpc, health_pb2

from bench.support import drop_platform, free_port, load, platform_env, spawn, stop, wait_for_port
from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2

CLIENTS = 50
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
# Paced join load: each client joins (and then leaves) once per PACE_S.
PACE_S = float(os.environ.get("BENCH_JOIN_PACE_S", "0.5"))


async def _run() -> None:
    echo_port, user_port, meeting_port = free_port(), free_port(), free_port()
    run = uuid.uuid4().hex[:6]
    env = platform_env(user_port, meeting_port)
    echo = spawn(["bench/echo_server.py", str(echo_port)])
    platform = spawn(["-m", "services.cli", "serve", "user", "meeting"], env)
    channels: list[Channel] = []
    try:
        await wait_for_port(echo_port)
        await wait_for_port(user_port)
        await wait_for_port(meeting_port)
        # One connection per client, as real users have (a shared connection would also make the
        # clients' different tokens evict each other from HTTP/2's header table).
        echo_chs = [Channel("127.0.0.1", echo_port) for _ in range(CLIENTS)]
        meeting_chs = [Channel("127.0.0.1", meeting_port) for _ in range(CLIENTS)]
        user_ch = Channel("127.0.0.1", user_port)
        channels += [*echo_chs, *meeting_chs, user_ch]
        users = user_grpc.UserServiceStub(user_ch)
        stubs = [meeting_grpc.MeetingServiceStub(ch) for ch in meeting_chs]
        meetings = stubs[0]
        healths = [health_grpc.HealthStub(ch) for ch in echo_chs]

        async def sign_in(i: int) -> dict[str, str]:
            email = f"bench-{run}-{i}@example.test"
            await users.Register(
                user_pb2.RegisterRequest(email=email, password="benchmark password", display_name=f"B{i}")
            )
            login = await users.Login(user_pb2.LoginRequest(email=email, password="benchmark password"))
            return {"authorization": f"Bearer {login.tokens.access_token}"}

        creds = await asyncio.gather(*(sign_in(i) for i in range(CLIENTS)))
        names = [
            (
                await meetings.CreateMeeting(
                    meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(title=f"m{i}")),
                    metadata=creds[i],
                )
            ).meeting.name
            for i in range(CLIENTS)
        ]
        echo_request = health_pb2.HealthCheckRequest()

        async def echo_call(i: int) -> None:
            await healths[i].Check(echo_request)

        async def get_call(i: int) -> None:
            await stubs[i].GetMeeting(meeting_pb2.GetMeetingRequest(name=names[i]), metadata=creds[i])

        join_latencies: list[float] = []

        async def join_call(i: int) -> None:
            target = names[(i + 1) % CLIENTS]
            t0 = time.perf_counter()
            await stubs[i].JoinMeeting(meeting_pb2.JoinMeetingRequest(name=target), metadata=creds[i])
            join_latencies.append(time.perf_counter() - t0)
            await stubs[i].LeaveMeeting(meeting_pb2.LeaveMeetingRequest(name=target), metadata=creds[i])

        echo_r = await load("echo (grpclib baseline)", CLIENTS, SECONDS, echo_call)
        get_r = await load("GetMeeting", CLIENTS, SECONDS, get_call)
        join_latencies.clear()
        join_r = await load("JoinMeeting, saturated", CLIENTS, SECONDS, join_call)
        # Only the joins are timed for latency; the pair's rate is join throughput.
        join_r.latencies = join_latencies[-join_r.calls :] if join_r.calls else []
        join_latencies.clear()
        paced_r = await load(
            f"JoinMeeting, {CLIENTS / PACE_S:.0f} joins/s", CLIENTS, SECONDS, join_call, interval_s=PACE_S
        )
        paced_r.latencies = join_latencies[-paced_r.calls :] if paced_r.calls else []

        print(f"{CLIENTS} concurrent clients, {SECONDS:.0f} s each, PostgreSQL + Redis, separate processes")
        for r in (echo_r, get_r, join_r, paced_r):
            print(r.row())
        print(
            "  (saturated: every client calls back to back, so latency is clients / throughput;"
            f" paced: each client joins every {PACE_S * 1000:.0f} ms)"
        )
        ratio = get_r.throughput / echo_r.throughput
        verdict = "met" if ratio >= 0.4 else "NOT met"
        print(f"  GetMeeting / echo throughput: {ratio:.2f}  (target >= 0.40: {verdict})")
        print(
            f"  JoinMeeting p99 at {CLIENTS} clients, paced: {paced_r.p99_ms:.1f} ms  (target <= 25 ms: "
            f"{'met' if paced_r.p99_ms <= 25 else 'NOT met'}); saturated: {join_r.p99_ms:.1f} ms"
        )
    finally:
        for ch in channels:
            ch.close()
        stop(platform)
        stop(echo)
        await drop_platform(env)


def main() -> None:
    uvloop.install()
    asyncio.run(_run())
