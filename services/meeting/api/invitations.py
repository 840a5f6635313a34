"""Invitations: by email address (personal data: never logged)."""

from __future__ import annotations

from meetmesh.meeting.v1 import meeting_pb2
from services.kit import InvalidArgument, current_principal
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.pagination import decode_keyset, keyset_page, page_size

from ..convert import invitation_message, meeting_id_of
from .base import MeetingHandlers

log = get_logger("meetmesh.meeting")


class InvitationMethods(MeetingHandlers):
    """CreateInvitation, ListInvitations."""

    @unary
    async def CreateInvitation(
        self, request: meeting_pb2.CreateInvitationRequest
    ) -> meeting_pb2.CreateInvitationResponse:
        meeting_id = meeting_id_of(request.parent)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        email = request.invitation.email.strip().lower()
        if not email:
            raise InvalidArgument([("invitation.email", "is required")])
        caller = current_principal()
        # For the invitation email, should the notification service not know the inviter yet.
        name = await self.directory.display_name_of(caller) or ""
        row = await self.store.invite(meeting_id, email, caller.user_id, name)
        # The address is personal data: log the invitation's id, never the address.
        log.info("invitation created", extra={"meeting": meeting_id, "invitation": row.id})
        return meeting_pb2.CreateInvitationResponse(invitation=invitation_message(row))

    @unary
    async def ListInvitations(
        self, request: meeting_pb2.ListInvitationsRequest
    ) -> meeting_pb2.ListInvitationsResponse:
        meeting_id = meeting_id_of(request.parent)
        access = await self._access(meeting_id, current_principal())
        self._require(access)
        size = page_size(request.page_size)
        params = {"m": "ListInvitations", "p": request.parent}
        rows = await self.store.invitations(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListInvitationsResponse(
            invitations=[invitation_message(r) for r in rows], next_page_token=token
        )
