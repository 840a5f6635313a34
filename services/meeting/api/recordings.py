"""Recordings: the public ``ListRecordings`` and the internal ``RecordingRegistry``, where media
registers finished recordings (``meetmesh.meeting.internal.v1``, never routed by the edge)."""

from __future__ import annotations

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import InvalidArgument, current_principal
from services.kit.events import meeting_event
from services.kit.handlers import unary
from services.kit.objects import check_key
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.timestamps import from_timestamp

from ..convert import meeting_id_of, recording_message
from ..events import MeetingEvents
from ..models import RecordingRow
from ..store import MeetingStore
from .base import MeetingHandlers


class RecordingMethods(MeetingHandlers):
    """ListRecordings (the download links are presigned for the caller)."""

    def _recording(self, row: RecordingRow, user_id: str) -> meeting_pb2.Recording:
        message = recording_message(row)
        message.download_uri = self.objects.presign_get(row.object_key, user_id)
        return message

    @unary
    async def ListRecordings(
        self, request: meeting_pb2.ListRecordingsRequest
    ) -> meeting_pb2.ListRecordingsResponse:
        meeting_id = meeting_id_of(request.parent)
        caller = current_principal()
        await self._access(meeting_id, caller)
        size = page_size(request.page_size)
        params = {"m": "ListRecordings", "p": request.parent}
        rows = await self.store.recordings(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListRecordingsResponse(
            recordings=[self._recording(r, caller.user_id) for r in rows], next_page_token=token
        )


class RecordingRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self, store: MeetingStore, events: MeetingEvents) -> None:
        self.store = store
        self.events = events

    @unary
    async def CreateRecording(
        self, request: recordings_pb2.CreateRecordingRequest
    ) -> recordings_pb2.CreateRecordingResponse:
        recording = request.recording
        meeting_id = request.parent.split("/")[1]
        # protovalidate has checked the key's shape; it must be a safe key under this meeting's folder.
        folder = f"meetings/{meeting_id}/recordings/"
        check_key(recording.object_key, "recording.object_key")
        if not recording.object_key.startswith(folder):
            raise InvalidArgument([("recording.object_key", f"must be under {folder}")])
        row = await self.store.add_recording(
            meeting_id,
            {
                "object_key": recording.object_key,
                "media_type": recording.media_type,
                "duration_seconds": recording.duration_seconds,
                "size_bytes": recording.size_bytes,
                "start_time": from_timestamp(recording.start_time)
                if recording.HasField("start_time")
                else None,
                "end_time": from_timestamp(recording.end_time) if recording.HasField("end_time") else None,
            },
        )
        registered = recording_message(row)
        ready = events_pb2.RecordingReady(recording=registered.name)
        await self.events.publish(meeting_event(meeting_id, recording_ready=ready))
        return recordings_pb2.CreateRecordingResponse(recording=registered)
