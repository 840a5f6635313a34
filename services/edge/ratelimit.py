"""Rate limits: token buckets in Redis, one per client address and one per token subject.

One Lua script checks every bucket of a request atomically and takes a token from each only
when all have one, so a rejected request costs nothing. The answer is the wait in milliseconds
(0 = allowed), which becomes `Retry-After`.
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

_SCRIPT = """
local now = tonumber(ARGV[1])
local wait = 0
local tokens = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 't', 'v')
  local last = tonumber(state[1]) or now
  local have = tonumber(state[2]) or burst
  have = math.min(burst, have + math.max(0, now - last) * rate / 1000)
  if have < 1 then
    wait = math.max(wait, math.ceil((1 - have) * 1000 / rate))
  end
  tokens[i] = have
end
if wait == 0 then
  for i, key in ipairs(KEYS) do
    local rate = tonumber(ARGV[2 * i])
    local burst = tonumber(ARGV[2 * i + 1])
    redis.call('HSET', key, 't', now, 'v', tokens[i] - 1)
    redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  end
end
return wait
"""


def _digest(value: str) -> str:
    """Keys hold a digest, not the address or token itself."""
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


class RateLimiter:
    """Checks the per-address and per-token buckets of a request."""

    def __init__(self, redis: Any, prefix: str, per_address: RateLimit, per_token: RateLimit) -> None:
        self._redis = redis
        self._prefix = prefix
        self._per_address = per_address
        self._per_token = per_token
        self._sha = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()

    async def check(self, address: str | None, subject: str | None) -> None:
        """Raises EdgeError(RESOURCE_EXHAUSTED) with a Retry-After when a bucket is empty."""
        keys: list[str] = []
        args: list[float] = [time.time() * 1000]
        for kind, who, limit in (("addr", address, self._per_address), ("tok", subject, self._per_token)):
            if who is not None and limit.rate > 0:
                keys.append(f"{self._prefix}rl:{kind}:{_digest(who)}")
                args.extend((limit.rate, limit.burst))
        if not keys:
            return
        try:  # EVALSHA straight away (the script is loaded once per Redis server)
            wait_ms = int(await self._redis.evalsha(self._sha, len(keys), *keys, *args))
        except NoScriptError:
            wait_ms = int(await self._redis.eval(_SCRIPT, len(keys), *keys, *args))
        if wait_ms > 0:
            seconds = max(1, math.ceil(wait_ms / 1000))
            retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
            raise EdgeError(
                Status.RESOURCE_EXHAUSTED,
                "rate limit exceeded",
                reason="RATE_LIMITED",
                headers=[("retry-after", str(seconds))],
                extra_details=(retry,),
            )
