"""Room state shared by every signaling instance, in Redis.

* ``<prefix>:signaling:room:<meeting>:participants`` hash: participant id -> ``Participant`` bytes
* ``<prefix>:signaling:room:<meeting>:tracks`` hash: track id -> ``Track`` bytes
* ``<prefix>:signaling:epoch:<meeting>:<participant>``: which connection owns the participant now
  (resuming on any instance replaces it; a grace timer only ends the epoch it started for)
* ``<prefix>:signaling:resume:<token>``: participant a resume token belongs to
* ``<prefix>:signaling:recording:<meeting>``: who started the recording running now
* ``<prefix>:signaling:revoked:<meeting>:<participant>`` and ``...:ended:<meeting>``: removals
  and ended meetings, so an old join token stops working

Events travel on each room's bus, as ``meetmesh.signaling.events.v1.RoomMessage`` on the channel
the contract names for it (encoded and channel-derived by ``services/kit/events.py``); every
instance pattern-subscribes to all rooms and delivers to its local sessions.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from meetmesh.signaling.events.v1.events_pb2 import RoomMessage
from meetmesh.signaling.v1 import signaling_pb2 as pb
from services.kit import events

REMOVAL_TTL_S = 24 * 3600


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


class RoomStore:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.redis_prefix = prefix
        self.prefix = f"{prefix}:signaling"

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def bus_pattern(self) -> str:
        """Every room's bus (a PSUBSCRIBE pattern)."""
        return events.channel_pattern(RoomMessage, self.redis_prefix)

    def is_bus(self, channel: str) -> bool:
        return events.matches(RoomMessage, self.redis_prefix, channel)

    async def publish(self, message: RoomMessage) -> None:
        await self.redis.publish(events.channel_of(message, self.redis_prefix), events.encode(message))

    # -- participants and tracks ---------------------------------------------------------------
    async def participants(self, meeting: str) -> list[pb.Participant]:
        raw = await self.redis.hgetall(self._k("room", meeting, "participants"))
        return [pb.Participant.FromString(v) for v in raw.values()]

    async def participant(self, meeting: str, pid: str) -> pb.Participant | None:
        raw = await self.redis.hget(self._k("room", meeting, "participants"), pid)
        return pb.Participant.FromString(raw) if raw else None

    async def put_participant(self, meeting: str, participant: pb.Participant) -> None:
        await self.redis.hset(
            self._k("room", meeting, "participants"), participant.id, participant.SerializeToString()
        )

    async def remove_participant(self, meeting: str, pid: str) -> bool:
        """True for the one caller that actually removed it."""
        return bool(await self.redis.hdel(self._k("room", meeting, "participants"), pid))

    async def tracks(self, meeting: str) -> list[pb.Track]:
        raw = await self.redis.hgetall(self._k("room", meeting, "tracks"))
        return [pb.Track.FromString(v) for v in raw.values()]

    async def track(self, meeting: str, track_id: str) -> pb.Track | None:
        raw = await self.redis.hget(self._k("room", meeting, "tracks"), track_id)
        return pb.Track.FromString(raw) if raw else None

    async def put_track(self, meeting: str, track: pb.Track) -> None:
        await self.redis.hset(self._k("room", meeting, "tracks"), track.id, track.SerializeToString())

    async def remove_track(self, meeting: str, track_id: str) -> bool:
        return bool(await self.redis.hdel(self._k("room", meeting, "tracks"), track_id))

    # -- sessions ------------------------------------------------------------------------------
    async def set_epoch(self, meeting: str, pid: str, epoch: str) -> None:
        await self.redis.set(self._k("epoch", meeting, pid), epoch, ex=REMOVAL_TTL_S)

    async def epoch(self, meeting: str, pid: str) -> str:
        return _text(await self.redis.get(self._k("epoch", meeting, pid)))

    async def clear_epoch(self, meeting: str, pid: str) -> None:
        await self.redis.delete(self._k("epoch", meeting, pid))

    async def save_resume_token(self, token: str, meeting: str, pid: str, ttl_s: float) -> None:
        await self.redis.set(self._k("resume", token), f"{meeting}/{pid}", ex=max(int(ttl_s), 1) + 60)

    async def resume_owner(self, token: str) -> str:
        return _text(await self.redis.get(self._k("resume", token)))

    # -- recording -----------------------------------------------------------------------------
    async def set_recording(self, meeting: str, by: str) -> None:
        """Record who started recording ``meeting`` (empty ``by``: it stopped)."""
        if by:
            await self.redis.set(self._k("recording", meeting), by, ex=REMOVAL_TTL_S)
        else:
            await self.redis.delete(self._k("recording", meeting))

    async def recording_by(self, meeting: str) -> str:
        return _text(await self.redis.get(self._k("recording", meeting)))

    # -- removals ------------------------------------------------------------------------------
    async def revoke(self, meeting: str, pid: str) -> None:
        await self.redis.set(self._k("revoked", meeting, pid), b"1", ex=REMOVAL_TTL_S)

    async def is_revoked(self, meeting: str, pid: str) -> bool:
        return bool(await self.redis.exists(self._k("revoked", meeting, pid)))

    async def end_meeting(self, meeting: str) -> None:
        await self.redis.set(self._k("ended", meeting), b"1", ex=REMOVAL_TTL_S)

    async def is_ended(self, meeting: str) -> bool:
        return bool(await self.redis.exists(self._k("ended", meeting)))
