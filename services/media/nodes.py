"""Many media nodes: each media process registers its address and load in Redis.

``<prefix>:media:nodes`` is a hash: node address (``host:port`` that signaling dials) -> JSON
``{"load": peers, "draining": bool, "at": unix time}``, refreshed every ``interval_s``. Signaling
(``services/signaling/placement.py``) places each new meeting on the least-loaded fresh node that
is not draining. A draining node tells signaling through the same entry; signaling moves that
node's meetings elsewhere (clients reconnect and resume, renegotiating on the new node).

Registration is on only when ``MEETMESH_MEDIA__NODE_ADDRESS`` is set: a single media node (the
default) is dialled at the platform's media address, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

import redis.asyncio as aioredis

NODE_TTL_S = 5.0  # an entry older than this is a dead node


def nodes_key(prefix: str) -> str:
    return f"{prefix}:media:nodes"


class NodeRegistry:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        address: str,
        load: Callable[[], int],
        interval_s: float = 1.0,
    ) -> None:
        self.redis = redis
        self.key = nodes_key(prefix)
        self.address = address
        self.load = load
        self.interval_s = interval_s
        self.draining = False
        self._task: asyncio.Task[None] | None = None

    async def publish(self) -> None:
        entry = {"load": self.load(), "draining": self.draining, "at": time.time()}
        await self.redis.hset(self.key, self.address, json.dumps(entry))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(aioredis.RedisError, OSError):  # Redis away: try again
                await self.publish()
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        await self.publish()
        self._task = asyncio.ensure_future(self._run())

    async def drain(self) -> None:
        """Stop taking meetings; signaling moves this node's meetings to the other nodes."""
        self.draining = True
        await self.publish()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(aioredis.RedisError, OSError):
            await self.redis.hdel(self.key, self.address)
