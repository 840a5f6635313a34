"""Meeting analytics fed by signaling's room events: joins, leaves and tracks published.

Signaling carries every room event on Redis pub/sub as a ``meetmesh.signaling.events.v1.RoomMessage``
on the room's bus, the channel the contract names for it (``services/kit/events.py`` derives it
and decodes the message). The recorder pattern-subscribes to every room and records
``ParticipantUpdate`` JOINED/LEFT and ``TrackUpdate`` PUBLISHED as activities in the results
store. Utterances (speaking time) are recorded by the live analysis itself (``live.py``).

Every ai instance receives every message; the first to claim it (``SET NX`` on a hash of the
message, for ``claim_ttl_s``) records it, so a message counts once however many instances run
(two identical messages of one room within ``claim_ttl_s``, say a leave and rejoin and leave in
five seconds, count once too).
Pub/sub delivers at most once: what is published while no ai instance listens, or while Redis is
down, is not recorded (the recorder resubscribes by itself: the kit's ``Follower``).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from meetmesh.signaling.events.v1.events_pb2 import RoomMessage
from meetmesh.signaling.v1 import signaling_pb2 as sig
from services.kit import events
from services.kit.follow import Follower

from .models import JOINED, LEFT, TRACK_PUBLISHED, Activity
from .store import ResultsStore

log = logging.getLogger("meetmesh.ai.activity")

_TRACK_KINDS = {sig.TRACK_KIND_AUDIO: "audio", sig.TRACK_KIND_VIDEO: "video"}


def activities_of(message: RoomMessage, at: datetime) -> list[Activity]:
    """The activities one bus message records (none for most messages)."""
    if not message.meeting or not message.HasField("event"):
        return []
    event, meeting_id = message.event, message.meeting
    kind = event.WhichOneof("message")
    found: list[tuple[str, str, str]] = []
    if kind == "participant_update":
        change = event.participant_update.change
        pid = event.participant_update.participant.id
        if change == sig.ParticipantUpdate.CHANGE_JOINED:
            found.append((pid, JOINED, ""))
        elif change == sig.ParticipantUpdate.CHANGE_LEFT:
            found.append((pid, LEFT, ""))
    elif kind == "track_update" and event.track_update.change == sig.TrackUpdate.CHANGE_PUBLISHED:
        track = event.track_update.track
        found.append((track.participant, TRACK_PUBLISHED, _TRACK_KINDS.get(track.kind, "")))
    return [
        Activity(uuid.uuid4().hex, meeting_id, pid, what, at, 0, detail) for pid, what, detail in found if pid
    ]


class ActivityRecorder:
    def __init__(
        self, redis: aioredis.Redis, redis_prefix: str, store: ResultsStore, claim_ttl_s: float = 5.0
    ) -> None:
        self._redis = redis
        self._prefix = redis_prefix
        self._store = store
        self._claim_ms = int(claim_ttl_s * 1000)
        self._follower = Follower(
            redis,
            self._record,
            patterns=[events.channel_pattern(RoomMessage, redis_prefix)],
            name="activity-recorder",
        )

    @property
    def listening(self) -> bool:
        """Whether the recorder is subscribed to the room events now."""
        return self._follower.subscribed

    async def start(self) -> None:
        self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def _record(self, _channel: str, data: bytes) -> None:
        message = events.decode(RoomMessage, data)
        activities = activities_of(message, datetime.now(UTC)) if message is not None else []
        if not activities:
            return
        digest = hashlib.sha256(data).hexdigest()[:32]  # the message names its meeting
        claim = f"{self._prefix}:ai:seen:{digest}"
        if not await self._redis.set(claim, "1", nx=True, px=self._claim_ms):
            return  # another instance records this one
        for activity in activities:
            try:
                await self._store.add_activity(activity)
            except Exception as exc:  # the store is down: this activity is lost, the next may not be
                log.warning("an activity was not recorded", extra={"error": type(exc).__name__})
