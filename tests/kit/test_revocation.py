"""Revocations reach every process: one revokes, another's in-memory view follows (real Redis)."""

from __future__ import annotations

import uuid

import pytest

from services.kit import create_redis
from services.kit.auth import Principal
from services.kit.revocation import Revocations
from tests.conftest import REDIS_URL
from tests.support import wait_until


@pytest.mark.parametrize("url", [REDIS_URL, "memory://"], ids=["real", "embedded"])
async def test_a_revocation_in_one_process_reaches_the_others(url: str) -> None:
    prefix = f"mmtest:rev:{uuid.uuid4().hex[:8]}"
    writer_redis, reader_redis = create_redis(url), create_redis(url)
    writer = Revocations(writer_redis, prefix, ttl_s=60)
    early = Principal(user_id="early", session_id="s-early")
    await writer.revoke_session("s-early")  # before the reader starts: found by its initial load
    reader = Revocations(reader_redis, prefix, ttl_s=60)
    reader.start()
    try:
        assert await reader.is_revoked(early)
        victim = Principal(user_id="u1", session_id="s1")
        bystander = Principal(user_id="u2", session_id="s2")
        assert not await reader.is_revoked(victim)

        async def synced() -> bool:
            return reader._synced

        await wait_until(synced)
        await writer.revoke_session("s1")
        assert await writer.is_revoked(victim)  # the writer itself: at once
        await wait_until(lambda: reader.is_revoked(victim))
        await writer.revoke_user("u2")
        await wait_until(lambda: reader.is_revoked(bystander))
        assert not await reader.is_revoked(Principal(user_id="u3", session_id="s3"))
    finally:
        await reader.stop()
        keys = [k async for k in writer_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await writer_redis.delete(*keys)
        await writer_redis.aclose()
        await reader_redis.aclose()
