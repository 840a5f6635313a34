"""Revoked sessions and users, checked on every authenticated call by every service.

Access tokens are short-lived JWTs; logging out, refresh-token reuse and disabling an account
must still stop them at once. Checking Redis on every call would cost a round trip per call, so
each process keeps the set of revocations in memory:

* the revoking process records a revocation locally (effective at once for itself), writes a mark
  to Redis (``<prefix>:auth:revoked:{sid|uid}:<id>``, expiring when every access token it could
  concern has expired) and publishes a ``meetmesh.user.events.v1.Revocation`` on the channel the
  contract names for it (encoded and channel-derived by ``events.py``, like every event);
* every process listens on that channel; whenever its subscription (re)starts it first loads
  every mark from Redis, so nothing published while it was not listening is missed;
* until a process has loaded the marks once, it asks Redis on each call instead.

Other processes see a revocation after one pub/sub hop (milliseconds on a LAN).
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from meetmesh.user.events.v1.events_pb2 import Revocation

from . import events
from .auth import Principal
from .follow import Follower
from .logs import get_logger

log = get_logger("meetmesh.kit.revocation")


class Revocations:
    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._keys = f"{prefix}:auth:revoked"
        self._channel = events.channel_of(Revocation(), prefix)
        self._ttl_s = ttl_s
        # "sid:<id>" / "uid:<id>" -> monotonic expiry
        self._revoked: dict[str, float] = {}
        self._synced = False
        self._follower: Follower | None = None

    # -- writing -----------------------------------------------------------------------------
    async def revoke_session(self, session_id: str) -> None:
        await self._revoke(Revocation(session=session_id))

    async def revoke_user(self, user_id: str) -> None:
        await self._revoke(Revocation(user=user_id))

    async def _revoke(self, revocation: Revocation) -> None:
        item = _item(revocation)
        if item is None:
            raise ValueError("a revocation names a session or a user")
        self._revoked[item] = time.monotonic() + self._ttl_s
        await self._redis.set(f"{self._keys}:{item}", b"1", ex=self._ttl_s)
        await self._redis.publish(self._channel, events.encode(revocation))

    # -- checking ----------------------------------------------------------------------------
    async def is_revoked(self, principal: Principal) -> bool:
        items = [f"uid:{principal.user_id}"]
        if principal.session_id:
            items.append(f"sid:{principal.session_id}")
        if not self._synced:
            return bool(await self._redis.exists(*(f"{self._keys}:{i}" for i in items)))
        now = time.monotonic()
        return any(self._revoked.get(i, 0.0) > now for i in items)

    # -- listening -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start following revocations (idempotent)."""
        if self._follower is None:
            self._follower = Follower(
                self._redis,
                self._on_message,
                channels=[self._channel],
                on_subscribed=self._load_marks,
                on_lost=self._unsync,
                name="revocation-listener",
            )
            self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        self._synced = False

    def _unsync(self) -> None:
        self._synced = False

    async def _load_marks(self) -> None:
        """Every mark in Redis (run after each (re)subscription: nothing falls between the two)."""
        now = time.monotonic()
        async for key in self._redis.scan_iter(match=f"{self._keys}:*", count=1000):
            name = key.decode() if isinstance(key, bytes) else str(key)
            ttl_ms = await self._redis.pttl(name)
            if ttl_ms and ttl_ms > 0:
                self._revoked[name.removeprefix(f"{self._keys}:")] = now + ttl_ms / 1000
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._synced = True

    def _on_message(self, _channel: str, data: bytes) -> None:
        revocation = events.decode(Revocation, data)
        item = _item(revocation) if revocation is not None else None
        if item is None:
            log.warning("not a revocation; ignored", extra={"channel": self._channel})
            return
        self._revoked[item] = time.monotonic() + self._ttl_s


def _item(revocation: Revocation) -> str | None:
    """The in-memory (and Redis mark) name of what ``revocation`` revokes: ``sid:<id>``/``uid:<id>``."""
    subject = revocation.WhichOneof("subject")
    if subject == "session" and revocation.session:
        return f"sid:{revocation.session}"
    if subject == "user" and revocation.user:
        return f"uid:{revocation.user}"
    return None
