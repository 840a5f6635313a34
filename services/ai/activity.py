"""Meeting analytics fed by signaling's room events: joins, leaves and tracks published.

Signaling carries every room event on Redis pub/sub, channel ``<prefix>:signaling:bus:<meeting>``,
as JSON whose ``event`` is a base64 ``meetmesh.signaling.v1.SignalResponse`` (see
``services/signaling/store.py``, ``BusMessage``). The recorder pattern-subscribes to every room and
records ``ParticipantUpdate`` JOINED/LEFT and ``TrackUpdate`` PUBLISHED as activities in the results
store. Utterances (speaking time) are recorded by the live analysis itself (``live.py``).

Every ai instance receives every message; the first to claim it (``SET NX`` on a hash of the
message, for ``claim_ttl_s``) records it, so a message counts once however many instances run
(two identical messages of one room within ``claim_ttl_s``, say a leave and rejoin and leave in
five seconds, count once too).
Pub/sub delivers at most once: what is published while no ai instance listens, or while Redis is
down, is not recorded (the recorder resubscribes by itself).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from meetmesh.signaling.v1 import signaling_pb2 as sig

from .models import JOINED, LEFT, TRACK_PUBLISHED, Activity
from .store import ResultsStore

log = logging.getLogger("meetmesh.ai.activity")

_TRACK_KINDS = {sig.TRACK_KIND_AUDIO: "audio", sig.TRACK_KIND_VIDEO: "video"}


def bus_pattern(redis_prefix: str) -> str:
    return f"{redis_prefix}:signaling:bus:*"


def activities_of(meeting_id: str, data: bytes, at: datetime) -> list[Activity]:
    """The activities one bus message records (none for most messages)."""
    try:
        body = json.loads(data)
        raw = body.get("event", "") if isinstance(body, dict) else ""
        if not raw:
            return []
        event = sig.SignalResponse.FromString(base64.b64decode(raw))
    except (ValueError, TypeError):
        return []
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
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="activity-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        channel_prefix = self._prefix + ":signaling:bus:"
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(bus_pattern(self._prefix))
                self.listening.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._record(_text(message["channel"]).removeprefix(channel_prefix), message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("room events subscription lost; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def _record(self, meeting_id: str, message: dict[str, Any]) -> None:
        data = message["data"]
        data = data if isinstance(data, bytes) else str(data).encode()
        activities = activities_of(meeting_id, data, datetime.now(UTC))
        if not activities:
            return
        claim = f"{self._prefix}:ai:seen:{hashlib.sha256(meeting_id.encode() + data).hexdigest()[:32]}"
        if not await self._redis.set(claim, "1", nx=True, px=self._claim_ms):
            return  # another instance records this one
        for activity in activities:
            try:
                await self._store.add_activity(activity)
            except Exception as exc:  # the store is down: this activity is lost, the next may not be
                log.warning("an activity was not recorded", extra={"error": type(exc).__name__})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
