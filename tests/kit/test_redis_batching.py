"""Commands from one loop turn sent in one write (``services/kit/redis.py: batched``), against
the real Redis: fifty concurrent callers share one connection where alone they open fifty, each
gets its own reply or its own error, a caller that goes away leaves the others their replies, a
join's generation still starts after Redis has lost its scripts, batches in flight never hold
more than ``MAX_IN_FLIGHT`` connections, a batch whose connection Redis closed is sent again on a
new one, and the batcher's connections close with the client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.kit.joins import JoinSessions
from services.kit.redis import Batched, batched
from tests.conftest import REDIS_URL
from tests.support import wait_until

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


async def test_batches_in_flight_hold_at_most_max_in_flight_connections(
    named: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, admin, name = named
    key = f"mmtest:batching:{uuid.uuid4().hex[:8]}"
    batch = batched(client)
    # Redis answers nobody for 300 ms (new connections' handshakes included): every batch sent
    # meanwhile stays in flight.
    assert await admin.client_pause(300, all=True)
    commands = []
    for _ in range(30):  # a batch per loop turn
        commands.append(batch.execute("INCR", key))
        await asyncio.sleep(0)
    assert not any(command.done() for command in commands)
    # Each counted once (batches on different connections may be answered in either order).
    assert sorted(await asyncio.gather(*commands)) == list(range(1, 31))
    # The first MAX_IN_FLIGHT turns went out on a connection each; the rest waited and went
    # together after the first answer.
    assert await _connections(admin, name) == Batched.MAX_IN_FLIGHT


async def test_a_batch_whose_connection_was_closed_is_sent_again_on_a_new_one(
    named: tuple[aioredis.Redis, aioredis.Redis, str],
) -> None:
    client, admin, name = named
    key = f"mmtest:batching:{uuid.uuid4().hex[:8]}"
    batch = batched(client)
    assert await batch.execute("INCR", key) == 1
    killed = 0
    for entry in await admin.client_list():
        if entry.get("name") == name:
            killed += await admin.client_kill_filter(_id=entry["id"])
    assert killed == 1
    assert await _connections(admin, name) == 0
    # The held connection is dead; the batch fails on it, reconnects and is answered.
    assert list(await asyncio.gather(batch.execute("INCR", key), batch.execute("GET", key))) == [2, b"2"]
    assert await _connections(admin, name) == 1


async def test_the_batchers_connections_close_with_the_client() -> None:
    name = f"batching-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(REDIS_URL, client_name=name)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await batched(client).execute("PING") is True
        assert await _connections(admin, name) == 1
        await client.aclose()

        async def closed() -> bool:  # Redis notes the closed socket on its own time
            return await _connections(admin, name) == 0

        await wait_until(closed)
    finally:
        await admin.aclose()
