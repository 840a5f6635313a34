"""The internal RecordingRegistry: media registers finished recordings here (never routed by the edge)."""

from __future__ import annotations

from grpclib.server import Stream

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from services.kit import InvalidArgument
from services.kit.events import meeting_event
from services.kit.objects import check_key
from services.kit.timestamps import from_timestamp

from ..events import MeetingEvents
from ..store import MeetingStore
from .meetings import recording_message


class RecordingRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self, store: MeetingStore, events: MeetingEvents) -> None:
        self.store = store
        self.events = events

    async def CreateRecording(
        self, stream: Stream[recordings_pb2.CreateRecordingRequest, recordings_pb2.CreateRecordingResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
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
        await stream.send_message(recordings_pb2.CreateRecordingResponse(recording=registered))
