"""Rate limits in Redis: token buckets (request rates) and failure throttles (guessing attempts).

Both are single Lua scripts, so they are atomic across every instance sharing the Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from .errors import ResourceExhausted

_BUCKET = """
local key, rate, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local now, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst``."""

    def __init__(self, redis: aioredis.Redis, prefix: str, rate: float, burst: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self.rate = rate
        self.burst = burst
        self._script = redis.register_script(_BUCKET)

    async def take(self, key: str, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens; returns (allowed, seconds to wait when not)."""
        allowed, wait = await self._script(
            keys=[f"{self._prefix}:{key}"], args=[self.rate, self.burst, time.time(), cost]
        )
        return bool(int(allowed)), float(wait)


_FAIL = """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window) end
end
return 1
"""


class FailureThrottle:
    """Blocks a key for ``window_s`` once it has failed ``limit`` times within that window."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, limit: int, window_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self._fail = redis.register_script(_FAIL)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [f"{self._prefix}:{k}" for k in keys]

    async def check(self, keys: Sequence[str], message: str) -> None:
        """Raise RESOURCE_EXHAUSTED if any key is blocked."""
        full = self._keys(keys)
        async with self._redis.pipeline(transaction=False) as pipe:
            for k in full:
                pipe.get(k)
                pipe.pttl(k)
            values = await pipe.execute()
        for i in range(0, len(values), 2):
            count, ttl = values[i], values[i + 1]
            if count is not None and int(count) >= self.limit:
                raise ResourceExhausted(message, retry_after_s=max(ttl, 0) / 1000)

    async def failed(self, keys: Sequence[str]) -> None:
        await self._fail(keys=self._keys(keys), args=[self.limit, self.window_ms])

    async def reset(self, keys: Sequence[str]) -> None:
        await self._redis.delete(*self._keys(keys))
