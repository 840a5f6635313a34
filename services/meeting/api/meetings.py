"""Meetings themselves: create, get, list, update, end."""

from __future__ import annotations

from typing import Any

from meetmesh.meeting.events.v1 import events_pb2 as ev
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import InvalidArgument, current_principal
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.masks import mask_paths
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.timestamps import from_timestamp

from .. import access as g
from ..convert import cached_meeting_message, meeting_id_of, meeting_message
from .base import MeetingHandlers

log = get_logger("meetmesh.meeting")

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


class MeetingMethods(MeetingHandlers):
    """CreateMeeting, GetMeeting, ListMeetings, UpdateMeeting, EndMeeting."""

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
        access = await self._access(meeting_id_of(request.name), current_principal())
        return meeting_pb2.GetMeetingResponse(meeting=cached_meeting_message(access.meeting))

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
        meeting_id = meeting_id_of(request.meeting.name) if request.meeting.name.count("/") == 1 else ""
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
        meeting_id = meeting_id_of(request.name)
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
