"""Refresh tokens: opaque, single use, rotating, kept hashed in Redis, revoked by family.

A login starts a *family* (the session). Each refresh spends the presented token and issues the
next one in the same family. Presenting a spent token means it leaked: the whole family is revoked
and the access tokens of the session stop working (see ``services.kit.revocation``).

Redis layout (prefix ``<p>:user``):

* ``rt:<sha256(token)>`` -> hash {family, user, state: live|spent}, TTL = refresh lifetime
* ``fam:<family>`` -> hash {user, revoked: 0|1}, TTL = refresh lifetime (renewed on rotation)
* ``ufam:<user>`` -> set of the user's families (to revoke them all when disabling an account)
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from services.kit import Unauthenticated
from services.kit.errors import Reason
from services.kit.revocation import Revocations

# Spend a live token atomically; report what it was.
_SPEND = """
local rt, fam = KEYS[1], KEYS[2]
local state = redis.call('HGET', rt, 'state')
if not state then return 'missing' end
local family = redis.call('HGET', rt, 'family')
if redis.call('HGET', fam .. family, 'revoked') ~= '0' then return 'revoked' end
if state == 'spent' then return 'reused:' .. family end
redis.call('HSET', rt, 'state', 'spent')
return 'ok:' .. family
"""


@dataclass(frozen=True)
class Issued:
    token: str
    family: str
    expires_at: float


class RefreshTokens:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        ttl_s: int,
        revocations: Revocations,
        on_reuse: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        # Called with the user id when a spent token is presented (a security notice).
        self._on_reuse = on_reuse
        self._redis = redis
        self._p = f"{prefix}:user"
        self._ttl_s = ttl_s
        self._revocations = revocations
        self._spend = redis.register_script(_SPEND)

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    async def _issue(self, user_id: str, family: str) -> Issued:
        token = secrets.token_urlsafe(32)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"{self._p}:rt:{self._hash(token)}",
                mapping={"family": family, "user": user_id, "state": "live"},
            )
            pipe.expire(f"{self._p}:rt:{self._hash(token)}", self._ttl_s)
            pipe.hsetnx(f"{self._p}:fam:{family}", "revoked", "0")
            pipe.hset(f"{self._p}:fam:{family}", "user", user_id)
            pipe.expire(f"{self._p}:fam:{family}", self._ttl_s)
            pipe.sadd(f"{self._p}:ufam:{user_id}", family)
            pipe.expire(f"{self._p}:ufam:{user_id}", self._ttl_s)
            await pipe.execute()
        return Issued(token=token, family=family, expires_at=float(int(time.time() + self._ttl_s)))

    async def start(self, user_id: str) -> Issued:
        """A new family (session) for a login."""
        return await self._issue(user_id, uuid.uuid4().hex)

    async def rotate(self, token: str) -> tuple[str, Issued]:
        """Spend ``token`` and issue its successor; returns (user id, new token)."""
        digest = self._hash(token)
        outcome = await self._spend(keys=[f"{self._p}:rt:{digest}", f"{self._p}:fam:"])
        outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if outcome.startswith("reused:"):
            family = outcome.removeprefix("reused:")
            await self.revoke_family(family)
            user = await self._redis.hget(f"{self._p}:fam:{family}", "user")
            if user is not None and self._on_reuse is not None:
                await self._on_reuse(user.decode() if isinstance(user, bytes) else str(user))
            raise Unauthenticated(
                "this refresh token was already used; the session is revoked",
                reason=Reason.ERROR_REASON_REFRESH_TOKEN_REUSED,
            )
        if not outcome.startswith("ok:"):
            raise Unauthenticated(
                "the refresh token is invalid or revoked", reason=Reason.ERROR_REASON_INVALID_TOKEN
            )
        family = outcome.removeprefix("ok:")
        user_id = await self._redis.hget(f"{self._p}:rt:{digest}", "user")
        assert user_id is not None
        user = user_id.decode() if isinstance(user_id, bytes) else str(user_id)
        return user, await self._issue(user, family)

    async def family_of(self, token: str) -> str | None:
        family = await self._redis.hget(f"{self._p}:rt:{self._hash(token)}", "family")
        if family is None:
            return None
        return family.decode() if isinstance(family, bytes) else str(family)

    async def revoke_family(self, family: str) -> None:
        await self._redis.hset(f"{self._p}:fam:{family}", "revoked", "1")
        await self._revocations.revoke_session(family)

    async def revoke_user(self, user_id: str) -> None:
        families = await self._redis.smembers(f"{self._p}:ufam:{user_id}")
        for family in families:
            await self.revoke_family(family.decode() if isinstance(family, bytes) else str(family))
        await self._revocations.revoke_user(user_id)
