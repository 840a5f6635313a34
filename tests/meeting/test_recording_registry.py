"""The internal recording registry: only media may register, and only safe keys under the meeting.

The probe's scenario (issue 11): with no token, `CreateRecording` with `object_key`
`../../../etc/passwd` added an entry that then appeared in the meeting's public recordings list.
"""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.kit import events
from tests.support import Platform, error_info, field_violations


def _request(parent: str, key: str) -> recordings_pb2.CreateRecordingRequest:
    return recordings_pb2.CreateRecordingRequest(
        parent=parent,
        recording=meeting_pb2.Recording(object_key=key, media_type="video/webm", size_bytes=10),
    )


async def _listed(platform: Platform, meeting: str, metadata: dict[str, str]) -> list[str]:
    reply = await platform.meetings.ListRecordings(
        meeting_pb2.ListRecordingsRequest(parent=meeting), metadata=metadata
    )
    return [r.object_key for r in reply.recordings]


async def test_anonymous_and_user_callers_cannot_register_recordings(platform: Platform) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting()
    registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
    for metadata, status in (({}, Status.UNAUTHENTICATED), (host.metadata, Status.PERMISSION_DENIED)):
        with pytest.raises(GRPCError) as err:
            await registry.CreateRecording(_request(meeting.name, "../../../etc/passwd"), metadata=metadata)
        assert err.value.status == status
    assert await _listed(platform, meeting.name, host.metadata) == []


async def test_unsafe_object_keys_are_invalid_and_nothing_is_stored(platform: Platform) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting()
    other = await host.create_meeting()
    registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
    as_media = {"authorization": platform.runtime.identity("media").authorization()}
    folder = f"{meeting.name}/recordings"
    meeting_id, prefix = meeting.name.split("/")[1], platform.settings.redis_prefix
    unsafe = [
        "../../../etc/passwd",
        "/etc/passwd",
        f"/{folder}/x.webm",
        f"{folder}/../../../etc/passwd",
        f"{folder}/./x.webm",
        f"{folder}//x.webm",
        f"{folder}/a\x00b.webm",
        f"{folder}/a\nb.webm",
        f"{folder}/a\x1bb.webm",
        f"{folder}\\..\\x.webm",
        f"{other.name}/recordings/x.webm",  # another meeting's folder
        "recordings/x.webm",
        "",
        f"{folder}/" + "x" * 600,
    ]
    for key in unsafe:
        with pytest.raises(GRPCError) as err:
            await registry.CreateRecording(_request(meeting.name, key), metadata=as_media)
        assert err.value.status == Status.INVALID_ARGUMENT, repr(key)
        assert error_info(err.value).reason == "INVALID_FIELD"
        assert "recording.object_key" in field_violations(err.value), repr(key)
    assert await _listed(platform, meeting.name, host.metadata) == []
    assert await _listed(platform, other.name, host.metadata) == []

    good = f"{folder}/0f3a9c.webm"
    pubsub = platform.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(events.channel_of(events_pb2.MeetingEvent(meeting=meeting_id), prefix))
    reply = await registry.CreateRecording(_request(meeting.name, good), metadata=as_media)
    assert reply.recording.object_key == good
    assert await _listed(platform, meeting.name, host.metadata) == [good]
    async with asyncio.timeout(10):
        while (message := await pubsub.get_message(timeout=1.0)) is None:
            pass
    await pubsub.aclose()
    ready = events_pb2.MeetingEvent.FromString(message["data"])
    assert ready.meeting == meeting_id
    assert ready.recording_ready.recording == reply.recording.name
