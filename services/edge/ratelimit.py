"""Rate limits: token buckets in Redis, one per client address and one per token subject.

One Lua script checks every bucket of a request atomically and takes tokens from each only when
all have them, so a refused request costs nothing; a refusal answers the wait, which becomes
`Retry-After`.

To spare a Redis round trip on most calls, a grant may be a small *lease*: up to a tenth of a
second's worth of tokens (at most 20) taken at once and spent locally within `LEASE_TTL_S`. A
lease is only taken when every bucket has that many tokens, so a client near its limit gets
exactly one token per call and the limit stays exact there; leased tokens left unused expire.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpclib.const import Status
from redis.exceptions import NoScriptError

from services.edge.config import RateLimit
from services.edge.status import EdgeError
from services.kit.errors import Reason

LEASE_TTL_S = 0.25
_MAX_LEASE = 20
_LOCAL_LIMIT = 10_000

# KEYS: buckets. ARGV: now (ms), lease wanted, then rate and burst per bucket.
# Returns {granted, wait_ms}: granted >= 1 tokens taken from every bucket, or 0 and the wait.
_SCRIPT = """
local now = tonumber(ARGV[1])
local grant = tonumber(ARGV[2])
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local state = redis.call('HMGET', key, 't', 'v')
  local last = tonumber(state[1]) or now
  local have = tonumber(state[2]) or burst
  have = math.min(burst, have + math.max(0, now - last) * rate / 1000)
  if have < 1 then
    wait = math.max(wait, math.ceil((1 - have) * 1000 / rate))
  end
  grant = math.min(grant, math.floor(have))
  tokens[i] = have
end
if wait > 0 then
  return {0, wait}
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  redis.call('HSET', key, 't', now, 'v', tokens[i] - grant)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
return {grant, 0}
"""


def _digest(value: str) -> str:
    """Keys hold a digest, not the address or token itself."""
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def lease_size(*limits: RateLimit) -> int:
    """Tokens taken per Redis call: a tenth of a second's worth of the slowest bucket, 1..20."""
    rates = [limit.rate for limit in limits if limit.rate > 0]
    bursts = [limit.burst // 10 for limit in limits if limit.rate > 0]
    if not rates:
        return 1
    return max(1, min(_MAX_LEASE, int(min(rates) / 10), min(bursts)))


class RateLimiter:
    """Checks the per-address and per-token buckets of a request."""

    def __init__(self, redis: Any, prefix: str, per_address: RateLimit, per_token: RateLimit) -> None:
        self._redis = redis
        self._prefix = prefix
        self._per_address = per_address
        self._per_token = per_token
        self._sha = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()
        #: Leased tokens per bucket set: [tokens left, monotonic expiry].
        self._leases: dict[tuple[str, ...], list[float]] = {}

    async def check(self, address: str | None, subject: str | None) -> None:
        """Raises EdgeError(RESOURCE_EXHAUSTED) with a Retry-After when a bucket is empty."""
        keys: list[str] = []
        limits: list[RateLimit] = []
        for kind, who, limit in (("addr", address, self._per_address), ("tok", subject, self._per_token)):
            if who is not None and limit.rate > 0:
                keys.append(f"{self._prefix}rl:{kind}:{_digest(who)}")
                limits.append(limit)
        if not keys:
            return
        now = time.monotonic()
        lease = self._leases.get(tuple(keys))
        if lease is not None and lease[0] >= 1 and lease[1] > now:
            lease[0] -= 1
            return
        wanted = lease_size(*limits)
        args: list[float] = [time.time() * 1000, wanted]
        for limit in limits:
            args.extend((limit.rate, limit.burst))
        try:  # EVALSHA straight away (the script is loaded once per Redis server)
            granted, wait_ms = await self._redis.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            granted, wait_ms = await self._redis.eval(_SCRIPT, len(keys), *keys, *args)
        if int(granted) >= 1:
            if int(granted) > 1:
                if len(self._leases) >= _LOCAL_LIMIT:
                    self._leases.clear()
                self._leases[tuple(keys)] = [int(granted) - 1, now + LEASE_TTL_S]
            return
        seconds = max(1, math.ceil(int(wait_ms) / 1000))
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
        raise EdgeError(
            Status.RESOURCE_EXHAUSTED,
            "rate limit exceeded",
            reason=Reason.ERROR_REASON_RATE_LIMITED,
            headers=[("retry-after", str(seconds))],
            extra_details=(retry,),
        )
