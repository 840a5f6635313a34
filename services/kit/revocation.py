"""Revoked sessions and users, checked on every authenticated call by every service.

Access tokens are short-lived JWTs; logging out, refresh-token reuse and disabling an account
must still stop them at once. The user service writes revocation marks to Redis; the kit's method
wrapper checks them (one ``EXISTS`` round trip) before a handler runs. Marks expire when every
access token they could concern has expired anyway.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from .auth import Principal


class Revocations:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:auth:revoked"
        self._ttl_s = ttl_s

    async def revoke_session(self, session_id: str) -> None:
        await self._redis.set(f"{self._prefix}:sid:{session_id}", b"1", ex=self._ttl_s)

    async def revoke_user(self, user_id: str) -> None:
        await self._redis.set(f"{self._prefix}:uid:{user_id}", b"1", ex=self._ttl_s)

    async def clear_user(self, user_id: str) -> None:
        await self._redis.delete(f"{self._prefix}:uid:{user_id}")

    async def is_revoked(self, principal: Principal) -> bool:
        keys = [f"{self._prefix}:uid:{principal.user_id}"]
        if principal.session_id:
            keys.append(f"{self._prefix}:sid:{principal.session_id}")
        return bool(await self._redis.exists(*keys))
