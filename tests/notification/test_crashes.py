"""Killing the relay or the notification service mid-batch loses nothing and repeats no effect;
a reminder is sent once across kills of the service.

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
from datetime import UTC, datetime, timedelta
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
from services.notification.models import DeliveryRow, ReminderRow, WebhookRow
from services.notification.store import NotificationStore
from services.notification.wiring import MIGRATIONS as NOTIFICATION_MIGRATIONS
from tests import servers
from tests.notification.conftest import Mailbox
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


async def test_a_reminder_is_sent_once_across_kills_of_the_notification_service(
    real: dict[str, str], tmp_path: Path, smtp: tuple[Mailbox, int]
) -> None:
    """The schedule is rows, not timers: a service killed before a reminder is due sends it after
    its restart, and a service killed after sending it never sends it again."""
    mailbox, smtp_port = smtp
    notification = Database(real["db"], "notification", schema_prefix=real["schema_prefix"])
    await notification.migrate(NOTIFICATION_MIGRATIONS)
    redis = create_redis(real["redis"])
    stream = stream_of(ev.MeetingEvent, real["prefix"])

    async def invite(address: str, title: str, start: datetime) -> str:
        invitation = uuid.uuid4().hex
        event = ev.MeetingEvent(
            meeting="m1",
            title=title,
            invitation_created=ev.InvitationCreated(invitation=invitation, email=address),
        )
        event.time.GetCurrentTime()
        event.invitation_created.start_time.FromDatetime(start)
        await redis.xadd(
            stream,
            {
                "key": uuid.uuid4().hex,
                "type": ev.MeetingEvent.DESCRIPTOR.full_name,
                "data": event.SerializeToString(),
            },
        )
        return invitation

    def subjects(address: str) -> list[str]:
        return [str(m["Subject"]) for m in mailbox.to(address)]

    env = _env() | {
        "MEETMESH_DATABASE_URL": real["db"],
        "MEETMESH_REDIS_URL": real["redis"],
        "MEETMESH_REDIS_PREFIX": real["prefix"],
        "MEETMESH_SCHEMA_PREFIX": real["schema_prefix"],
        "MEETMESH_KEYS_DIR": str(tmp_path / "keys"),
        "MEETMESH_NOTIFICATION__GRPC_PORT": "0",
        "MEETMESH_NOTIFICATION__HTTP_PORT": "0",
        "MEETMESH_NOTIFICATION__SMTP_HOST": "127.0.0.1",
        "MEETMESH_NOTIFICATION__SMTP_PORT": str(smtp_port),
        "MEETMESH_NOTIFICATION__POLL_S": "0.05",
        "MEETMESH_NOTIFICATION__CLAIM_IDLE_S": "1",
        "MEETMESH_NOTIFICATION__LEASE_S": "2",
        "MEETMESH_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "services.cli", "serve", "notification"]
    address = f"reminded-{uuid.uuid4().hex[:8]}@example.test"
    invitation = await invite(address, "Planning", datetime.now(UTC) + timedelta(hours=2))
    proc = _spawn(command, env)
    try:

        async def invited() -> bool:
            # Mailed and recorded as sent: a kill between the two would mail it again (at least
            # once, as documented), which is not what this test counts.
            rows = await _rows(notification, address, "invitation")
            return subjects(address) == ["Invitation: Planning"] and [r.state for r in rows] == ["sent"]

        await wait_until(invited, within_s=60)
    finally:
        _kill(proc)  # before the reminder is due (15 minutes before the start)
    key = f"reminder:{invitation}"
    async with notification.transaction() as session:
        reminder = await session.get(ReminderRow, key)
        assert reminder is not None and not reminder.done
        # The service stays down past the reminder's due time: moved to now rather than waited for.
        reminder.due_time = utcnow() - timedelta(seconds=1)
    proc = _spawn(command, env)
    try:

        async def reminded() -> bool:
            rows = await _rows(notification, address, "reminder")
            return len(rows) == 1 and rows[0].state == "sent"

        await wait_until(reminded, within_s=60)
    finally:
        _kill(proc)  # after sending (the row says sent): nothing may send it again
    proc = _spawn(command, env)
    try:
        # Another reminder due now goes through the restarted scheduler: it has run since.
        marker = f"marker-{uuid.uuid4().hex[:8]}@example.test"
        await invite(marker, "Marker", datetime.now(UTC) + timedelta(minutes=5))

        async def marker_reminded() -> bool:
            return "Starting soon: Marker" in subjects(marker)

        await wait_until(marker_reminded, within_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
    assert subjects(address) == ["Invitation: Planning", "Starting soon: Planning"]
    assert len(await _rows(notification, address, "reminder")) == 1
    await redis.aclose()
    await notification.close()


async def _rows(db: Database, address: str, kind: str) -> list[DeliveryRow]:
    async with db.reader() as session:
        query = select(DeliveryRow).where(DeliveryRow.address == address, DeliveryRow.kind == kind)
        return list((await session.execute(query)).scalars())
