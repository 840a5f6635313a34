"""Redis from one URL: a real server (``redis://``), or the in-process one (``memory://``).

The in-process Redis (fakeredis) is shared by every service in one process, which is what the
embedded all-in-one mode needs; it speaks the same commands, including pub/sub and Lua.
Keys are prefixed per service: ``key(prefix, "user", "refresh", token_id)``.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

_shared_fake: Any = None


def create_redis(url: str, connect_timeout_s: float = 3.0) -> aioredis.Redis:
    """A client for ``url``; ``memory://`` gives the process-wide in-process server."""
    global _shared_fake
    if url.startswith("memory://"):
        import fakeredis

        if _shared_fake is None:
            _shared_fake = fakeredis.FakeServer()
        client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=_shared_fake)
        return client
    # One immediate retry on a broken connection: after Redis restarts, every connection left in
    # the pool is dead and would fail one command each (a login right after recovery got
    # UNAVAILABLE); the retry reconnects. Not on timeouts: a command that timed out may have run.
    return aioredis.Redis.from_url(
        url,
        health_check_interval=30,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )


def key(prefix: str, service: str, *parts: str) -> str:
    """A namespaced key: ``<prefix>:<service>:<part>:<part>...``."""
    return ":".join((prefix, service, *parts))
