"""Participants and moderation: get, list, admit, deny, change roles, remove."""

from __future__ import annotations

from meetmesh.meeting.events.v1 import events_pb2 as ev
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import InvalidArgument, NotFound, PermissionDenied, current_principal
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.masks import mask_paths
from services.kit.pagination import decode_keyset, keyset_page, page_size

from .. import access as g
from ..access import Access
from ..convert import STATE_FILTER, meeting_id_of, participant_ids_of, participant_message
from ..store import ADMITTED, DENIED, LEFT, REMOVED, WAITING
from .base import MeetingHandlers

log = get_logger("meetmesh.meeting")


class ParticipantMethods(MeetingHandlers):
    """GetParticipant, ListParticipants, AdmitParticipant, DenyParticipant, UpdateParticipant,
    RemoveParticipant."""

    @unary
    async def GetParticipant(
        self, request: meeting_pb2.GetParticipantRequest
    ) -> meeting_pb2.GetParticipantResponse:
        meeting_id, participant_id = participant_ids_of(request.name)
        access = await self._access(meeting_id, current_principal())
        row = await self.store.participant(meeting_id, participant_id)
        if row is None:
            raise NotFound(f"{request.name} does not exist")
        return meeting_pb2.GetParticipantResponse(participant=participant_message(row, access.meeting))

    @unary
    async def ListParticipants(
        self, request: meeting_pb2.ListParticipantsRequest
    ) -> meeting_pb2.ListParticipantsResponse:
        meeting_id = meeting_id_of(request.parent)
        access = await self._access(meeting_id, current_principal())
        size = page_size(request.page_size)
        params = {"m": "ListParticipants", "p": request.parent, "s": int(request.state)}
        state = STATE_FILTER.get(request.state)
        rows = await self.store.participants(
            meeting_id, state, decode_keyset(request.page_token, params), size + 1
        )
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListParticipantsResponse(
            participants=[participant_message(r, access.meeting) for r in rows], next_page_token=token
        )

    async def _moderate(self, name: str) -> tuple[Access, str, str]:
        meeting_id, participant_id = participant_ids_of(name)
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
