"""The follow-a-channel helper against the real Redis: delivery, resubscription after the
connection is killed (with the resync hook run again), and a bad message not ending the loop."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from services.kit.follow import Follower
from tests.conftest import REDIS_URL
from tests.support import wait_until


def holds(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


async def test_a_follower_delivers_resubscribes_after_a_lost_connection_and_survives_bad_messages() -> None:
    prefix = f"mmtest:follow:{uuid.uuid4().hex[:8]}"
    name = f"follower-{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS_URL, client_name=name)
    admin = aioredis.Redis.from_url(REDIS_URL)
    got: list[tuple[str, bytes]] = []
    resyncs: list[int] = []
    losses: list[int] = []

    def on_message(channel: str, data: bytes) -> None:
        if data == b"bad":
            raise ValueError("a message the callback cannot handle")
        got.append((channel, data))

    follower = Follower(
        redis,
        on_message,
        channels=[f"{prefix}:plain"],
        patterns=[f"{prefix}:room:*"],
        on_subscribed=lambda: resyncs.append(1),
        on_lost=lambda: losses.append(1),
        name="test-follower",
        backoff_initial_s=0.05,
    )
    follower.start()
    try:
        await follower.wait_subscribed(10)
        assert resyncs == [1]
        await admin.publish(f"{prefix}:plain", b"one")
        await admin.publish(f"{prefix}:room:r1", b"bad")
        await admin.publish(f"{prefix}:room:r1", b"two")
        await wait_until(holds(lambda: len(got) == 2))
        assert got == [(f"{prefix}:plain", b"one"), (f"{prefix}:room:r1", b"two")]

        # Kill the follower's pub/sub connection: it notices, backs off, subscribes again and runs
        # its resync hook again before delivering.
        clients = await admin.client_list(_type="pubsub")
        ours = [c["id"] for c in clients if c.get("name") == name]
        assert ours
        for client_id in ours:
            await admin.client_kill_filter(_id=client_id)
        await wait_until(holds(lambda: follower.subscriptions >= 2))
        assert losses and len(resyncs) == follower.subscriptions
        await admin.publish(f"{prefix}:room:r2", b"three")
        await wait_until(holds(lambda: len(got) == 3))
        assert got[-1] == (f"{prefix}:room:r2", b"three")
    finally:
        await follower.stop()
        assert not follower.subscribed
        await redis.aclose()
        await admin.aclose()


async def test_an_idle_subscription_is_pinged_and_kept() -> None:
    """Nothing published for longer than the health-check interval: the follower PINGs Redis on
    its subscription's connection, gets the answer, and stays subscribed on that connection."""
    prefix = f"mmtest:follow:{uuid.uuid4().hex[:8]}"
    name = f"follower-{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS_URL, client_name=name)
    admin = aioredis.Redis.from_url(REDIS_URL)
    got: list[bytes] = []
    follower = Follower(
        redis, lambda _channel, data: got.append(data), channels=[f"{prefix}:c"], health_check_s=0.1
    )
    follower.start()
    try:
        await follower.wait_subscribed(10)
        ours = [c for c in await admin.client_list(_type="pubsub") if c.get("name") == name]
        assert len(ours) == 1

        async def pinged_twice() -> bool:
            # the connection's last command turns to ping, and the answered PING is followed by another
            clients = {c["id"]: c for c in await admin.client_list(_type="pubsub") if c.get("name") == name}
            client = clients.get(ours[0]["id"])
            return client is not None and client["cmd"] == "ping" and int(client["idle"]) == 0

        await wait_until(pinged_twice)
        await wait_until(pinged_twice)
        assert follower.subscriptions == 1  # the answered PINGs kept the first subscription
        await admin.publish(f"{prefix}:c", b"after the pings")
        await wait_until(holds(lambda: got == [b"after the pings"]))
    finally:
        await follower.stop()
        await redis.aclose()
        await admin.aclose()


async def test_a_subscription_whose_ping_goes_unanswered_is_lost_and_made_again() -> None:
    """Redis stops answering (CLIENT PAUSE): the PING sent after the idle interval gets no answer
    within another interval, the subscription counts as lost (``on_lost``), and the follower
    subscribes again once Redis answers, without missing what is published after that."""
    prefix = f"mmtest:follow:{uuid.uuid4().hex[:8]}"
    redis = aioredis.Redis.from_url(REDIS_URL)
    admin = aioredis.Redis.from_url(REDIS_URL)
    got: list[bytes] = []
    losses: list[int] = []
    follower = Follower(
        redis,
        lambda _channel, data: got.append(data),
        patterns=[f"{prefix}:*"],
        on_lost=lambda: losses.append(1),
        health_check_s=0.2,
        backoff_initial_s=0.05,
    )
    follower.start()
    try:
        await follower.wait_subscribed(10)
        await admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        await wait_until(holds(lambda: bool(losses)))
        assert not follower.subscribed
        await wait_until(holds(lambda: follower.subscriptions >= 2))
        await admin.publish(f"{prefix}:x", b"after the pause")
        await wait_until(holds(lambda: b"after the pause" in got))
    finally:
        with contextlib.suppress(Exception):
            await admin.execute_command("CLIENT", "UNPAUSE")
        await follower.stop()
        await redis.aclose()
        await admin.aclose()


async def test_the_in_process_redis_follows_through_pubsub() -> None:
    """The in-process ``memory://`` Redis has no socket to read: the follower uses redis-py's
    ``PubSub`` there, and delivers the same."""
    from services.kit.redis import create_redis

    redis = create_redis("memory://")
    got: list[tuple[str, bytes]] = []
    follower = Follower(redis, lambda channel, data: got.append((channel, data)), patterns=["mmtest:mem:*"])
    assert not follower._direct
    follower.start()
    try:
        await follower.wait_subscribed(10)
        await redis.publish("mmtest:mem:a", b"one")
        await wait_until(holds(lambda: got == [("mmtest:mem:a", b"one")]))
    finally:
        await follower.stop()
