"""Redis commands are bounded without a timer each (services/kit/redis.py): against a Redis of the
test's own that stops answering (SIGSTOP: alive, its socket open, nothing read), a command, a
pipeline, a script and a batch (``batched``) fail with redis's TimeoutError within 1.25 times the
command timeout, are not retried (a command that timed out may have run), and the client works
again once Redis goes on. Reads with their own bound (pub/sub's ``get_message``) and blocking
commands shorter than the bound are left alone."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.kit.redis import WatchedConnection, _watchdogs, batched, create_redis
from services.stack import RedisServer

BOUND_S = 0.4
# The watchdog looks every BOUND_S / 4: a hung command fails between BOUND_S and 1.25 * BOUND_S;
# the rest is room for a busy test machine. A retried command would take at least twice BOUND_S.
FAILS_WITHIN_S = 1.25 * BOUND_S + 0.25


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as redis:
        yield redis


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = create_redis(server.url, command_timeout_s=BOUND_S)
    try:
        yield redis
    finally:
        await redis.aclose()


class Stopped:
    """Redis stopped (SIGSTOP) for the block's length, then let go on (SIGCONT)."""

    def __init__(self, server: RedisServer) -> None:
        assert server.proc is not None
        self.pid = server.proc.pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


async def test_the_client_uses_watched_connections_without_socket_timeouts(client: aioredis.Redis) -> None:
    await client.ping()
    connection = await client.connection_pool.get_connection()
    try:
        assert isinstance(connection, WatchedConnection)
        assert connection.socket_timeout is None  # no timer per command
        assert connection.command_timeout_s == BOUND_S
    finally:
        await client.connection_pool.release(connection)


async def test_commands_to_a_redis_that_stops_answering_time_out_once_and_recover(
    server: RedisServer, client: aioredis.Redis
) -> None:
    key = f"mmtest:watchdog:{uuid.uuid4().hex[:8]}"
    assert await client.incr(key) == 1
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    with Stopped(server):
        attempts = (
            lambda: client.incr(key),
            lambda: client.pipeline().incr(key).get(key).execute(),
            lambda: script(keys=[key]),
            lambda: batched(client).execute("INCR", key),
        )
        for attempt in attempts:
            started = time.monotonic()
            with pytest.raises(RedisTimeoutError, match="did not answer"):
                await attempt()
            elapsed = time.monotonic() - started
            assert BOUND_S * 0.9 <= elapsed < FAILS_WITHIN_S, f"failed after {elapsed:.2f} s"
    # A retry would have waited on the stopped server again: at least 2 * BOUND_S, past
    # FAILS_WITHIN_S. The timed-out connections were reset, so whether Redis ran what they held is
    # not known; the client works again on new ones.
    held = int(await client.get(key) or 0)
    assert 1 <= held <= 5
    assert await client.incr(key) == held + 1


async def test_own_bounds_and_short_blocking_reads_are_left_alone(
    server: RedisServer, client: aioredis.Redis
) -> None:
    channel = f"mmtest:watchdog:{uuid.uuid4().hex[:8]}"
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=1.0))["type"] == "subscribe"
        started = time.monotonic()
        assert await pubsub.get_message(timeout=3 * BOUND_S) is None  # its own bound, past ours
        assert time.monotonic() - started >= 3 * BOUND_S * 0.9
        await client.publish(channel, b"after")
        message = await pubsub.get_message(timeout=1.0)
        assert message is not None and message["data"] == b"after"
    stream = f"mmtest:watchdog:{uuid.uuid4().hex[:8]}"
    assert await client.xread({stream: "$"}, block=int(BOUND_S * 500)) in ([], {})  # half the bound


def batched_by(client: aioredis.Redis) -> object:
    batcher: object = client._meetmesh_batched  # type: ignore[attr-defined]
    return batcher


def test_a_closed_loop_and_a_dropped_client_are_not_kept(server: RedisServer) -> None:
    """The watchdog of a loop and the batcher of a client go with them: a registry that held them
    (each pointing back at its key) kept every test loop and client of a run alive."""
    loop = asyncio.new_event_loop()
    client = create_redis(server.url, command_timeout_s=BOUND_S)

    async def use(client: aioredis.Redis) -> None:
        await client.ping()
        assert await batched(client).execute("PING") is True

    loop.run_until_complete(use(client))
    loop.run_until_complete(client.aclose())
    loop.close()
    alive: list[weakref.ref[Any]] = [weakref.ref(loop), weakref.ref(client), weakref.ref(_watchdogs[loop])]
    alive.append(weakref.ref(batched_by(client)))
    del loop, client
    gc.collect()
    assert [ref() is None for ref in alive] == [True, True, True, True]
