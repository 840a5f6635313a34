"""The rate limiter against the real Redis: atomic multi-bucket checks and local leases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.edge.admission import RateLimits
from services.edge.config import RateLimit
from services.edge.status import EdgeError
from services.kit.ratelimit import LEASE_TTL_S, lease_size
from tests.conftest import REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"edgetest:rl:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _stored(redis: aioredis.Redis, prefix: str, kind: str) -> tuple[float, float]:
    """The bucket as Redis holds it: (last write time in ms, tokens then); only writes change it."""
    keys = [k async for k in redis.scan_iter(match=f"{prefix}rl:{kind}:*")]
    assert len(keys) == 1
    written, tokens = await redis.hmget(keys[0], ["t", "v"])
    return float(written), float(tokens)


def test_lease_size() -> None:
    assert lease_size(RateLimit(rate=50, burst=100), RateLimit(rate=20, burst=50)) == 2
    assert lease_size(RateLimit(rate=1, burst=2)) == 1
    assert lease_size(RateLimit(rate=1_000_000, burst=1_000_000)) == 20
    assert lease_size(RateLimit(rate=0, burst=5)) == 1


async def test_a_lease_is_spent_locally_then_renewed(redis: aioredis.Redis, prefix: str) -> None:
    limiter = RateLimits(redis, prefix, RateLimit(rate=200, burst=40), RateLimit(rate=0, burst=1))
    assert lease_size(RateLimit(rate=200, burst=40)) == 4
    await limiter.check("10.0.0.1", None)
    first = await _stored(redis, prefix, "addr")
    assert first[1] == 36  # four taken at once
    for _ in range(3):
        await limiter.check("10.0.0.1", None)
    assert await _stored(redis, prefix, "addr") == first  # spent locally: Redis untouched
    await limiter.check("10.0.0.1", None)
    assert (await _stored(redis, prefix, "addr"))[0] > first[0]  # the next lease came from Redis


async def test_near_the_limit_grants_one_token_and_refuses_atomically(
    redis: aioredis.Redis, prefix: str
) -> None:
    limiter = RateLimits(redis, prefix, RateLimit(rate=0.01, burst=3), RateLimit(rate=0.01, burst=2))
    await limiter.check("10.0.0.2", "alice")
    await limiter.check("10.0.0.2", "alice")
    with pytest.raises(EdgeError) as refused:
        await limiter.check("10.0.0.2", "alice")  # alice's bucket is empty
    assert refused.value.status.code.name == "RESOURCE_EXHAUSTED"
    assert int(dict(refused.value.status.headers)["retry-after"]) >= 1
    # The refusal took nothing from the address bucket: bob still gets its last token.
    await limiter.check("10.0.0.2", "bob")
    with pytest.raises(EdgeError):
        await limiter.check("10.0.0.2", "carol")
    assert LEASE_TTL_S < 1
