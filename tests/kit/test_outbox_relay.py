"""The outbox relay and a stream consumer on real PostgreSQL and Redis.

The relay polls slowly, and an append's kick (made inside the writer's transaction, before its
commit) still gets the event out at once: the relay looks again until the committed rows show.
Here the poll interval is an hour, so only the kick can have moved the events. A consumer created
``from_start=False`` skips what was in the stream before its group existed, and nothing after."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select

from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit import Database, create_redis
from services.kit.events import meeting_event
from services.kit.outbox import Outbox, OutboxRelay, stream_of
from services.meeting.models import OUTBOX
from services.meeting.wiring import MIGRATIONS
from tests import servers
from tests.support import wait_until

NEVER_S = 3600.0


@pytest.fixture
async def relayed() -> AsyncIterator[tuple[Database, Outbox, OutboxRelay, str]]:
    run = uuid.uuid4().hex[:8]
    prefix = f"mmtest:relay:{run}"
    db = Database(servers.postgres_url(), "meeting", schema_prefix=f"relay{run}_")
    await db.migrate(MIGRATIONS)
    redis = create_redis(servers.redis_url())
    outbox = Outbox(OUTBOX)
    relay = OutboxRelay(db, outbox, redis, prefix, poll_s=NEVER_S)
    relay.start()
    try:
        yield db, outbox, relay, stream_of(ev.MeetingEvent, prefix)
    finally:
        await relay.stop()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await db.drop_schema()
        await db.close()


async def test_a_kick_before_the_commit_still_relays_the_event(
    relayed: tuple[Database, Outbox, OutboxRelay, str],
) -> None:
    db, outbox, relay, stream = relayed
    redis = relay.redis
    for i in range(3):
        async with db.transaction() as session:
            await outbox.append(session, meeting_event(f"m{i}", meeting_ended=ev.MeetingEnded()))
            # Hold the transaction open past the kick (not waiting for anything): the relay wakes
            # and looks while the row is not yet committed, the window every real writer has.
            await asyncio.sleep(0.05)
        expected = i + 1

        async def relayed_all(n: int = expected) -> bool:
            return int(await redis.xlen(stream)) >= n

        await wait_until(relayed_all, within_s=10, every_s=0.01)
    entries = await redis.xrange(stream)
    assert len(entries) == 3  # each once


async def test_under_a_stream_of_kicks_each_round_gathers_before_the_next(
    relayed: tuple[Database, Outbox, OutboxRelay, str],
) -> None:
    """Appends back to back kick the relay during every round. A round that sent rows is followed
    no sooner than ``_GATHER_S`` after it began (sleeps never end early, so this holds on any
    machine), and so the events of several commits travel together. Until 2026-12-04 the next
    round began at once, with the few rows of one round's time."""
    from services.kit.outbox import _GATHER_S

    db, outbox, relay, stream = relayed
    loop = asyncio.get_running_loop()
    rounds: list[tuple[float, int]] = []  # (began, rows sent)
    relay_once = relay.relay_once

    async def recorded() -> int:
        began = loop.time()
        sent = await relay_once()
        rounds.append((began, sent))
        return sent

    await relay.stop()  # started by the fixture: restart it with every round recorded
    relay.relay_once = recorded  # type: ignore[method-assign]
    relay.start()
    appends = 40
    for i in range(appends):
        async with db.transaction() as session:
            await outbox.append(session, meeting_event(f"m{i}", meeting_ended=ev.MeetingEnded()))

    async def relayed_all() -> bool:  # counted when its round ends (the XADD comes before that)
        return sum(sent for _, sent in rounds) >= appends

    await wait_until(relayed_all, within_s=10, every_s=0.01)
    assert int(await relay.redis.xlen(stream)) == appends  # each event once
    sending = [(i, began) for i, (began, sent) in enumerate(rounds) if 0 < sent < relay.batch]
    for i, began in sending:
        if i + 1 < len(rounds):
            assert rounds[i + 1][0] - began >= _GATHER_S, rounds
    assert len(sending) < appends  # several commits per round


async def test_a_consumer_from_now_on_skips_the_past_and_misses_nothing_after(
    relayed: tuple[Database, Outbox, OutboxRelay, str],
) -> None:
    """``from_start=False``: the group begins at the stream's end when the consumer creates it (a
    consumer added to a running deployment), wherever that happens (here: in its own loop)."""
    from services.kit.outbox import StreamConsumer, StreamEntry

    db, outbox, relay, stream = relayed
    redis = relay.redis

    async def append(meeting: str) -> None:
        async with db.transaction() as session:
            await outbox.append(session, meeting_event(meeting, meeting_ended=ev.MeetingEnded()))

    await append("past")

    async def relayed_past() -> bool:
        return int(await redis.xlen(stream)) == 1

    await wait_until(relayed_past, within_s=10, every_s=0.01)
    seen: list[str] = []

    async def handle(entry: StreamEntry) -> None:
        event = ev.MeetingEvent.FromString(entry.data)
        seen.append(event.meeting)

    consumer = StreamConsumer(redis, [stream], "late", handle, block_ms=100, from_start=False)
    consumer.start()
    try:

        async def group_made() -> bool:
            groups = await redis.xinfo_groups(stream)
            return any(g["name"] in ("late", b"late") for g in groups)

        await wait_until(group_made, within_s=10, every_s=0.01)
        await append("future")

        async def handled() -> bool:
            return "future" in seen

        await wait_until(handled, within_s=10, every_s=0.01)
    finally:
        await consumer.stop()
    assert seen == ["future"]


@pytest.mark.parametrize("store", ["postgresql", "sqlite"])
async def test_relayed_rows_are_deleted_and_a_failed_append_keeps_them(store: str, tmp_path: Path) -> None:
    """A relay whose XADD fails (Redis refuses the connection) changes nothing: its rows stay for
    the next round. Once their events are in the stream, the rows are gone from the outbox."""
    run = uuid.uuid4().hex[:8]
    prefix = f"mmtest:relay:{run}"
    if store == "postgresql":
        db = Database(servers.postgres_url(), "meeting", schema_prefix=f"relay{run}_")
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/meeting.db", "meeting")
    await db.migrate(MIGRATIONS)
    outbox = Outbox(OUTBOX)
    redis = create_redis(servers.redis_url())
    with socket.socket() as closed:  # a port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        refused_url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    away = create_redis(refused_url)

    async def rows() -> int:
        async with db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one())

    try:
        for i in range(3):
            async with db.transaction() as session:
                await outbox.append(session, meeting_event(f"m{i}", meeting_ended=ev.MeetingEnded()))
        with pytest.raises(RedisConnectionError):
            await OutboxRelay(db, outbox, away, prefix).relay_once()
        assert await rows() == 3
        assert await OutboxRelay(db, outbox, redis, prefix).relay_once() == 3
        assert await rows() == 0
        entries = await redis.xrange(stream_of(ev.MeetingEvent, prefix))
        assert [ev.MeetingEvent.FromString(fields[b"data"]).meeting for _, fields in entries] == [
            "m0",
            "m1",
            "m2",
        ]
        assert await OutboxRelay(db, outbox, redis, prefix).relay_once() == 0  # nothing sent twice
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await away.aclose()
        if store == "postgresql":
            await db.drop_schema()
        await db.close()
