"""The internal RecordingRegistry: media registers finished recordings here (never routed by the edge)."""

from __future__ import annotations

from grpclib.server import Stream

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from services.kit.timestamps import from_timestamp
from services.kit.validation import require_object_key

from .service import recording_message
from .store import MeetingStore


class RecordingRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self, store: MeetingStore) -> None:
        self.store = store

    async def CreateRecording(
        self, stream: Stream[recordings_pb2.CreateRecordingRequest, recordings_pb2.CreateRecordingResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        recording = request.recording
        meeting_id = request.parent.split("/")[1]
        # protovalidate has checked the key's shape; it must also lie under this meeting's folder.
        require_object_key("recording.object_key", recording.object_key, f"meetings/{meeting_id}/recordings/")
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
        await stream.send_message(recordings_pb2.CreateRecordingResponse(recording=recording_message(row)))
