"""What every part of ``MeetingService`` shares: its dependencies, the caller's access, and the
"something changed" step (drop the cached meeting, tell every instance)."""

from __future__ import annotations

from google.protobuf.message import Message

from services.kit import FailureThrottle, JoinSessions, Principal, TokenService
from services.kit.events import meeting_event
from services.kit.objects import ObjectStore
from services.kit.passwords import Secrets

from ..access import Access, MeetingAccess, require_grant
from ..attachments import AttachmentCleanup
from ..cache import MeetingCache
from ..config import MeetingSettings
from ..directory import UserDirectory
from ..events import MeetingEvents
from ..store import MeetingStore


class MeetingHandlers:
    """The state the RPC mixins of ``MeetingService`` (one module per concern) work on."""

    def __init__(
        self,
        settings: MeetingSettings,
        store: MeetingStore,
        tokens: TokenService,
        events: MeetingEvents,
        directory: UserDirectory,
        passcode_throttle: FailureThrottle,
        cache: MeetingCache,
        joins: JoinSessions,
        objects: ObjectStore,
    ) -> None:
        self.settings = settings
        self.objects = objects
        self.cleanup = AttachmentCleanup(objects)
        self.opts = settings.meeting
        self.store = store
        self.tokens = tokens
        self.events = events
        self.directory = directory
        self.passcode_throttle = passcode_throttle
        self.cache = cache
        self.joins = joins
        self.access = MeetingAccess(cache, store, directory)
        self.passcodes = Secrets(
            time_cost=self.opts.passcode_argon2_time_cost,
            memory_kib=self.opts.passcode_argon2_memory_kib,
            parallelism=1,
        )

    async def _access(self, meeting_id: str, caller: Principal) -> Access:
        """The caller's standing in a meeting; NOT_FOUND when the caller may not see it."""
        return await self.access.of(meeting_id, caller)

    @staticmethod
    def _require(access: Access) -> None:
        """The caller must hold the grant the method's contract names (`access.grant`)."""
        require_grant(access)

    async def _changed(self, meeting_id: str, **event: Message) -> None:
        """After a committed change: drop our cached copy at once, then tell every instance
        (``event``: one field of ``MeetingEvent``'s oneof, e.g. ``meeting_ended=MeetingEnded()``)."""
        self.cache.invalidate(meeting_id)
        await self.events.publish(meeting_event(meeting_id, **event))

    async def _ended_presence(self, meeting_id: str, participant_id: str) -> None:
        """Leaving, removal, denial: the participant's join tokens die before the call returns."""
        await self.joins.end(meeting_id, participant_id)
