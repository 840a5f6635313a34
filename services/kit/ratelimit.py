"""Rate limits in Redis: token buckets (request rates) and failure throttles (guessing attempts).

Both are single Lua scripts, so they are atomic across every instance sharing the Redis. This is the
platform's one token bucket: the edge's per-address and per-token limits, signaling's chat limit and
any service's own limits all run ``_BUCKETS``.

A check may cover several buckets at once (e.g. a client's address and its token): the script takes
tokens from every bucket only when all have them, so a refused request costs nothing; a refusal
answers the wait, which becomes ``RetryInfo`` (and ``Retry-After`` at the edge).

To spare a Redis round trip on most calls, a ``RateLimiter`` made with ``lease=True`` may take a
small *lease*: up to a tenth of a second's worth of tokens (at most 20) at once, spent locally
within ``LEASE_TTL_S``. A lease is only taken when every bucket has that many tokens, so a client
near its limit gets exactly one token per call and the limit stays exact there; leased tokens left
unused expire.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from redis.exceptions import NoScriptError

from .errors import Reason, ResourceExhausted

LEASE_TTL_S = 0.25
_MAX_LEASE = 20
_LOCAL_LIMIT = 10_000


class RateLimit(BaseModel):
    """A token bucket: ``rate`` requests per second on average, bursts up to ``burst``. rate 0 = off."""

    # Requests per second on average (0: no limit).
    rate: float = Field(default=50.0, ge=0)
    # The largest burst, in requests.
    burst: float = Field(default=100, ge=1)


# KEYS: buckets. ARGV: now (ms), cost, lease wanted (in requests), then rate and burst per bucket.
# Returns {granted, wait_ms}: granted >= 1 requests' tokens taken from every bucket, or 0 and the wait.
_BUCKETS = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local grant = tonumber(ARGV[3])
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  local state = redis.call('HMGET', key, 't', 'v')
  local last = tonumber(state[1]) or now
  local have = tonumber(state[2]) or burst
  have = math.min(burst, have + math.max(0, now - last) * rate / 1000)
  if have < cost then
    wait = math.max(wait, math.ceil((cost - have) * 1000 / rate))
  end
  grant = math.min(grant, math.floor(have / cost))
  tokens[i] = have
end
if wait > 0 then
  return {0, wait}
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  redis.call('HSET', key, 't', now, 'v', tostring(tokens[i] - grant * cost))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
return {grant, 0}
"""
_BUCKETS_SHA = hashlib.sha1(_BUCKETS.encode(), usedforsecurity=False).hexdigest()


def digest(value: str) -> str:
    """A bucket name that holds a digest, not the address or token itself."""
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def lease_size(*limits: RateLimit) -> int:
    """Requests taken per Redis call: a tenth of a second's worth of the slowest bucket, 1..20."""
    active = [limit for limit in limits if limit.rate > 0]
    if not active:
        return 1
    rates = min(limit.rate for limit in active)
    bursts = min(int(limit.burst // 10) for limit in active)
    return max(1, min(_MAX_LEASE, int(rates / 10), bursts))


class RateLimiter:
    """Token buckets in Redis, checked atomically together (see the module docstring)."""

    def __init__(self, redis: Any, prefix: str, *, lease: bool = False) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease = lease
        #: Leased requests per bucket set: [requests left, monotonic expiry].
        self._leases: dict[tuple[str, ...], list[float]] = {}

    async def acquire(self, buckets: Sequence[tuple[str, RateLimit]], cost: float = 1.0) -> float:
        """Take ``cost`` tokens from every bucket (name, limit) whose rate is not 0: returns 0 when
        granted, else the seconds to wait (nothing is taken then)."""
        active = [(f"{self._prefix}{name}", limit) for name, limit in buckets if limit.rate > 0]
        if not active:
            return 0.0
        keys = tuple(key for key, _ in active)
        now = time.monotonic()
        if self._lease:
            lease = self._leases.get(keys)
            if lease is not None and lease[0] >= 1 and lease[1] > now:
                lease[0] -= 1
                return 0.0
        wanted = lease_size(*(limit for _, limit in active)) if self._lease else 1
        args: list[float] = [time.time() * 1000, cost, wanted]
        for _, limit in active:
            args.extend((limit.rate, limit.burst))
        try:  # EVALSHA straight away (the script is loaded once per Redis server)
            granted, wait_ms = await self._redis.evalsha(_BUCKETS_SHA, len(keys), *keys, *args)
        except NoScriptError:
            granted, wait_ms = await self._redis.eval(_BUCKETS, len(keys), *keys, *args)
        if int(granted) >= 1:
            if int(granted) > 1:
                if len(self._leases) >= _LOCAL_LIMIT:
                    self._leases.clear()
                self._leases[keys] = [int(granted) - 1, now + LEASE_TTL_S]
            return 0.0
        return int(wait_ms) / 1000

    async def check(
        self, buckets: Sequence[tuple[str, RateLimit]], message: str = "rate limit exceeded"
    ) -> None:
        """Take one request's tokens, or raise RESOURCE_EXHAUSTED with the wait (whole seconds)."""
        wait = await self.acquire(buckets)
        if wait > 0:
            raise ResourceExhausted(
                message, retry_after_s=max(1, math.ceil(wait)), reason=Reason.ERROR_REASON_RATE_LIMITED
            )


class TokenBucket:
    """One bucket per key: ``rate`` tokens per second, bursts up to ``burst``."""

    def __init__(self, redis: Any, prefix: str, rate: float, burst: float) -> None:
        self.limit = RateLimit(rate=rate, burst=burst)
        self._limiter = RateLimiter(redis, f"{prefix}:")

    @property
    def rate(self) -> float:
        return self.limit.rate

    @property
    def burst(self) -> float:
        return self.limit.burst

    async def take(self, key: str, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens; returns (allowed, seconds to wait when not)."""
        wait = await self._limiter.acquire([(key, self.limit)], cost)
        return wait == 0, wait


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

    def __init__(self, redis: Any, prefix: str, *, limit: int, window_s: float) -> None:
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
