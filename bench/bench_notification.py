"""Durable events and notification delivery (issue 12), each against a baseline of the same run.

1. Outbox write cost: a transaction that inserts one row (the change), without and with the event
   appended to the outbox in the same transaction (what a join costs the meeting service more).
2. Event-to-delivery latency at a steady 100 events/s: each event is written to a real outbox,
   relayed to Redis Streams, consumed by the notification service (its own process), and becomes
   one email (to aiosmtpd) and one webhook (to an HTTP receiver); latency runs from the outbox
   commit to the message's arrival. Baseline: one direct SMTP send and one direct signed POST.
   Target: p99 at most 1 s.
3. Delivery throughput: a burst of events written at once; emails/s into aiosmtpd and webhooks/s
   into the receiver until the last arrives, against direct sends with the same concurrency.

Real PostgreSQL and Redis (``bench.support``); nothing asserts, the figures are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import psutil
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.support import Result, load, pg_url, redis_url, spawn, stop, wait_for_port
from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit import Database, create_redis
from services.kit.outbox import Outbox, OutboxRelay
from services.kit.timestamps import utcnow
from services.meeting.models import OUTBOX
from services.meeting.wiring import MIGRATIONS as MEETING_MIGRATIONS
from services.notification.channels import webhooks as wh
from services.notification.models import RecipientRow, WebhookRow
from services.notification.wiring import MIGRATIONS as NOTIFICATION_MIGRATIONS
from services.stack.servers import free_port

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
RATE = 100  # events per second, the load
BURST = int(os.environ.get("BENCH_NOTIFICATION_BURST", "1000"))
HOST_EMAIL = "bench-host@example.test"
SECRET = "whsec_" + "QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5DSEJFTkNIMTI="


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p99 {_pct(values, 0.99) * 1000:7.1f} ms"


# -- 1. the outbox's cost on a write -------------------------------------------------------------
async def outbox_cost(run: str) -> None:
    print("outbox write cost (one transaction: insert a row, +/- the event in the outbox):")
    db = Database(pg_url(), "meeting", schema_prefix=f"bench{run}_")
    await db.migrate(MEETING_MIGRATIONS)
    schema = f"bench{run}_meeting"
    change = Table(
        "bench_change",
        MetaData(schema=schema),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("note", String(64)),
    )
    async with db.engine.begin() as conn:
        await conn.run_sync(change.metadata.create_all)
    outbox = Outbox(OUTBOX)
    event = ev.MeetingEvent(meeting="m", participant_admitted=ev.ParticipantChange(participant="p", user="u"))

    async def plain(_i: int) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(insert(change).values(note="joined"))

    async def with_outbox(_i: int) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(insert(change).values(note="joined"))
            await outbox.append(conn, event)

    # Alternating short rounds, so that a change in the machine's load hits both alike.
    rounds = 5
    base = Result("change only (baseline)", 0, 0, 0.0, [])
    boxed = Result("change + outbox event", 0, 0, 0.0, [])
    for _ in range(rounds):
        for total, call in ((base, plain), (boxed, with_outbox)):
            part = await load(total.name, 8, SECONDS / rounds, call, warmup=0.2)
            total.calls += part.calls
            total.errors += part.errors
            total.seconds += part.seconds
            total.latencies += part.latencies
    print(base.row())
    print(boxed.row())
    print(
        f"  ratio: throughput x{boxed.throughput / base.throughput:.2f}, "
        f"p50 x{boxed.p50_ms / base.p50_ms:.2f}, p99 x{boxed.p99_ms / base.p99_ms:.2f}"
    )
    await db.drop_schema()
    await db.close()


# -- receivers ------------------------------------------------------------------------------------
@dataclass
class Arrivals:
    """Arrival times of emails and webhooks, by meeting id."""

    email: dict[str, float] = field(default_factory=dict)
    webhook: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        subject = next(
            (line for line in envelope.content.split(b"\r\n") if line.startswith(b"Subject:")), b""
        )
        meeting = subject.decode(errors="replace").rsplit(" ", 1)[-1]
        with self.lock:
            self.email.setdefault(meeting, now)
        return "250 OK"

    async def webhook_post(self, request: Request) -> Response:
        body = await request.body()
        now = time.time()
        meeting = json.loads(body)["data"]["meeting"].split("/", 1)[1]
        with self.lock:
            self.webhook.setdefault(meeting, now)
        return Response(status_code=204)


async def start_receiver(arrivals: Arrivals) -> tuple[uvicorn.Server, int]:
    import socket

    app = Starlette(routes=[Route("/hook", arrivals.webhook_post, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    return server, int(sock.getsockname()[1])


# -- 2 and 3: event to delivery ----------------------------------------------------------------------
async def deliveries(run: str) -> None:
    prefix, schema_prefix = f"mmbench{run}", f"bench{run}_"
    meeting_db = Database(pg_url(), "meeting", schema_prefix=schema_prefix)
    await meeting_db.migrate(MEETING_MIGRATIONS)
    notification_db = Database(pg_url(), "notification", schema_prefix=schema_prefix)
    await notification_db.migrate(NOTIFICATION_MIGRATIONS)
    arrivals = Arrivals()
    smtp_port = free_port()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    receiver, hook_port = await start_receiver(arrivals)
    hook_url = f"http://127.0.0.1:{hook_port}/hook"
    async with notification_db.transaction() as session:
        session.add(
            RecipientRow(
                user_id="benchhost",
                email=HOST_EMAIL,
                display_name="Host",
                locale="en",
                opt_outs="[]",
                update_time=utcnow(),
            )
        )
        session.add(
            WebhookRow(
                id=uuid.uuid4().hex,
                owner_user_id="benchhost",
                url=hook_url,
                event_types='["recording.ready"]',
                description="bench",
                secret=SECRET,
                previous_secret="",
                previous_secret_expire_time=None,
                owner_is_admin=False,
                create_time=utcnow(),
            )
        )
    grpc_port = free_port()
    env = {
        "MEETMESH_DATABASE_URL": pg_url(),
        "MEETMESH_REDIS_URL": redis_url(),
        "MEETMESH_REDIS_PREFIX": prefix,
        "MEETMESH_SCHEMA_PREFIX": schema_prefix,
        "MEETMESH_KEYS_DIR": tempfile.mkdtemp(prefix="meetmesh-bench-keys-"),
        "MEETMESH_LOG_LEVEL": "WARNING",
        "MEETMESH_NOTIFICATION__GRPC_PORT": str(grpc_port),
        "MEETMESH_NOTIFICATION__HTTP_PORT": str(free_port()),
        "MEETMESH_NOTIFICATION__SMTP_HOST": "127.0.0.1",
        "MEETMESH_NOTIFICATION__SMTP_PORT": str(smtp_port),
        "MEETMESH_NOTIFICATION__ALLOW_LOOPBACK": "true",
        "MEETMESH_NOTIFICATION__RATE_PER_HOUR": "1000000000",
        "MEETMESH_NOTIFICATION__RATE_BURST": "1000000",
        "MEETMESH_NOTIFICATION__PER_ENDPOINT_CONCURRENCY": "32",
        "MEETMESH_NOTIFICATION__POLL_S": "0.05",
    }
    service = spawn(["-m", "services.cli", "serve", "notification"], env)
    redis = create_redis(redis_url())
    relay = OutboxRelay(meeting_db, Outbox(OUTBOX), redis, prefix, poll_s=0.01)
    outbox = relay.outbox
    committed: dict[str, float] = {}

    async def emit(meeting: str) -> None:
        event = ev.MeetingEvent(
            meeting=meeting,
            host="benchhost",
            title=f"bench {meeting}",
            recording_ready=ev.RecordingReady(recording=f"meetings/{meeting}/recordings/r"),
        )
        event.time.FromDatetime(datetime.now(UTC))
        async with meeting_db.engine.begin() as conn:
            await outbox.append(conn, event)
        committed[meeting] = time.time()

    async def all_arrived(meetings: list[str], within_s: float) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with arrivals.lock:
                if all(m in arrivals.email and m in arrivals.webhook for m in meetings):
                    return True
            await asyncio.sleep(0.05)
        return False

    try:
        await wait_for_port(grpc_port, 120)
        relay.start()
        # Warm-up: the first events pay for connections and the consumer group.
        warm = [f"w{i}" for i in range(20)]
        for m in warm:
            await emit(m)
        await all_arrived(warm, 60)

        # -- 2. steady 100 events/s
        proc = psutil.Process(service.pid)
        print(
            f"(machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}: the figures are only "
            "comparable with the baselines of the same run)"
        )
        steady = [f"s{i}" for i in range(int(RATE * SECONDS))]
        me = psutil.Process()
        cpu_before = sum(proc.cpu_times()[:2])
        bench_cpu_before = sum(me.cpu_times()[:2])
        started = time.perf_counter()
        for i, m in enumerate(steady):
            delay = started + i / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await emit(m)
        achieved = len(steady) / (time.perf_counter() - started)
        complete = await all_arrived(steady, 120)
        cpu_per_event = (sum(proc.cpu_times()[:2]) - cpu_before) / len(steady)
        bench_cpu_per_event = (sum(me.cpu_times()[:2]) - bench_cpu_before) / len(steady)
        email_lat = [arrivals.email[m] - committed[m] for m in steady if m in arrivals.email]
        hook_lat = [arrivals.webhook[m] - committed[m] for m in steady if m in arrivals.webhook]
        base_smtp, base_hook = await _baseline_latency(smtp_port, hook_url)
        print(
            f"\nevent-to-delivery latency at {achieved:.0f} events/s ({len(steady)} events, "
            f"outbox commit -> arrival{'' if complete else ', SOME MISSING'}):"
        )
        print(f"  email   (outbox->relay->stream->service->SMTP)   {_ms(email_lat)}")
        print(f"  webhook (outbox->relay->stream->service->HTTP)   {_ms(hook_lat)}")
        print(f"  baseline: one direct SMTP send                  {_ms(base_smtp)}")
        print(f"  baseline: one direct signed webhook POST        {_ms(base_hook)}")
        queued, sending = await _stages(notification_db, committed, steady)
        print(f"  of which: outbox commit -> delivery queued    {_ms(queued)}")
        print(f"            delivery queued -> sent             {_ms(sending)}")
        print(
            f"  the service's CPU per event (one email + one webhook): {cpu_per_event * 1000:.1f} ms "
            f"(one core sustains about {1 / cpu_per_event:.0f} events/s)"
        )
        print(
            f"  the bench's own CPU per event (emitter, relay, aiosmtpd, receiver; same cores): "
            f"{bench_cpu_per_event * 1000:.1f} ms"
        )
        p99 = max(_pct(email_lat, 0.99), _pct(hook_lat, 0.99))
        print(f"  target p99 <= 1000 ms: {'met' if p99 <= 1.0 else 'NOT met'} ({p99 * 1000:.0f} ms)")

        # -- 3. burst throughput
        burst = [f"b{i}" for i in range(BURST)]
        t0 = time.time()
        await asyncio.gather(*(emit(m) for m in burst[: BURST // 2]))
        await asyncio.gather(*(emit(m) for m in burst[BURST // 2 :]))
        complete = await all_arrived(burst, 300)
        email_s = max(arrivals.email.get(m, t0) for m in burst) - t0
        hook_s = max(arrivals.webhook.get(m, t0) for m in burst) - t0
        direct_email, direct_hook = await _baseline_throughput(smtp_port, hook_url, min(BURST, 500))
        print(
            f"\ndelivery throughput, a burst of {BURST} events (each: one email and one webhook)"
            f"{'' if complete else ', SOME MISSING'}:"
        )
        print(
            f"  emails into aiosmtpd        {BURST / email_s:8.0f} /s   "
            f"(direct SMTP, 32 at once: {direct_email:.0f} /s, ratio x{BURST / email_s / direct_email:.2f})"
        )
        print(
            f"  webhooks into the receiver  {BURST / hook_s:8.0f} /s   "
            f"(direct POSTs, 32 at once: {direct_hook:.0f} /s, ratio x{BURST / hook_s / direct_hook:.2f})"
        )
    finally:
        await relay.stop()
        stop(service)
        receiver.should_exit = True
        await receiver.shutdown()
        smtp.stop()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        for db in (meeting_db, notification_db):
            await db.drop_schema()
            await db.close()


async def _stages(
    db: Database, committed: dict[str, float], meetings: list[str]
) -> tuple[list[float], list[float]]:
    """Where the time goes: commit -> the delivery row (the consumer routed the event), and the
    row -> recorded as sent (the queue), from the service's own rows."""
    from sqlalchemy import select

    from services.notification.models import DeliveryRow

    wanted = set(meetings)
    queued, sending = [], []
    async with db.reader() as session:
        rows = (await session.execute(select(DeliveryRow).where(DeliveryRow.state == "sent"))).scalars()
        for row in rows:
            meeting = (
                json.loads(row.payload).get("data", {}).get("meeting", "") if row.channel == "webhook" else ""
            )
            meeting = (
                meeting.split("/", 1)[1] if "/" in meeting else json.loads(row.payload).get("title", "")[6:]
            )
            if meeting not in wanted:
                continue
            created = row.create_time.timestamp()
            queued.append(created - committed[meeting])
            sending.append(row.update_time.timestamp() - created)
    return queued, sending


def _smtp_send(port: int, n: int) -> None:
    message = EmailMessage()
    message["From"] = "bench@example.test"
    message["To"] = "direct@example.test"
    message["Subject"] = f"direct d{n}"
    message.set_content("direct")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


async def _baseline_latency(smtp_port: int, hook_url: str) -> tuple[list[float], list[float]]:
    smtp, hook = [], []
    async with httpx.AsyncClient() as client:
        for n in range(50):
            t = time.perf_counter()
            await asyncio.to_thread(_smtp_send, smtp_port, n)
            smtp.append(time.perf_counter() - t)
            body = json.dumps({"type": "x", "data": {"meeting": f"meetings/d{n}"}}).encode()
            t = time.perf_counter()
            await client.post(hook_url, content=body, headers=wh.headers([SECRET], f"msg_d{n}", body))
            hook.append(time.perf_counter() - t)
    return smtp, hook


async def _baseline_throughput(smtp_port: int, hook_url: str, n: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(32)

    async def mail(i: int) -> None:
        async with gate:
            await asyncio.to_thread(_smtp_send, smtp_port, i)

    t = time.perf_counter()
    await asyncio.gather(*(mail(i) for i in range(n)))
    mails = n / (time.perf_counter() - t)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:

        async def post(i: int) -> None:
            body = json.dumps({"type": "x", "data": {"meeting": f"meetings/t{i}"}}).encode()
            async with gate:
                await client.post(hook_url, content=body, headers=wh.headers([SECRET], f"msg_t{i}", body))

        t = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(n)))
        hooks = n / (time.perf_counter() - t)
    return mails, hooks


async def _main() -> None:
    run = uuid.uuid4().hex[:6]
    await outbox_cost(run)
    await deliveries(run)
    engine = create_async_engine(pg_url())
    async with engine.begin() as conn:
        for svc in ("meeting", "notification"):
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "bench{run}_{svc}" CASCADE'))
    await engine.dispose()


def main() -> None:
    asyncio.run(_main())
