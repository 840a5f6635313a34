"""The internal transcript registry: only the ai service may call it, only for an ended meeting,
and the durable `transcript_ready` event is written once however often it is called."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy import func, select

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import transcripts_grpc, transcripts_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit.outbox import stream_of
from services.meeting.models import OUTBOX, TranscriptRow
from tests.support import Platform, field_violations, wait_until


def _request(meeting: str, segments: int = 3) -> transcripts_pb2.CompleteTranscriptRequest:
    return transcripts_pb2.CompleteTranscriptRequest(name=f"{meeting}/transcript", segment_count=segments)


async def _transcript_events(
    platform: Platform, meeting_id: str
) -> list[tuple[str, events_pb2.MeetingEvent]]:
    """The meeting's transcript_ready events, read from the meeting stream once the relay has
    moved every outbox row there (it deletes each row in the transaction that follows its XADD)."""
    db = platform.runtime.database("meeting")

    async def drained() -> bool:
        async with db.reader() as session:
            return int((await session.execute(select(func.count()).select_from(OUTBOX))).scalar_one()) == 0

    await wait_until(drained)
    stream = stream_of(events_pb2.MeetingEvent, platform.runtime.settings.redis_prefix)
    entries = await platform.runtime.redis.xrange(stream)
    found = [
        (fields[b"key"].decode(), events_pb2.MeetingEvent.FromString(fields[b"data"]))
        for _, fields in entries
    ]
    return [
        (k, e) for k, e in found if e.meeting == meeting_id and e.WhichOneof("event") == "transcript_ready"
    ]


async def test_only_the_ai_service_may_complete_a_transcript(platform: Platform) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting()
    registry = transcripts_grpc.TranscriptRegistryServiceStub(platform.channel("meeting"))
    as_media = {"authorization": platform.runtime.identity("media").authorization()}
    for metadata, status in (
        ({}, Status.UNAUTHENTICATED),
        (host.metadata, Status.PERMISSION_DENIED),
        (as_media, Status.PERMISSION_DENIED),
    ):
        with pytest.raises(GRPCError) as err:
            await registry.CompleteTranscript(_request(meeting.name), metadata=metadata)
        assert err.value.status == status
    assert await _transcript_events(platform, meeting.name.split("/")[1]) == []


async def test_bad_requests_and_a_meeting_in_progress_record_nothing(platform: Platform) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting()
    meeting_id = meeting.name.split("/")[1]
    registry = transcripts_grpc.TranscriptRegistryServiceStub(platform.channel("meeting"))
    as_ai = {"authorization": platform.runtime.identity("ai").authorization()}
    for request, field in (
        (transcripts_pb2.CompleteTranscriptRequest(name=meeting.name, segment_count=1), "name"),
        (_request(meeting.name, 0), "segment_count"),
    ):
        with pytest.raises(GRPCError) as err:
            await registry.CompleteTranscript(request, metadata=as_ai)
        assert err.value.status == Status.INVALID_ARGUMENT
        assert field in field_violations(err.value)
    with pytest.raises(GRPCError) as err:
        await registry.CompleteTranscript(_request("meetings/nosuchmeeting"), metadata=as_ai)
    assert err.value.status == Status.NOT_FOUND
    # Not ended: the transcript may still grow.
    with pytest.raises(GRPCError) as err:
        await registry.CompleteTranscript(_request(meeting.name), metadata=as_ai)
    assert err.value.status == Status.FAILED_PRECONDITION
    assert await _transcript_events(platform, meeting_id) == []
    db = platform.runtime.database("meeting")
    async with db.reader() as session:
        assert await session.get(TranscriptRow, meeting_id) is None


async def test_a_repeated_call_writes_the_event_once(platform: Platform) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting(title="Retro")
    meeting_id = meeting.name.split("/")[1]
    await platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    registry = transcripts_grpc.TranscriptRegistryServiceStub(platform.channel("meeting"))
    as_ai = {"authorization": platform.runtime.identity("ai").authorization()}
    first = await registry.CompleteTranscript(_request(meeting.name, 4), metadata=as_ai)
    assert first.created and first.name == f"{meeting.name}/transcript"
    # A retry, and two racing calls (a restarted ai service redelivered the same event).
    again = await asyncio.gather(
        *(registry.CompleteTranscript(_request(meeting.name, 5), metadata=as_ai) for _ in range(3))
    )
    assert [r.created for r in again] == [False, False, False]
    assert {r.ready_time.ToNanoseconds() for r in again} == {first.ready_time.ToNanoseconds()}
    written = await _transcript_events(platform, meeting_id)
    assert len(written) == 1
    key, event = written[0]
    assert event.host == host.user_id and event.title == "Retro"
    assert event.transcript_ready.transcript == f"{meeting.name}/transcript"
    assert event.transcript_ready.segment_count == 4
    # The event's idempotency key is the transcript's own (consumers would deduplicate a copy).
    assert key == uuid.uuid5(uuid.NAMESPACE_URL, f"meetmesh:{meeting.name}/transcript").hex
