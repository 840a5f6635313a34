"""The follow-a-channel helper against the real Redis: delivery, resubscription after the
connection is killed (with the resync hook run again), and a bad message not ending the loop."""

from __future__ import annotations

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
