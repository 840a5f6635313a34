"""The MeetingService RPC methods."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from meetmesh.meeting.events.v1 import events_pb2 as ev
from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from services.kit import (
    FailedPrecondition,
    FailureThrottle,
    InvalidArgument,
    JoinSessions,
    NotFound,
    PermissionDenied,
    Principal,
    TokenService,
    current_policy,
    current_principal,
    downstream_timeout,
)
from services.kit.errors import Reason
from services.kit.events import meeting_event
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.masks import mask_paths
from services.kit.objects import ObjectStore
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.passwords import Secrets
from services.kit.timestamps import from_epoch, from_timestamp, to_timestamp

from . import grants as g
from .attachments import AttachmentCleanup, AttachmentMethods
from .cache import MeetingCache
from .config import MeetingSettings
from .directory import UserDirectory
from .events import MeetingEvents
from .models import InvitationRow, MeetingRow, ParticipantRow, RecordingRow
from .store import ADMITTED, DENIED, LEFT, REMOVED, WAITING, MeetingStore

log = get_logger("meetmesh.meeting")

_MEETING_STATES = {
    "scheduled": meeting_pb2.Meeting.STATE_SCHEDULED,
    "active": meeting_pb2.Meeting.STATE_ACTIVE,
    "ended": meeting_pb2.Meeting.STATE_ENDED,
}
_PARTICIPANT_STATES = {
    WAITING: meeting_pb2.Participant.STATE_WAITING,
    ADMITTED: meeting_pb2.Participant.STATE_ADMITTED,
    DENIED: meeting_pb2.Participant.STATE_DENIED,
    REMOVED: meeting_pb2.Participant.STATE_REMOVED,
    LEFT: meeting_pb2.Participant.STATE_LEFT,
}
_STATE_FILTER = {v: k for k, v in _PARTICIPANT_STATES.items()}
_UPDATABLE = {
    "title",
    "description",
    "start_time",
    "end_time",
    "passcode",
    "lobby_enabled",
    "capacity",
    "settings",
    "role_grants",
}


def meeting_message(row: MeetingRow) -> meeting_pb2.Meeting:
    return meeting_pb2.Meeting(
        name=f"meetings/{row.id}",
        title=row.title,
        description=row.description,
        host=f"users/{row.host_user_id}",
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        passcode_protected=row.passcode_hash is not None,
        lobby_enabled=row.lobby_enabled,
        capacity=row.capacity,
        settings=meeting_pb2.MeetingSettings(
            recording_allowed=row.recording_allowed,
            ai_enabled=row.ai_enabled,
            live_emotions=row.live_emotions,
        ),
        role_grants=g.overrides_to_proto(g.parse_overrides(row.role_grants)),
        state=_MEETING_STATES.get(row.state, meeting_pb2.Meeting.STATE_UNSPECIFIED),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        participant_count=row.admitted_count,
    )


def participant_message(row: ParticipantRow, meeting: MeetingRow) -> meeting_pb2.Participant:
    return meeting_pb2.Participant(
        name=f"meetings/{row.meeting_id}/participants/{row.id}",
        user=f"users/{row.user_id}",
        display_name=row.display_name,
        role=g.ROLE_TO_PROTO.get(row.role, meeting_pb2.ROLE_UNSPECIFIED),
        state=_PARTICIPANT_STATES.get(row.state, meeting_pb2.Participant.STATE_UNSPECIFIED),
        grants=g.to_proto(g.effective(row.role, g.parse_overrides(meeting.role_grants))),
        create_time=to_timestamp(row.create_time),
        admit_time=to_timestamp(row.admit_time),
    )


def invitation_message(row: InvitationRow) -> meeting_pb2.Invitation:
    return meeting_pb2.Invitation(
        name=f"meetings/{row.meeting_id}/invitations/{row.id}",
        email=row.email,
        inviter=f"users/{row.inviter_user_id}",
        create_time=to_timestamp(row.create_time),
    )


def recording_message(row: RecordingRow) -> meeting_pb2.Recording:
    return meeting_pb2.Recording(
        name=f"meetings/{row.meeting_id}/recordings/{row.id}",
        object_key=row.object_key,
        media_type=row.media_type,
        duration_seconds=row.duration_seconds,
        size_bytes=row.size_bytes,
        download_uri=row.download_uri,
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
    )


def _meeting_id(name: str) -> str:
    return name.split("/")[1]


def _participant_ids(name: str) -> tuple[str, str]:
    parts = name.split("/")
    return parts[1], parts[3]


@dataclass(frozen=True)
class Access:
    """What the caller is to a meeting."""

    meeting: MeetingRow
    participant: ParticipantRow | None
    grants: frozenset[str]


class MeetingService(AttachmentMethods, meeting_grpc.MeetingServiceBase):
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
        self.opts = settings.meeting_svc
        self.store = store
        self.tokens = tokens
        self.events = events
        self.directory = directory
        self.passcode_throttle = passcode_throttle
        self.cache = cache
        self.joins = joins
        self.passcodes = Secrets(
            time_cost=self.opts.passcode_argon2_time_cost,
            memory_kib=self.opts.passcode_argon2_memory_kib,
            parallelism=1,
        )

    # -- access ----------------------------------------------------------------------------------
    async def _access(self, meeting_id: str, caller: Principal) -> Access:
        """The caller's standing in a meeting; NOT_FOUND when the caller may not see it."""
        meeting, participant = await self.cache.get(meeting_id, caller.user_id)
        if meeting is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        overrides = g.parse_overrides(meeting.role_grants)
        if meeting.host_user_id == caller.user_id:
            return Access(meeting, participant, g.DEFAULTS[g.HOST])
        if participant is not None:
            held = (
                frozenset()
                if participant.state in (DENIED, REMOVED)
                else g.effective(participant.role, overrides)
            )
            return Access(meeting, participant, held)
        email = await self.directory.email_of(caller)
        if email and await self.store.is_invited(meeting_id, email):
            return Access(meeting, None, frozenset())
        raise NotFound(f"meetings/{meeting_id} does not exist")

    async def _changed(self, meeting_id: str, **event: Message) -> None:
        """After a committed change: drop our cached copy at once, then tell every instance
        (``event``: one field of ``MeetingEvent``'s oneof, e.g. ``meeting_ended=MeetingEnded()``)."""
        self.cache.invalidate(meeting_id)
        await self.events.publish(meeting_event(meeting_id, **event))

    @staticmethod
    def _require(access: Access) -> None:
        """The caller must hold the grant the method's contract names (`access.grant`)."""
        grant = current_policy().grant
        if grant and grant not in access.grants:
            raise PermissionDenied(f"this needs the {grant!r} grant in the meeting")

    def _meeting_values(self, meeting: meeting_pb2.Meeting, paths: set[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "title" in paths:
            title = meeting.title.strip()
            if not title:
                raise InvalidArgument([("meeting.title", "is required")])
            values["title"] = title
        if "description" in paths:
            values["description"] = meeting.description
        if "start_time" in paths:
            values["start_time"] = (
                from_timestamp(meeting.start_time) if meeting.HasField("start_time") else None
            )
        if "end_time" in paths:
            values["end_time"] = from_timestamp(meeting.end_time) if meeting.HasField("end_time") else None
        if "lobby_enabled" in paths:
            values["lobby_enabled"] = meeting.lobby_enabled
        if "capacity" in paths:
            values["capacity"] = meeting.capacity or self.opts.default_capacity
        if "settings" in paths:
            values["recording_allowed"] = meeting.settings.recording_allowed
            values["ai_enabled"] = meeting.settings.ai_enabled
            values["live_emotions"] = meeting.settings.live_emotions
        if "role_grants" in paths:
            roles = [rg.role for rg in meeting.role_grants]
            if len(roles) != len(set(roles)):
                raise InvalidArgument([("meeting.role_grants", "lists a role more than once")])
            values["role_grants"] = g.dump_overrides(meeting.role_grants)
        return values

    @staticmethod
    def _check_schedule(start: Any, end: Any) -> None:
        if start is not None and end is not None and end <= start:
            raise InvalidArgument([("meeting.end_time", "must be after start_time")])

    # -- meetings --------------------------------------------------------------------------------
    @unary
    async def CreateMeeting(
        self, request: meeting_pb2.CreateMeetingRequest
    ) -> meeting_pb2.CreateMeetingResponse:
        caller = current_principal()
        values = self._meeting_values(request.meeting, _UPDATABLE - {"passcode"})
        self._check_schedule(values.get("start_time"), values.get("end_time"))
        if request.meeting.passcode:
            values["passcode_hash"] = await self.passcodes.hash(request.meeting.passcode)
        values["host_user_id"] = caller.user_id
        values["request_id"] = request.request_id or None
        row = await self.store.create_meeting(values)
        log.info("meeting created", extra={"meeting": row.id, "host": caller.user_id})
        return meeting_pb2.CreateMeetingResponse(meeting=meeting_message(row))

    @unary
    async def GetMeeting(self, request: meeting_pb2.GetMeetingRequest) -> meeting_pb2.GetMeetingResponse:
        access = await self._access(_meeting_id(request.name), current_principal())
        return meeting_pb2.GetMeetingResponse(meeting=meeting_message(access.meeting))

    @unary
    async def ListMeetings(
        self, request: meeting_pb2.ListMeetingsRequest
    ) -> meeting_pb2.ListMeetingsResponse:
        caller = current_principal()
        size = page_size(request.page_size)
        params = {"m": "ListMeetings", "u": caller.user_id}
        email = await self.directory.email_of(caller)
        rows = await self.store.meetings_for(
            caller.user_id, email, decode_keyset(request.page_token, params), size + 1
        )
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListMeetingsResponse(
            meetings=[meeting_message(r) for r in rows], next_page_token=token
        )

    @unary
    async def UpdateMeeting(
        self, request: meeting_pb2.UpdateMeetingRequest
    ) -> meeting_pb2.UpdateMeetingResponse:
        meeting_id = _meeting_id(request.meeting.name) if request.meeting.name.count("/") == 1 else ""
        if not meeting_id:
            raise InvalidArgument([("meeting.name", "must be meetings/{meeting}")])
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        paths = mask_paths(request.update_mask, _UPDATABLE, empty_means_all=False)
        values = self._meeting_values(request.meeting, paths)
        self._check_schedule(
            values.get("start_time", access.meeting.start_time),
            values.get("end_time", access.meeting.end_time),
        )
        if "passcode" in paths:
            passcode = request.meeting.passcode
            values["passcode_hash"] = await self.passcodes.hash(passcode) if passcode else None
        row = await self.store.update_meeting(meeting_id, values)
        await self._changed(meeting_id, meeting_updated=ev.MeetingUpdated())
        return meeting_pb2.UpdateMeetingResponse(meeting=meeting_message(row))

    @unary
    async def EndMeeting(self, request: meeting_pb2.EndMeetingRequest) -> meeting_pb2.EndMeetingResponse:
        meeting_id = _meeting_id(request.name)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        row = await self.store.end_meeting(meeting_id)
        await self.joins.end_meeting(meeting_id)  # every join token of the meeting dies now
        await self._changed(meeting_id, meeting_ended=ev.MeetingEnded())
        # Attachments go with the meeting: forgotten now, their files removed (retried if S3 is down).
        await self.store.delete_attachments(meeting_id)
        await self.cleanup.remove(meeting_id)
        log.info("meeting ended", extra={"meeting": meeting_id})
        return meeting_pb2.EndMeetingResponse(meeting=meeting_message(row))

    # -- joining ---------------------------------------------------------------------------------
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
        meeting_id = _meeting_id(request.name)
        meeting, existing = await self.cache.get(meeting_id, caller.user_id)
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
            or "Guest"  # only when the user service cannot say, or the account has no name
        )
        wait = meeting.lobby_enabled and not g.bypasses_lobby(role)
        participant, changed, fresh = await self.store.join(
            meeting_id, caller.user_id, display_name, role, wait_in_lobby=wait
        )
        if changed:
            kind = "participant_waiting" if participant.state == WAITING else "participant_admitted"
            change = ev.ParticipantChange(participant=participant.id, user=caller.user_id)
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
        reply = meeting_pb2.JoinMeetingResponse(
            meeting=meeting_message(fresh),
            participant=participant_message(participant, fresh),
            signaling_address=self.opts.public_signaling_address or self.settings.signaling.address,
            signaling_websocket_path=self.opts.signaling_websocket_path,
        )
        if participant.state == ADMITTED:
            generation = await self._live_generation(meeting_id, participant.id, caller.user_id)
            held = g.effective(participant.role, g.parse_overrides(fresh.role_grants))
            token, expires = self.tokens.issue_join(
                generation=generation,
                user_id=caller.user_id,
                meeting_id=meeting_id,
                participant_id=participant.id,
                meeting_role=participant.role,
                grants=held,
                ttl_s=self.settings.join_token_ttl_s,
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

    async def _ended_presence(self, meeting_id: str, participant_id: str) -> None:
        """Leaving, removal, denial: the participant's join tokens die before the call returns."""
        await self.joins.end(meeting_id, participant_id)

    @unary
    async def LeaveMeeting(
        self, request: meeting_pb2.LeaveMeetingRequest
    ) -> meeting_pb2.LeaveMeetingResponse:
        caller = current_principal()
        meeting_id = _meeting_id(request.name)
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

    # -- participants ----------------------------------------------------------------------------
    @unary
    async def GetParticipant(
        self, request: meeting_pb2.GetParticipantRequest
    ) -> meeting_pb2.GetParticipantResponse:
        meeting_id, participant_id = _participant_ids(request.name)
        access = await self._access(meeting_id, current_principal())
        row = await self.store.participant(meeting_id, participant_id)
        if row is None:
            raise NotFound(f"{request.name} does not exist")
        return meeting_pb2.GetParticipantResponse(participant=participant_message(row, access.meeting))

    @unary
    async def ListParticipants(
        self, request: meeting_pb2.ListParticipantsRequest
    ) -> meeting_pb2.ListParticipantsResponse:
        meeting_id = _meeting_id(request.parent)
        access = await self._access(meeting_id, current_principal())
        size = page_size(request.page_size)
        params = {"m": "ListParticipants", "p": request.parent, "s": int(request.state)}
        state = _STATE_FILTER.get(request.state)
        rows = await self.store.participants(
            meeting_id, state, decode_keyset(request.page_token, params), size + 1
        )
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListParticipantsResponse(
            participants=[participant_message(r, access.meeting) for r in rows], next_page_token=token
        )

    async def _moderate(self, name: str) -> tuple[Access, str, str]:
        meeting_id, participant_id = _participant_ids(name)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        return access, meeting_id, participant_id

    async def _decide(self, name: str, to: str, event: str) -> meeting_pb2.Participant:
        """Admit or deny someone waiting in the lobby."""
        access, meeting_id, participant_id = await self._moderate(name)
        row = await self.store.transition(meeting_id, participant_id, allowed_from=(WAITING,), to=to)
        if to != ADMITTED:
            await self._ended_presence(meeting_id, row.id)
        await self._changed(meeting_id, **{event: ev.ParticipantChange(participant=row.id, user=row.user_id)})
        return participant_message(row, access.meeting)

    @unary
    async def AdmitParticipant(
        self, request: meeting_pb2.AdmitParticipantRequest
    ) -> meeting_pb2.AdmitParticipantResponse:
        participant = await self._decide(request.name, ADMITTED, "participant_admitted")
        return meeting_pb2.AdmitParticipantResponse(participant=participant)

    @unary
    async def DenyParticipant(
        self, request: meeting_pb2.DenyParticipantRequest
    ) -> meeting_pb2.DenyParticipantResponse:
        participant = await self._decide(request.name, DENIED, "participant_denied")
        return meeting_pb2.DenyParticipantResponse(participant=participant)

    @unary
    async def UpdateParticipant(
        self, request: meeting_pb2.UpdateParticipantRequest
    ) -> meeting_pb2.UpdateParticipantResponse:
        name = request.participant.name
        if name.count("/") != 3 or not name.startswith("meetings/"):
            raise InvalidArgument(
                [("participant.name", "must be meetings/{meeting}/participants/{participant}")]
            )
        access, meeting_id, participant_id = await self._moderate(name)
        mask_paths(request.update_mask, {"role"}, empty_means_all=False)
        new_role = g.PROTO_TO_ROLE.get(request.participant.role)
        if new_role is None or new_role == g.HOST:
            raise InvalidArgument(
                [("participant.role", "must be ROLE_CO_HOST, ROLE_PARTICIPANT or ROLE_VIEWER")]
            )
        target = await self.store.participant(meeting_id, participant_id)
        if target is None:
            raise NotFound(f"{name} does not exist")
        if target.role == g.HOST:
            raise PermissionDenied("the host's role cannot be changed")
        caller_is_host = access.meeting.host_user_id == current_principal().user_id
        if g.CO_HOST in (new_role, target.role) and not caller_is_host:
            raise PermissionDenied("only the host makes or unmakes co-hosts")
        row = await self.store.set_role(meeting_id, participant_id, new_role)
        grants = sorted(g.effective(new_role, g.parse_overrides(access.meeting.role_grants)))
        changed = ev.RoleChanged(
            participant=row.id, user=row.user_id, role=g.ROLE_TO_PROTO[new_role], grants=grants
        )
        await self._changed(meeting_id, role_changed=changed)
        return meeting_pb2.UpdateParticipantResponse(participant=participant_message(row, access.meeting))

    @unary
    async def RemoveParticipant(
        self, request: meeting_pb2.RemoveParticipantRequest
    ) -> meeting_pb2.RemoveParticipantResponse:
        access, meeting_id, participant_id = await self._moderate(request.name)
        target = await self.store.participant(meeting_id, participant_id)
        if target is None:
            raise NotFound(f"{request.name} does not exist")
        if target.role == g.HOST:
            raise PermissionDenied("the host cannot be removed")
        row = await self.store.transition(
            meeting_id, participant_id, allowed_from=(WAITING, ADMITTED, LEFT), to=REMOVED
        )
        await self._ended_presence(meeting_id, row.id)
        await self._changed(
            meeting_id, participant_removed=ev.ParticipantChange(participant=row.id, user=row.user_id)
        )
        log.info("participant removed", extra={"meeting": meeting_id, "participant": row.id})
        return meeting_pb2.RemoveParticipantResponse(participant=participant_message(row, access.meeting))

    # -- invitations and recordings --------------------------------------------------------------
    @unary
    async def CreateInvitation(
        self, request: meeting_pb2.CreateInvitationRequest
    ) -> meeting_pb2.CreateInvitationResponse:
        meeting_id = _meeting_id(request.parent)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        email = request.invitation.email.strip().lower()
        if not email:
            raise InvalidArgument([("invitation.email", "is required")])
        row = await self.store.invite(meeting_id, email, current_principal().user_id)
        # The address is personal data: log the invitation's id, never the address.
        log.info("invitation created", extra={"meeting": meeting_id, "invitation": row.id})
        return meeting_pb2.CreateInvitationResponse(invitation=invitation_message(row))

    @unary
    async def ListInvitations(
        self, request: meeting_pb2.ListInvitationsRequest
    ) -> meeting_pb2.ListInvitationsResponse:
        meeting_id = _meeting_id(request.parent)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        size = page_size(request.page_size)
        params = {"m": "ListInvitations", "p": request.parent}
        rows = await self.store.invitations(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListInvitationsResponse(
            invitations=[invitation_message(r) for r in rows], next_page_token=token
        )

    def _recording(self, row: RecordingRow, user_id: str) -> meeting_pb2.Recording:
        message = recording_message(row)
        message.download_uri = self.objects.presign_get(row.object_key, user_id)
        return message

    @unary
    async def ListRecordings(
        self, request: meeting_pb2.ListRecordingsRequest
    ) -> meeting_pb2.ListRecordingsResponse:
        meeting_id = _meeting_id(request.parent)
        caller = current_principal()
        await self._access(meeting_id, caller)
        size = page_size(request.page_size)
        params = {"m": "ListRecordings", "p": request.parent}
        rows = await self.store.recordings(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListRecordingsResponse(
            recordings=[self._recording(r, caller.user_id) for r in rows], next_page_token=token
        )
