"""Poison messages: an event whose handling keeps failing goes to the dead-letter stream after
``max_deliveries`` and never holds up the events behind it; a store outage is not poison."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit import create_redis
from services.kit.events import meeting_event
from services.kit.outbox import StreamConsumer, StreamEntry, dead_letter_stream, stream_of
from services.notification.store import NotificationStore
from services.notification.wiring import GROUP
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.support import start_notify_platform
from tests.support import wait_until


class Boom(Exception):
    pass


async def _add(redis: object, stream: str, key: str, data: bytes = b"x") -> None:
    await redis.xadd(stream, {"key": key, "type": "test.Event", "data": data})  # type: ignore[attr-defined]


async def test_a_poison_entry_is_dead_lettered_after_max_deliveries_and_blocks_nothing(
    stores: dict[str, str],
) -> None:
    redis = create_redis(stores["redis_url"])
    stream = f"{stores['redis_prefix']}:poison:stream"
    calls: Counter[str] = Counter()
    handled: list[str] = []

    async def handle(entry: StreamEntry) -> None:
        calls[entry.key] += 1
        if entry.key == "poison":
            raise Boom
        handled.append(entry.key)

    consumer = StreamConsumer(
        redis, [stream], "g", handle, block_ms=0, poll_s=0.01, claim_idle_s=0.2, max_deliveries=3
    )
    await _add(redis, stream, "poison", b"\xff\x00")
    for i in range(20):
        await _add(redis, stream, f"good{i}")
    consumer.start()
    try:

        async def good_done() -> bool:
            return len(handled) == 20

        # The entries behind the poison one are handled on the first pass, not after claims.
        await wait_until(good_done, within_s=15)
        assert calls["poison"] < 3

        dead = dead_letter_stream(stream, "g")

        async def dead_lettered() -> bool:
            return int(await redis.xlen(dead)) == 1

        await wait_until(dead_lettered, within_s=15)
        # Handled after the poison one went away, and the poison one was not tried again.
        await _add(redis, stream, "after")

        async def after() -> bool:
            return "after" in handled

        await wait_until(after, within_s=15)
    finally:
        await consumer.stop()
    assert calls["poison"] == 3
    assert sorted(set(handled)) == sorted([*(f"good{i}" for i in range(20)), "after"])
    assert all(calls[k] == 1 for k in handled)
    [(_, fields)] = await redis.xrange(dead_letter_stream(stream, "g"))
    assert fields[b"key"] == b"poison" and fields[b"data"] == b"\xff\x00"
    assert fields[b"stream"] == stream.encode() and fields[b"group"] == b"g"
    assert fields[b"deliveries"] == b"3" and fields[b"error"] == b"Boom"
    summary = await redis.xpending(stream, "g")
    assert summary["pending"] == 0  # acknowledged: nothing left to claim
    await redis.delete(stream, dead)
    await redis.aclose()


async def test_an_outage_is_not_poison(stores: dict[str, str]) -> None:
    """While the handler's store is away (its probe fails too), a failing entry is retried past
    ``max_deliveries`` and handled once the store is back; nothing is dead-lettered."""
    redis = create_redis(stores["redis_url"])
    stream = f"{stores['redis_prefix']}:outage:stream"
    store_up = False
    calls: Counter[str] = Counter()

    async def probe() -> None:
        if not store_up:
            raise ConnectionError("store away")

    async def handle(entry: StreamEntry) -> None:
        calls[entry.key] += 1
        if not store_up:
            raise ConnectionError("store away")

    consumer = StreamConsumer(
        redis, [stream], "g", handle, block_ms=0, poll_s=0.01, claim_idle_s=0.1, max_deliveries=2, probe=probe
    )
    await _add(redis, stream, "e1")
    consumer.start()
    try:

        async def tried_often() -> bool:
            return calls["e1"] >= 4

        await wait_until(tried_often, within_s=15)
        store_up = True

        async def acknowledged() -> bool:
            return int((await redis.xpending(stream, "g"))["pending"]) == 0

        await wait_until(acknowledged, within_s=15)
    finally:
        await consumer.stop()
    assert int(await redis.xlen(dead_letter_stream(stream, "g"))) == 0
    await redis.delete(stream)
    await redis.aclose()


@pytest.mark.parametrize("stores", ["real"], indirect=True)
async def test_the_notification_service_dead_letters_a_malformed_event_and_goes_on(
    stores: dict[str, str], keys_dir: Path, smtp: tuple[Mailbox, int]
) -> None:
    """A producer's malformed event (an invitation to a 300-character address, which PostgreSQL
    refuses to store) fails on every try; the invitation after it is mailed all the same."""
    mailbox, port = smtp
    options = notification_options(port, claim_idle_s=0.3, max_event_deliveries=2)
    notify = await start_notify_platform(stores, keys_dir, options, services=("notification",))
    redis = notify.runtime.redis
    stream = stream_of(ev.MeetingEvent, stores["redis_prefix"])
    start = datetime.now(UTC) + timedelta(days=2)
    try:
        bad_key, good_key = uuid.uuid4().hex, uuid.uuid4().hex
        good = f"after-poison-{uuid.uuid4().hex[:8]}@example.test"
        for key, address in ((bad_key, "x" * 290 + "@example.test"), (good_key, good)):
            event = meeting_event(
                "m1",
                invitation_created=ev.InvitationCreated(invitation=uuid.uuid4().hex, email=address),
            )
            event.invitation_created.start_time.FromDatetime(start)
            await redis.xadd(
                stream,
                {"key": key, "type": ev.MeetingEvent.DESCRIPTOR.full_name, "data": event.SerializeToString()},
            )

        async def mailed() -> bool:
            return len(mailbox.to(good)) == 1

        await wait_until(mailed, within_s=20)
        dead = dead_letter_stream(stream, GROUP)

        async def dead_lettered() -> bool:
            return int(await redis.xlen(dead)) == 1

        await wait_until(dead_lettered, within_s=20)
        [(_, fields)] = await redis.xrange(dead)
        assert fields[b"key"].decode() == bad_key and fields[b"deliveries"] == b"2"
        assert int((await redis.xpending(stream, GROUP))["pending"]) == 0
        store = NotificationStore(notify.runtime.database("notification"))
        assert not await store.processed(bad_key) and await store.processed(good_key)
    finally:
        await notify.close()


async def test_partitions_are_handled_side_by_side_and_each_in_order(stores: dict[str, str]) -> None:
    """With ``concurrency``, a handler waiting on one partition does not hold up the others, and
    the entries of one partition are handled in stream order."""
    redis = create_redis(stores["redis_url"])
    stream = f"{stores['redis_prefix']}:partitions:stream"
    b_handled = asyncio.Event()
    order: dict[str, list[str]] = {"a": [], "b": []}

    async def handle(entry: StreamEntry) -> None:
        part = entry.key[0]
        if entry.key == "a0":
            # Only returns once an entry of partition b was handled: serial handling never would.
            async with asyncio.timeout(10):
                await b_handled.wait()
        order[part].append(entry.key)
        if part == "b":
            b_handled.set()

    consumer = StreamConsumer(
        redis,
        [stream],
        "g",
        handle,
        block_ms=0,
        poll_s=0.01,
        concurrency=4,
        partition=lambda entry: entry.key[0],
    )
    for key in ("a0", "a1", "b0", "a2", "b1"):
        await _add(redis, stream, key)
    consumer.start()
    try:

        async def all_handled() -> bool:
            return len(order["a"]) + len(order["b"]) == 5

        await wait_until(all_handled, within_s=15)
    finally:
        await consumer.stop()
    assert order == {"a": ["a0", "a1", "a2"], "b": ["b0", "b1"]}
    assert int((await redis.xpending(stream, "g"))["pending"]) == 0
    await redis.delete(stream)
    await redis.aclose()
