"""The internal MeetingSettingsService: media asks whether a meeting's AI analysis is on."""

from __future__ import annotations

from meetmesh.meeting.internal.v1 import settings_grpc, settings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import NotFound
from services.kit.handlers import unary

from ..store import MeetingStore


class MeetingSettingsLookup(settings_grpc.MeetingSettingsServiceBase):
    def __init__(self, store: MeetingStore) -> None:
        self.store = store

    @unary
    async def GetMeetingSettings(
        self, request: settings_pb2.GetMeetingSettingsRequest
    ) -> settings_pb2.GetMeetingSettingsResponse:
        row = await self.store.meeting(request.name.split("/")[1])
        if row is None:
            raise NotFound(f"{request.name} does not exist")
        settings = meeting_pb2.MeetingSettings(
            recording_allowed=row.recording_allowed,
            ai_enabled=row.ai_enabled,
            live_emotions=row.live_emotions,
        )
        return settings_pb2.GetMeetingSettingsResponse(settings=settings)
