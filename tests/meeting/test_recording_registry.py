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


R = meeting_pb2.RecordingRendition


def _renditions(folder: str, participant: str = "") -> list[meeting_pb2.RecordingRendition]:
    return [
        R(
            kind=R.KIND_MP4,
            participant=participant,
            object_key=f"{folder}.mp4",
            media_type="video/mp4",
            size_bytes=100,
            duration_seconds=3.0,
        ),
        R(
            kind=R.KIND_HLS,
            participant=participant,
            object_key=f"{folder}/hls/index.m3u8",
            media_type="application/vnd.apple.mpegurl",
            size_bytes=50,
            duration_seconds=3.0,
        ),
    ]


async def test_renditions_are_registered_listed_and_checked(platform: Platform) -> None:
    host = await platform.client("Host")
    stranger = await platform.client("Stranger")
    meeting = await host.create_meeting()
    other = await host.create_meeting()
    registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
    as_media = {"authorization": platform.runtime.identity("media").authorization()}
    created = await registry.CreateRecording(
        recordings_pb2.CreateRecordingRequest(
            parent=meeting.name,
            recording=meeting_pb2.Recording(
                object_key=f"{meeting.name}/recordings/r1.webm", media_type="video/webm", transcode_job="job1"
            ),
        ),
        metadata=as_media,
    )
    name = created.recording.name
    base = f"{meeting.name}/recordings/r1"
    pid = f"{meeting.name}/participants/p1"
    good = _renditions(base) + _renditions(f"{base}/participants/p1", pid)

    # Only media registers; bad renditions are INVALID_ARGUMENT and leave the recording as it was.
    request = recordings_pb2.SetRecordingRenditionsRequest(name=name, renditions=good)
    with pytest.raises(GRPCError) as err:
        await registry.SetRecordingRenditions(request, metadata=host.metadata)
    assert err.value.status == Status.PERMISSION_DENIED
    bad_cases = {
        "renditions[0].object_key": R(kind=R.KIND_MP4, object_key="../../../etc/passwd"),
        "renditions[0].object_key ": R(kind=R.KIND_MP4, object_key=f"{other.name}/recordings/x.mp4"),
        "renditions[0].kind": R(object_key=f"{base}.mp4"),
        "renditions[0].participant": R(
            kind=R.KIND_MP4, object_key=f"{base}.mp4", participant=f"{other.name}/participants/p1"
        ),
    }
    for field, rendition in bad_cases.items():
        with pytest.raises(GRPCError) as err:
            await registry.SetRecordingRenditions(
                recordings_pb2.SetRecordingRenditionsRequest(name=name, renditions=[rendition]),
                metadata=as_media,
            )
        assert err.value.status == Status.INVALID_ARGUMENT, field
        assert field.strip() in field_violations(err.value), field
    with pytest.raises(GRPCError) as err:
        await registry.SetRecordingRenditions(
            recordings_pb2.SetRecordingRenditionsRequest(
                name=f"{other.name}/recordings/{name.split('/')[-1]}"
            ),
            metadata=as_media,
        )
    assert err.value.status == Status.NOT_FOUND
    listed = await platform.meetings.ListRecordings(
        meeting_pb2.ListRecordingsRequest(parent=meeting.name), metadata=host.metadata
    )
    assert [list(r.renditions) for r in listed.recordings] == [[]]
    assert listed.recordings[0].transcode_job == "job1"

    # Registered twice (a retried job): the second replaces the first. Listed: MP4 with a URL.
    await registry.SetRecordingRenditions(request, metadata=as_media)
    await registry.SetRecordingRenditions(request, metadata=as_media)
    listed = await platform.meetings.ListRecordings(
        meeting_pb2.ListRecordingsRequest(parent=meeting.name), metadata=host.metadata
    )
    (recording,) = listed.recordings
    assert [(r.kind, r.participant, r.object_key) for r in recording.renditions] == [
        (r.kind, r.participant, r.object_key) for r in good
    ]
    for rendition in recording.renditions:
        assert bool(rendition.uri) == (rendition.kind == R.KIND_MP4)
        if rendition.uri:
            assert rendition.object_key in rendition.uri

    # The playlist comes back with each segment signed (for anyone holding it, as S3's presigned
    # URLs are); a playlist naming a segment outside its folder is refused.
    objects = platform.runtime.objects
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg00000.ts\n#EXTINF:1.0,\nseg00001.ts\n"
        "#EXT-X-ENDLIST\n"
    )
    await objects.put_bytes(
        f"{base}/participants/p1/hls/index.m3u8", playlist.encode(), "application/vnd.apple.mpegurl"
    )
    got = await platform.meetings.GetRecordingPlaylist(
        meeting_pb2.GetRecordingPlaylistRequest(name=name, participant=pid), metadata=host.metadata
    )
    lines = got.playlist.splitlines()
    assert [line for line in lines if line.startswith("#")] == [
        line for line in playlist.splitlines() if line.startswith("#")
    ]
    segments = [line for line in lines if not line.startswith("#")]
    assert len(segments) == 2
    for number, url in enumerate(segments):
        assert f"{base}/participants/p1/hls/seg0000{number}.ts?" in url and "s=" in url
        assert "&u=&" in url  # not bound to the caller: a native player sends no token
    await objects.put_bytes(f"{base}/hls/index.m3u8", b"#EXTM3U\n../../../secret.ts\n", "text/plain")
    for participant, status in (
        ("", Status.FAILED_PRECONDITION),
        (f"{meeting.name}/participants/nobody", Status.NOT_FOUND),
    ):
        with pytest.raises(GRPCError) as err:
            await platform.meetings.GetRecordingPlaylist(
                meeting_pb2.GetRecordingPlaylistRequest(name=name, participant=participant),
                metadata=host.metadata,
            )
        assert err.value.status == status, participant

    # Who cannot see the meeting cannot see its recording's playlist or progress.
    with pytest.raises(GRPCError) as err:
        await platform.meetings.GetRecordingPlaylist(
            meeting_pb2.GetRecordingPlaylistRequest(name=name, participant=pid), metadata=stranger.metadata
        )
    assert err.value.status == Status.NOT_FOUND
    async with platform.meetings.WatchRecordingProgress.open(metadata=stranger.metadata) as stream:
        await stream.send_message(meeting_pb2.WatchRecordingProgressRequest(name=name), end=True)
        with pytest.raises(GRPCError) as err:
            await stream.recv_message()
    assert err.value.status == Status.NOT_FOUND


async def test_progress_of_a_recording_without_a_transcode_job_is_a_failed_precondition(
    platform: Platform,
) -> None:
    host = await platform.client("Host")
    meeting = await host.create_meeting()
    registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
    as_media = {"authorization": platform.runtime.identity("media").authorization()}
    created = await registry.CreateRecording(
        _request(meeting.name, f"{meeting.name}/recordings/r2.webm"), metadata=as_media
    )
    async with platform.meetings.WatchRecordingProgress.open(metadata=host.metadata) as stream:
        await stream.send_message(
            meeting_pb2.WatchRecordingProgressRequest(name=created.recording.name), end=True
        )
        with pytest.raises(GRPCError) as err:
            await stream.recv_message()
    assert err.value.status == Status.FAILED_PRECONDITION
