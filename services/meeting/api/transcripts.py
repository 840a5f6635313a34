"""The internal ``TranscriptRegistry`` (``meetmesh.meeting.internal.v1``, never routed by the edge):
the ai service records here that an ended meeting's transcript is complete, and the meeting
service writes the durable ``transcript_ready`` event once."""

from __future__ import annotations

from meetmesh.meeting.internal.v1 import transcripts_grpc, transcripts_pb2
from services.kit.handlers import unary
from services.kit.timestamps import to_timestamp

from ..store import MeetingStore


class TranscriptRegistry(transcripts_grpc.TranscriptRegistryServiceBase):
    def __init__(self, store: MeetingStore) -> None:
        self.store = store

    @unary
    async def CompleteTranscript(
        self, request: transcripts_pb2.CompleteTranscriptRequest
    ) -> transcripts_pb2.CompleteTranscriptResponse:
        meeting_id = request.name.split("/")[1]
        row, created = await self.store.complete_transcript(meeting_id, request.segment_count)
        return transcripts_pb2.CompleteTranscriptResponse(
            name=request.name, ready_time=to_timestamp(row.ready_time), created=created
        )
