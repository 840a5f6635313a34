"""Commands from one loop turn sent as one pipeline (``services/kit/redis.py: batched``), against
the real Redis: fifty concurrent callers share one connection where alone they open fifty, each
gets its own reply or its own error, a caller that goes away leaves the others their replies, and
a join's generation still starts after Redis has lost its scripts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.kit.joins import JoinSessions
from services.kit.redis import batched
from tests.conftest import REDIS_URL

CALLERS = 50


@pytest.fixture
async def named() -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis, str]]:
    """A client with a name of its own (to count its connections), and one to look with."""
    name = f"batching-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(REDIS_URL, client_name=name)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield client, admin, name
    finally:
        await client.aclose()
        await admin.aclose()


async def _connections(admin: aioredis.Redis, name: str) -> int:
    return sum(1 for c in await admin.client_list() if c.get("name") == name)


async def test_concurrent_callers_share_one_pipeline_and_get_their_own_replies(
    named: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, admin, name = named
    prefix = f"mmtest:batching:{uuid.uuid4().hex[:8]}"
    # Alone, concurrent commands each take a pooled connection of their own.
    await asyncio.gather(*(client.incr(f"{prefix}:alone:{i}") for i in range(CALLERS)))
    assert await _connections(admin, name) == CALLERS
    await client.connection_pool.disconnect()

    await admin.set(f"{prefix}:text", "not a number")
    batch = batched(client)
    keys = [f"{prefix}:{i}" for i in range(CALLERS)]
    await admin.set(keys[7], 41)
    replies = await asyncio.gather(
        *(batch.execute("INCRBY", key, i) for i, key in enumerate(keys)),
        batch.execute("INCR", f"{prefix}:text"),
        return_exceptions=True,
    )
    assert replies[:CALLERS] == [41 + 7 if i == 7 else i for i in range(CALLERS)]
    assert isinstance(replies[-1], ResponseError)  # that caller's own error, nobody else's
    assert await _connections(admin, name) == 1


async def test_a_caller_that_goes_away_leaves_the_others_their_replies() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        batch = batched(client)
        key = f"mmtest:batching:{uuid.uuid4().hex[:8]}"
        first, gone, last = batch.execute("INCR", key), batch.execute("INCR", key), batch.execute("INCR", key)
        gone.cancel()
        assert await first == 1
        assert await last == 3  # the cancelled caller's command was sent with the batch
        assert await client.get(key) == b"3"
    finally:
        await client.aclose()


async def test_a_generation_starts_after_redis_lost_its_scripts() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        joins = JoinSessions(client, f"mmtest:batching:{uuid.uuid4().hex[:8]}")
        await client.script_flush()
        generation, started = await joins.start("m1", "p1")
        assert started and len(generation) == 16
        assert await joins.start("m1", "p1") == (generation, False)  # the script is loaded again
        assert await joins.live("m1", "p1") == generation
    finally:
        await client.aclose()
