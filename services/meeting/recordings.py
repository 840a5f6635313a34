"""The internal RecordingRegistry: media registers finished recordings here (never routed by the edge)."""

from __future__ import annotations

from grpclib.server import Stream

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from services.kit.timestamps import from_timestamp
from services.kit.validation import require

from .service import recording_message
from .store import MeetingStore

# The method path the service spec leaves to internal callers (no user token).
CREATE_RECORDING = "/meetmesh.meeting.internal.v1.RecordingRegistryService/CreateRecording"


class RecordingRegistry(recordings_grpc.RecordingRegistryServiceBase):
    def __init__(self, store: MeetingStore) -> None:
        self.store = store

    async def CreateRecording(
        self, stream: Stream[recordings_pb2.CreateRecordingRequest, recordings_pb2.CreateRecordingResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        recording = request.recording
        require("recording.object_key", bool(recording.object_key))
        row = await self.store.add_recording(
            request.parent.split("/")[1],
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
