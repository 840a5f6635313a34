"""Meeting events on Redis pub/sub, for signaling (kicks, ends, role changes), for every meeting
instance's cache and for joiners waiting in the lobby.

Each message is one binary ``meetmesh.meeting.events.v1.MeetingEvent`` on the channel its
contract option names (``{prefix}:meeting:events:{meeting}``); ``services/kit/events.py`` encodes,
decodes and derives channels. Delivery is at most once: listeners that must not miss a change
re-read the store (the lobby wait does).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from meetmesh.meeting.events.v1 import events_pb2
from services.kit import events
from services.kit.redis import batched


class MeetingEvents:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    @property
    def pattern(self) -> str:
        """Every meeting's channel, for PSUBSCRIBE."""
        return events.channel_pattern(events_pb2.MeetingEvent, self._prefix)

    async def publish(self, event: events_pb2.MeetingEvent) -> None:
        """Sent with the other commands of this loop turn (``batched``: every join publishes)."""
        channel = events.channel_of(event, self._prefix)
        await batched(self._redis).execute("PUBLISH", channel, events.encode(event))

    @property
    def redis(self) -> aioredis.Redis:
        """Where the events are published (followers subscribe here)."""
        return self._redis
