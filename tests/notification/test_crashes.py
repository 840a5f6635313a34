"""Killing the relay or the notification service mid-batch loses nothing and repeats no effect.

Real PostgreSQL and Redis only: the processes share them (the in-process Redis of the embedded
default lives and dies with its one process)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit import Database, create_redis
from services.kit.events import meeting_event
from services.kit.outbox import Outbox, OutboxRelay, StreamConsumer, StreamEntry, stream_of
from services.kit.timestamps import utcnow
from services.meeting.models import OUTBOX
from services.meeting.wiring import MIGRATIONS as MEETING_MIGRATIONS
from services.notification.models import DeliveryRow, WebhookRow
from services.notification.store import NotificationStore
from services.notification.wiring import MIGRATIONS as NOTIFICATION_MIGRATIONS
from tests import servers
from tests.notification.receiver import Receiver
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
N = 150


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "gen"), str(REPO), str(REPO / "clients" / "python")])
    return env


@pytest.fixture
async def real() -> AsyncIterator[dict[str, str]]:
    run = uuid.uuid4().hex[:8]
    names = {
        "db": servers.postgres_url(),
        "redis": servers.redis_url(),
        "schema_prefix": f"crash{run}_",
        "prefix": f"mmtest:crash:{run}",
    }
    yield names
    redis = create_redis(names["redis"])
    keys = [k async for k in redis.scan_iter(match=f"{names['prefix']}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    for service in ("meeting", "notification"):
        db = Database(names["db"], service, schema_prefix=names["schema_prefix"])
        await db.drop_schema()
        await db.close()


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


async def test_killing_the_relay_mid_batch_loses_nothing_and_repeats_no_effect(real: dict[str, str]) -> None:
    db = Database(real["db"], "meeting", schema_prefix=real["schema_prefix"])
    await db.migrate(MEETING_MIGRATIONS)
    outbox = Outbox(OUTBOX)
    for i in range(N):
        async with db.transaction() as session:
            await outbox.append(session, meeting_event(f"m{i}", meeting_ended=ev.MeetingEnded()))
    redis = create_redis(real["redis"])
    stream = stream_of(ev.MeetingEvent, real["prefix"])
    proc = _spawn(
        [
            sys.executable,
            "-m",
            "tests.notification.relay_process",
            real["db"],
            real["schema_prefix"],
            real["redis"],
            real["prefix"],
        ],
        _env(),
    )
    try:

        async def some() -> bool:
            return int(await redis.xlen(stream)) >= N // 3

        await wait_until(some, within_s=30, every_s=0.001)
    finally:
        _kill(proc)
    assert int(await redis.xlen(stream)) < N  # killed mid-way
    relay = OutboxRelay(db, outbox, redis, real["prefix"], batch=10)
    while await relay.relay_once():
        pass
    entries = await redis.xrange(stream)
    keys = Counter(fields[b"key"].decode() for _, fields in entries)
    assert len(keys) == N  # nothing lost (a batch cut short by the kill may appear twice)
    # Consumers deduplicate by key in the same transaction as the effect: each effect once.
    notification = Database(real["db"], "notification", schema_prefix=real["schema_prefix"])
    await notification.migrate(NOTIFICATION_MIGRATIONS)
    store = NotificationStore(notification)
    effects: Counter[str] = Counter()

    async def handle(entry: StreamEntry) -> None:
        async def effect(_session: object) -> None:
            effects[entry.key] += 1

        await store.consume(entry.key, effect)

    consumer = StreamConsumer(redis, [stream], "crash-test", handle, block_ms=50)
    await consumer.ensure_groups()
    while await consumer.read_once():
        pass
    assert len(effects) == N and set(effects.values()) == {1}
    await redis.aclose()
    await db.close()
    await notification.close()


async def test_killing_the_notification_service_mid_batch_loses_no_delivery(
    real: dict[str, str], tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    notification = Database(real["db"], "notification", schema_prefix=real["schema_prefix"])
    await notification.migrate(NOTIFICATION_MIGRATIONS)
    async with notification.transaction() as session:
        session.add(
            WebhookRow(
                id=uuid.uuid4().hex,
                owner_user_id="admin",
                url=receiver.url("/all"),
                event_types='["*"]',
                description="",
                secret="whsec_" + "A" * 43 + "=",
                previous_secret="",
                previous_secret_expire_time=None,
                owner_is_admin=True,
                create_time=utcnow(),
            )
        )
    redis = create_redis(real["redis"])
    stream = stream_of(ev.MeetingEvent, real["prefix"])
    for i in range(N):
        event = meeting_event(
            f"m{i}", recording_ready=ev.RecordingReady(recording=f"meetings/m{i}/recordings/r")
        )
        await redis.xadd(
            stream,
            {
                "key": uuid.uuid4().hex,
                "type": ev.MeetingEvent.DESCRIPTOR.full_name,
                "data": event.SerializeToString(),
            },
        )
    env = _env() | {
        "MEETMESH_DATABASE_URL": real["db"],
        "MEETMESH_REDIS_URL": real["redis"],
        "MEETMESH_REDIS_PREFIX": real["prefix"],
        "MEETMESH_SCHEMA_PREFIX": real["schema_prefix"],
        "MEETMESH_KEYS_DIR": str(tmp_path / "keys"),
        "MEETMESH_NOTIFICATION__GRPC_PORT": "0",
        "MEETMESH_NOTIFICATION__HTTP_PORT": "0",
        "MEETMESH_NOTIFICATION__ALLOW_LOOPBACK": "true",
        "MEETMESH_NOTIFICATION__CLAIM_IDLE_S": "1",
        "MEETMESH_NOTIFICATION__LEASE_S": "2",
        "MEETMESH_NOTIFICATION__CONCURRENCY": "8",
        "MEETMESH_NOTIFICATION__PER_ENDPOINT_CONCURRENCY": "8",
        "MEETMESH_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "services.cli", "serve", "notification"]
    proc = _spawn(command, env)
    try:

        async def some() -> bool:
            return len(receiver.received) >= N // 4

        await wait_until(some, within_s=60, every_s=0.001)
    finally:
        _kill(proc)
    assert len({r.headers["webhook-id"] for r in receiver.received}) < N  # killed mid-way
    proc = _spawn(command, env)
    try:

        async def all_arrived() -> bool:
            return len({r.headers["webhook-id"] for r in receiver.received}) >= N

        await wait_until(all_arrived, within_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
        await receiver.stop()
    async with notification.reader() as session:
        rows = int((await session.execute(select(func.count()).select_from(DeliveryRow))).scalar() or 0)
    assert rows == N  # every event became exactly one delivery
    ids = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert len(ids) == N
    # Sending is at least once: only messages in flight at the kill (at most the concurrency)
    # can arrive twice, with the same webhook-id for the receiver to drop.
    assert sum(ids.values()) - N <= 8
    await redis.aclose()
    await notification.close()
