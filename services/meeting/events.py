"""Meeting events on Redis pub/sub, for signaling (kicks, ends, role changes) and for joiners
waiting in the lobby.

Channel: ``<prefix>:meeting:events:<meeting id>``; each message is JSON
``{"type": ..., "meeting": "<id>", "participant": "<id>", "user": "<id>", "role": ...}`` where
type is one of ``participant_waiting``, ``participant_admitted``, ``participant_denied``,
``participant_removed``, ``participant_left``, ``role_changed``, ``meeting_updated``,
``meeting_ended``. Delivery is at most once: listeners that must not miss a change re-read the
store (the lobby wait does).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis


def channel(prefix: str, meeting_id: str) -> str:
    return f"{prefix}:meeting:events:{meeting_id}"


class MeetingEvents:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def channel(self, meeting_id: str) -> str:
        return channel(self._prefix, meeting_id)

    async def publish(self, meeting_id: str, type_: str, **fields: Any) -> None:
        payload = json.dumps({"type": type_, "meeting": meeting_id, **fields})
        await self._redis.publish(self.channel(meeting_id), payload)

    def subscribe(self) -> Any:
        return self._redis.pubsub(ignore_subscribe_messages=True)
