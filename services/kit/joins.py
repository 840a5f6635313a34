"""Live join sessions: which generation of each participant a join token may still open.

A join token names a participant and the *generation* of its presence in the meeting (a fresh
one each time it enters the meeting). The meeting service writes the live generation when it
issues a token and deletes it at once when the participant leaves, is removed or denied, or the
meeting ends; signaling (``Join``) and media (``Negotiate``) read it. A token whose generation
is not the live one is dead, whatever its expiry says, so leaving and joining again cannot seat
two sessions in one seat.

Redis: ``<prefix>:joins:<meeting>``, a hash participant id -> generation (the whole hash goes when
the meeting ends). Written by the meeting service, read by signaling and media; each entry lives
while the participant does (the hash expires a day after its last write).
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from .redis import batched

_TTL_S = 24 * 3600

# KEYS[1]: the meeting's hash. ARGV: participant, generation. Deletes only that generation.
_END_IF = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# KEYS[1]: the meeting's hash. ARGV: participant, a fresh generation, the hash's TTL.
# {1, fresh} when this call started the generation, else {0, the live one}: one command, where
# a MULTI pipeline of HSETNX, HGET and EXPIRE cost the join path five replies to parse.
_START = """
local started = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if started == 1 then
  return {1, ARGV[2]}
end
return {0, redis.call('HGET', KEYS[1], ARGV[1])}
"""


class JoinSessions:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:joins"
        self._end_if = redis.register_script(_END_IF)
        self._start = redis.register_script(_START)

    def _key(self, meeting: str) -> str:
        return f"{self._prefix}:{meeting}"

    async def live(self, meeting: str, participant: str) -> str | None:
        """The participant's live generation, or None when it is not in the meeting."""
        value = await self._redis.hget(self._key(meeting), participant)
        if value is None:
            return None
        return _text(value)

    async def sessions(self, meeting: str) -> dict[str, str]:
        """Every live generation of the meeting, by participant."""
        found = await self._redis.hgetall(self._key(meeting))
        return {_text(k): _text(v) for k, v in found.items()}

    async def is_live(self, meeting: str, participant: str, generation: str) -> bool:
        return bool(generation) and await self.live(meeting, participant) == generation

    async def current_or_start(self, meeting: str, participant: str) -> str:
        """The live generation, starting a new one when the participant has none."""
        generation, _ = await self.start(meeting, participant)
        return generation

    async def start(self, meeting: str, participant: str) -> tuple[str, bool]:
        """The live generation, and whether this call started it (the participant had none).
        Sent with the other commands of this loop turn (``batched``: a join's hot path)."""
        keys = [self._key(meeting)]
        args: list[str | int] = [participant, secrets.token_hex(8), _TTL_S]
        try:
            started, value = await batched(self._redis).execute("EVALSHA", self._start.sha, 1, *keys, *args)
        except NoScriptError:  # a Redis that restarted or flushed its scripts: load and run it
            started, value = await self._start(keys=keys, args=args)
        return _text(value), bool(started)

    async def end(self, meeting: str, participant: str, generation: str | None = None) -> None:
        """End the participant's presence (only ``generation``'s, when given)."""
        if generation is None:
            await self._redis.hdel(self._key(meeting), participant)
        else:
            await self._end_if(keys=[self._key(meeting)], args=[participant, generation])

    async def end_meeting(self, meeting: str) -> None:
        await self._redis.delete(self._key(meeting))


def _text(value: object) -> str:
    """A Redis reply as text (bytes unless the client decodes responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)
