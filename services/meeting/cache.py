"""A read-through cache of meetings and their participants, kept fresh by the meeting events;
the same events wake callers waiting in a meeting's lobby.

``GetMeeting`` and every access check need the meeting and the caller's participant record. This
cache keeps them per meeting in process memory. Every change to a meeting, by any instance of the
service, is published on the meeting's event channel (``events.py``); each instance listens to all
of them and drops the meeting's entry. Writes made by this instance drop it synchronously too, so
a caller always reads its own writes.

A read that races a change cannot store stale data: each meeting has a generation number that
every invalidation bumps, and a read stores its result only if the generation did not move while
it was reading. Entries also expire after ``ttl_s``, which bounds staleness if a pub/sub message
is ever lost (and the whole cache is dropped whenever the subscription is re-established).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from meetmesh.meeting.events.v1.events_pb2 import MeetingEvent
from services.kit import events
from services.kit.follow import Follower

from .models import MeetingRow, ParticipantRow

Loader = Callable[[str, str], Awaitable[tuple[MeetingRow | None, ParticipantRow | None]]]


@dataclass
class _Entry:
    meeting: MeetingRow
    expires: float
    # user id -> participant (None: known not to be a participant)
    participants: dict[str, ParticipantRow | None] = field(default_factory=dict)


class MeetingCache:
    def __init__(self, loader: Loader, *, ttl_s: float = 5.0, max_meetings: int = 10_000) -> None:
        self._load = loader
        self._ttl_s = ttl_s
        self._max = max_meetings
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._generation: dict[str, int] = {}
        self._follower: Follower | None = None
        # meeting id -> events of callers waiting for its next change (the lobby)
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def peek(self, meeting_id: str, user_id: str) -> tuple[MeetingRow, ParticipantRow | None] | None:
        """The cached meeting and the user's participant; None when not cached (nothing loaded)."""
        entry = self._entries.get(meeting_id)
        if entry is not None and entry.expires > time.monotonic() and user_id in entry.participants:
            return entry.meeting, entry.participants[user_id]
        return None

    async def get(self, meeting_id: str, user_id: str) -> tuple[MeetingRow | None, ParticipantRow | None]:
        found = self.peek(meeting_id, user_id)
        if found is not None:
            return found
        now = time.monotonic()
        generation = self._generation.get(meeting_id, 0)
        meeting, participant = await self._load(meeting_id, user_id)
        if meeting is None or self._generation.get(meeting_id, 0) != generation:
            return meeting, participant
        entry = self._entries.get(meeting_id)
        if entry is None or entry.expires <= now:
            entry = self._entries[meeting_id] = _Entry(meeting, now + self._ttl_s)
            if len(self._entries) > self._max:
                evicted, _ = self._entries.popitem(last=False)
                self._generation.pop(evicted, None)
        entry.participants[user_id] = participant
        return meeting, participant

    def invalidate(self, meeting_id: str) -> None:
        self._entries.pop(meeting_id, None)
        self._generation[meeting_id] = self._generation.get(meeting_id, 0) + 1
        for waiter in self._waiters.get(meeting_id, ()):
            waiter.set()

    async def wait_for_change(self, meeting_id: str, within_s: float) -> None:
        """Return at the meeting's next change (by any instance), or after ``within_s``."""
        event = asyncio.Event()
        waiters = self._waiters.setdefault(meeting_id, set())
        waiters.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), within_s)
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(meeting_id, None)

    def clear(self) -> None:
        for meeting_id in list(self._generation):
            self._generation[meeting_id] += 1
        self._entries.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()

    # -- listening to every instance's changes ---------------------------------------------------
    def start(self, redis: Any, pattern: str) -> None:
        """Follow every meeting's events (``pattern``, from the contract's channel option)."""
        self._follower = Follower(
            redis,
            self._on_event,
            patterns=[pattern],
            # Anything may have changed while nobody listened: drop everything on (re)subscribing.
            on_subscribed=self.clear,
            on_lost=self.clear,
            name="meeting-cache-listener",
        )
        self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None

    def _on_event(self, _channel: str, data: bytes) -> None:
        event = events.decode(MeetingEvent, data)
        if event is not None and event.meeting:
            self.invalidate(event.meeting)
