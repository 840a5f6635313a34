"""Revocations reach every process: one revokes, another's in-memory view follows (real Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from meetmesh.user.events.v1.events_pb2 import Revocation
from services.kit import create_redis, events
from services.kit.auth import Principal
from services.kit.revocation import Revocations
from tests.conftest import REDIS_URL
from tests.support import wait_until


@pytest.mark.parametrize("url", [REDIS_URL, "memory://"], ids=["real", "embedded"])
async def test_a_revocation_in_one_process_reaches_the_others(url: str) -> None:
    prefix = f"mmtest:rev:{uuid.uuid4().hex[:8]}"
    writer_redis, reader_redis = create_redis(url), create_redis(url)
    writer = Revocations(writer_redis, prefix, ttl_s=60)
    early = Principal(user_id="early", session_id="s-early")
    await writer.revoke_session("s-early")  # before the reader starts: found by its initial load
    reader = Revocations(reader_redis, prefix, ttl_s=60)
    reader.start()
    try:
        assert await reader.is_revoked(early)
        victim = Principal(user_id="u1", session_id="s1")
        bystander = Principal(user_id="u2", session_id="s2")
        assert not await reader.is_revoked(victim)

        async def synced() -> bool:
            return reader._synced

        await wait_until(synced)
        await writer.revoke_session("s1")
        assert await writer.is_revoked(victim)  # the writer itself: at once
        await wait_until(lambda: reader.is_revoked(victim))
        await writer.revoke_user("u2")
        await wait_until(lambda: reader.is_revoked(bystander))
        assert not await reader.is_revoked(Principal(user_id="u3", session_id="s3"))
    finally:
        await reader.stop()
        keys = [k async for k in writer_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await writer_redis.delete(*keys)
        await writer_redis.aclose()
        await reader_redis.aclose()


async def test_a_revocation_travels_as_the_contracts_event_on_its_channel() -> None:
    """The channel and the payload come from the contract (``meetmesh.user.events.v1.Revocation``)."""
    prefix = f"mmtest:rev:{uuid.uuid4().hex[:8]}"
    writer_redis, listener_redis = create_redis(REDIS_URL), create_redis(REDIS_URL)
    channel = events.channel_of(Revocation(), prefix)
    assert channel == f"{prefix}:auth:revocations"
    pubsub = listener_redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    writer = Revocations(writer_redis, prefix, ttl_s=60)
    try:
        await writer.revoke_session("s1")
        await writer.revoke_user("u1")
        received: list[Revocation | None] = []
        async with asyncio.timeout(10):
            while len(received) < 2:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    received.append(events.decode(Revocation, message["data"]))
        assert received == [Revocation(session="s1"), Revocation(user="u1")]
        marks = {k.decode() async for k in writer_redis.scan_iter(match=f"{prefix}:auth:revoked:*")}
        assert marks == {f"{prefix}:auth:revoked:sid:s1", f"{prefix}:auth:revoked:uid:u1"}
    finally:
        await pubsub.aclose()
        keys = [k async for k in writer_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await writer_redis.delete(*keys)
        await writer_redis.aclose()
        await listener_redis.aclose()


async def test_a_message_that_is_no_revocation_is_ignored_and_the_listener_stays_up() -> None:
    prefix = f"mmtest:rev:{uuid.uuid4().hex[:8]}"
    writer_redis, reader_redis = create_redis(REDIS_URL), create_redis(REDIS_URL)
    channel = events.channel_of(Revocation(), prefix)
    reader = Revocations(reader_redis, prefix, ttl_s=60)
    reader.start()
    writer = Revocations(writer_redis, prefix, ttl_s=60)
    try:

        async def subscribed() -> bool:
            counts = await writer_redis.pubsub_numsub(channel)
            return bool(counts and counts[0][1] > 0)

        await wait_until(subscribed)
        await writer_redis.publish(channel, b"sid:not-a-proto")  # the old ad-hoc payload
        await writer_redis.publish(channel, events.encode(Revocation()))  # names nothing
        await writer.revoke_session("s9")
        await wait_until(lambda: reader.is_revoked(Principal(user_id="u9", session_id="s9")))
        assert not await reader.is_revoked(Principal(user_id="u8", session_id="not-a-proto"))
    finally:
        await reader.stop()
        keys = [k async for k in writer_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await writer_redis.delete(*keys)
        await writer_redis.aclose()
        await reader_redis.aclose()
