"""Joining and leaving: passcodes, the lobby, seats, join tokens."""

from __future__ import annotations

import asyncio

from meetmesh.meeting.events.v1 import events_pb2 as ev
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Principal,
    current_principal,
    downstream_timeout,
)
from services.kit.errors import Reason
from services.kit.handlers import unary
from services.kit.timestamps import from_epoch

from .. import access as g
from ..convert import meeting_id_of, meeting_message, participant_message
from ..models import MeetingRow, ParticipantRow
from ..store import ADMITTED, DENIED, LEFT, REMOVED, WAITING, participant_id_for
from .base import MeetingHandlers


class JoiningMethods(MeetingHandlers):
    """JoinMeeting, LeaveMeeting."""

    async def _check_passcode(self, meeting: MeetingRow, caller: Principal, given: str) -> None:
        if meeting.passcode_hash is None or meeting.host_user_id == caller.user_id:
            return
        key = f"{meeting.id}:{caller.user_id}"
        message = "too many wrong passcodes; try again later"
        await self.passcode_throttle.check([key], message)
        if not await self.passcodes.verify(meeting.passcode_hash, given):
            await self.passcode_throttle.failed([key])
            raise PermissionDenied("the passcode is wrong", reason=Reason.ERROR_REASON_WRONG_PASSCODE)
        await self.passcode_throttle.reset([key])

    async def _wait_for_admission(self, meeting_id: str, participant_id: str) -> None:
        """Return once the participant leaves the lobby, or the wait (bounded by the deadline) ends."""
        budget = downstream_timeout(self.opts.lobby_max_wait_s) or self.opts.lobby_max_wait_s
        budget = max(0.0, budget - 0.25)  # answer WAITING before the caller's deadline passes
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        while True:
            row = await self.store.participant(meeting_id, participant_id)
            if row is None or row.state != WAITING:
                return
            remaining = end - loop.time()
            if remaining <= 0:
                return
            # A change wakes us at once; the re-read above also covers a missed event.
            await self.cache.wait_for_change(meeting_id, min(remaining, 1.0))

    @unary
    async def JoinMeeting(self, request: meeting_pb2.JoinMeetingRequest) -> meeting_pb2.JoinMeetingResponse:
        caller = current_principal()
        meeting_id = meeting_id_of(request.name)
        found = self.cache.peek(meeting_id, caller.user_id)
        if found is None and self.store.straight_joins:
            # Not known here: most likely a first join. Try the straight way in, one statement
            # that reads the meeting itself; it stands back where a passcode or the lobby applies.
            straight = await self._join_straight(meeting_id, caller, request)
            if straight is not None:
                return self._joined(caller, *straight)
        meeting, existing = found if found is not None else await self.cache.get(meeting_id, caller.user_id)
        if meeting is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        if meeting.state == "ended":
            raise FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED)
        is_host = meeting.host_user_id == caller.user_id
        role = g.HOST if is_host else (existing.role if existing is not None else g.PARTICIPANT)
        if existing is None or existing.state == LEFT:
            await self._check_passcode(meeting, caller, request.passcode)
        display_name = (
            request.display_name.strip()
            or (await self.directory.display_name_of(caller) or "").strip()
            or (existing.display_name if existing else "")
            or g.GUEST_NAME  # only when the user service cannot say, or the account has no name
        )
        wait = meeting.lobby_enabled and not g.bypasses_lobby(role)
        # Straight in (no lobby): the participant's live generation is written BEFORE its seat is
        # taken, so the token can carry it without reading the participant again afterwards. A
        # leave, removal or meeting end can then only come after the generation exists, and
        # deletes it (see _live_generation for the order the lobby path keeps).
        pid = existing.id if existing is not None else participant_id_for(meeting_id, caller.user_id)
        started = await self.joins.start(meeting_id, pid) if not wait else None
        try:
            participant, changed, fresh = await self.store.join(
                meeting_id, caller.user_id, display_name, role, wait_in_lobby=wait, participant_id=pid
            )
        except BaseException:
            await self._drop_started(meeting_id, pid, started)
            raise
        generation = await self._seated(meeting_id, pid, started, participant)
        if changed:
            kind = "participant_waiting" if participant.state == WAITING else "participant_admitted"
            change = ev.ParticipantChange(participant=participant.id, user=caller.user_id)
            if participant.state == WAITING:  # the hosts' knock notice names who waits
                change.display_name = participant.display_name
            await self._changed(meeting_id, **{kind: change})
        if participant.state == WAITING and request.wait_for_admission:
            await self._wait_for_admission(meeting_id, participant.id)
            refreshed = await self.store.participant(meeting_id, participant.id)
            participant = refreshed or participant
            fresh = await self.store.meeting(meeting_id) or fresh
        if participant.state in (DENIED, REMOVED):
            raise PermissionDenied(
                "you may not join this meeting", reason=Reason.ERROR_REASON_ADMISSION_DENIED
            )
        if participant.state == ADMITTED and generation is None:
            generation = await self._live_generation(meeting_id, participant.id, caller.user_id)
        return self._joined(caller, participant, fresh, generation)

    async def _join_straight(
        self, meeting_id: str, caller: Principal, request: meeting_pb2.JoinMeetingRequest
    ) -> tuple[ParticipantRow, MeetingRow, str | None] | None:
        """The join without reading the meeting first (``MeetingStore.join_straight``); None,
        with nothing changed, where the checked way must decide (passcode, lobby, or already
        waiting in the lobby)."""
        display_name = (
            request.display_name.strip() or (await self.directory.display_name_of(caller) or "").strip()
        )
        pid = participant_id_for(meeting_id, caller.user_id)
        started = await self.joins.start(meeting_id, pid)  # before the seat: see JoinMeeting
        try:
            outcome = await self.store.join_straight(
                meeting_id, caller.user_id, display_name, g.PARTICIPANT, pid
            )
        except BaseException:
            await self._drop_started(meeting_id, pid, started)
            raise
        if outcome is None or outcome[0].state != ADMITTED:
            await self._drop_started(meeting_id, pid, started)
            return None  # nothing was changed (a changed row here is always ADMITTED)
        participant, changed, fresh = outcome
        generation = await self._seated(meeting_id, pid, started, participant)
        if changed:
            change = ev.ParticipantChange(participant=participant.id, user=caller.user_id)
            await self._changed(meeting_id, participant_admitted=change)
        if generation is None:  # seated under an earlier id, or live already: the careful way
            generation = await self._live_generation(meeting_id, participant.id, caller.user_id)
        return participant, fresh, generation

    async def _drop_started(self, meeting_id: str, pid: str, started: tuple[str, bool] | None) -> None:
        """End the generation a join started for ``pid`` (only if this call started it)."""
        if started is not None and started[1]:
            await self.joins.end(meeting_id, pid, started[0])

    async def _seated(
        self, meeting_id: str, pid: str, started: tuple[str, bool] | None, participant: ParticipantRow
    ) -> str | None:
        """The generation this call started before the join, if the participant was seated under
        ``pid``; else None, and a generation this call started goes again (a row from before
        participant ids were derived, or the lobby was switched on meanwhile). A generation this
        call found live already is not trusted here: it belongs to another session of the same
        participant (ids are derived from meeting and account, so both name the same one), which
        may end it before this seat is taken (a leave, or a concurrent join that stood back);
        ``_live_generation`` then re-reads after starting."""
        if started is not None and started[1] and participant.id == pid and participant.state == ADMITTED:
            return started[0]
        await self._drop_started(meeting_id, pid, started)
        return None

    def _joined(
        self,
        caller: Principal,
        participant: ParticipantRow,
        fresh: MeetingRow,
        generation: str | None,
    ) -> meeting_pb2.JoinMeetingResponse:
        """The answer to a join; with a join token when the participant is admitted."""
        reply = meeting_pb2.JoinMeetingResponse(
            meeting=meeting_message(fresh),
            participant=participant_message(participant, fresh),
            signaling_address=self.opts.public_signaling_address or self.settings.signaling.address,
            signaling_websocket_path=self.opts.signaling_websocket_path,
        )
        if participant.state == ADMITTED and generation is not None:
            held = g.effective(participant.role, g.parse_overrides(fresh.role_grants))
            token, expires = self.tokens.issue_join(
                generation=generation,
                user_id=caller.user_id,
                meeting_id=fresh.id,
                participant_id=participant.id,
                meeting_role=participant.role,
                grants=held,
                ttl_s=self.settings.join_token_ttl_s,
                display_name=participant.display_name,  # signaling's Participant.display_name
            )
            reply.join_token = token
            reply.join_token_expire_time.CopyFrom(from_epoch(expires))
        return reply

    async def _live_generation(self, meeting_id: str, participant_id: str, user_id: str) -> str:
        """The participant's live generation for its join token (a new one when it has just
        entered); refused if it left, was removed or the meeting ended meanwhile (re-read after
        writing the generation, so a concurrent leave cannot leave a live token behind)."""
        generation = await self.joins.current_or_start(meeting_id, participant_id)
        meeting, row = await self.store.meeting_and_participant(meeting_id, user_id)
        if (
            row is None
            or row.id != participant_id
            or row.state != ADMITTED
            or meeting is None
            or meeting.state == "ended"
        ):
            await self.joins.end(meeting_id, participant_id, generation)
            raise FailedPrecondition("the participant is no longer in the meeting; join again")
        return generation

    @unary
    async def LeaveMeeting(
        self, request: meeting_pb2.LeaveMeetingRequest
    ) -> meeting_pb2.LeaveMeetingResponse:
        caller = current_principal()
        meeting_id = meeting_id_of(request.name)
        access = await self._access(meeting_id, caller)
        if access.participant is None:
            raise NotFound(f"you are not a participant of meetings/{meeting_id}")
        row = await self.store.transition(
            meeting_id, access.participant.id, allowed_from=(ADMITTED, WAITING), to=LEFT
        )
        await self._ended_presence(meeting_id, row.id)
        await self._changed(
            meeting_id, participant_left=ev.ParticipantChange(participant=row.id, user=row.user_id)
        )
        return meeting_pb2.LeaveMeetingResponse(participant=participant_message(row, access.meeting))
