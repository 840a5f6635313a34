"""Recording: bots publish, a participant with the `record` grant records, and the WebM file lands
in S3 (SeaweedFS, started by the project) with the streams and duration that were sent, and is
registered with the meeting service (ListRecordings). With S3 down, media keeps forwarding, the
finished recording waits in the spool on local disk and is uploaded when S3 returns."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import httpx
import pytest

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh.signaling.v1.signaling_pb2 import TRACK_KIND_VIDEO
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from services.kit.objects import ObjectStoreSettings, ObjectStoreUnavailable
from services.media.config import MediaOptions
from services.stack import SeaweedS3Server
from tests.rtc_helpers import RawSession, Rtc, media_options, real_platform, start_rtc
from tests.support import Platform, wait_until

RECORD_S = 3.0


@pytest.fixture
async def s3_rtc_platform(
    run_id: str, keys_dir: Path, s3_settings: ObjectStoreSettings
) -> AsyncIterator[Platform]:
    platform = await real_platform(run_id, keys_dir, s3_settings)
    try:
        yield platform
    finally:
        await platform.close()


@pytest.fixture
def media_settings(tmp_path: Path) -> MediaOptions:
    return media_options(spool_dir=tmp_path / "spool", spool_retry_s=0.3)


async def record(env: Rtc, seconds: float = RECORD_S) -> signaling_pb2.RecordingUpdate:
    """Two bots publish; the host records ``seconds`` of real-time media and stops."""
    publisher = await env.bot()
    await publisher.publish(ColorVideoTrack((200, 40, 40), width=320, height=240))
    await publisher.publish(ToneAudioTrack(440))
    # The host's role has the `record` grant; the meeting must allow recording.
    await env.platform.meetings.UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(
                name=env.meeting.name, settings=meeting_pb2.MeetingSettings(recording_allowed=True)
            ),
            update_mask={"paths": ["settings"]},
        ),
        metadata=env.host.metadata,
    )
    reply = await env.host.join(env.meeting.name)
    host = await Room.connect(reply.signaling_address, reply.join_token)
    env.rooms.append(host)
    await host.wait_until(lambda: len(host.remote) == 2)
    started = await host.record(True)
    assert started.recording_update.recording
    await asyncio.sleep(seconds)  # record a known stretch of real-time media
    stopped = (await host.record(False)).recording_update
    assert stopped.recording_name.startswith(f"{env.meeting.name}/recordings/")
    return stopped


async def test_recording_lands_in_s3_with_the_streams_and_duration_sent(
    s3_rtc_platform: Platform, media_settings: MediaOptions, s3_settings: ObjectStoreSettings
) -> None:
    env = await start_rtc(s3_rtc_platform, media=media_settings)
    try:
        stopped = await record(env)

        async with httpx.AsyncClient() as http:
            download = await http.get(stopped.download_uri)
        assert download.status_code == 200
        with tempfile.NamedTemporaryFile(suffix=".webm") as fh:
            fh.write(download.content)
            fh.flush()
            with av.open(fh.name) as container:
                kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
                duration = container.duration / 1e6
                decoded = sum(1 for _ in container.decode(video=0))
        assert kinds == [("audio", "opus"), ("video", "vp8")]
        assert RECORD_S - 0.7 < duration < RECORD_S + 1.0
        assert decoded > 20 * (RECORD_S - 1)  # ~30 fps were sent

        listed = await env.platform.meetings.ListRecordings(
            meeting_pb2.ListRecordingsRequest(parent=env.meeting.name), metadata=env.host.metadata
        )
        assert [r.name for r in listed.recordings] == [stopped.recording_name]
        assert listed.recordings[0].media_type == "video/webm"
        assert abs(listed.recordings[0].duration_seconds - duration) < 0.5
        assert listed.recordings[0].size_bytes == len(download.content)
        stored = await s3_rtc_platform.runtime.objects.stat(listed.recordings[0].object_key)
        assert stored is not None and stored.size == len(download.content)
        async with httpx.AsyncClient() as http:  # ListRecordings hands out a working URL too
            assert (await http.get(listed.recordings[0].download_uri)).content == download.content
    finally:
        await env.close()


@pytest.fixture
def outage_s3() -> Iterator[SeaweedS3Server]:
    """A SeaweedFS of this test's own: the test kills and restarts it."""
    server = SeaweedS3Server()
    server.start()
    try:
        yield server
    finally:
        server.remove()


async def test_a_recording_made_while_s3_is_down_is_uploaded_when_it_returns(
    run_id: str, keys_dir: Path, outage_s3: SeaweedS3Server, media_settings: MediaOptions
) -> None:
    objects = ObjectStoreSettings(
        endpoint=outage_s3.endpoint,
        access_key=outage_s3.access_key,
        secret_key=outage_s3.secret_key,
        bucket="recordings",
        timeout_s=1.0,
    )
    platform = await real_platform(run_id, keys_dir, objects)
    env = await start_rtc(platform, media=media_settings)
    try:
        outage_s3.kill()
        stopped = await record(env, seconds=2.0)
        # Media keeps forwarding with S3 down: the host still receives the publisher's video.
        video = next(r for r in env.rooms[-1].remote.values() if r.info.kind == TRACK_KIND_VIDEO)
        frames = 0
        async with asyncio.timeout(10):
            while frames < 15:
                await video.track.recv()
                frames += 1
        # The recording is registered and waits in the spool on local disk.
        listed = await platform.meetings.ListRecordings(
            meeting_pb2.ListRecordingsRequest(parent=env.meeting.name), metadata=env.host.metadata
        )
        assert [r.name for r in listed.recordings] == [stopped.recording_name]
        key = listed.recordings[0].object_key
        assert list((media_settings.spool_dir).glob("*.data"))
        outage_s3.start()

        async def uploaded() -> bool:  # in the store, and gone from the spool
            if list(media_settings.spool_dir.iterdir()):
                return False
            try:
                return await platform.runtime.objects.stat(key) is not None
            except ObjectStoreUnavailable:
                return False

        await wait_until(uploaded, within_s=30, every_s=0.2)
        async with httpx.AsyncClient() as http:
            download = await http.get(stopped.download_uri)
        assert download.status_code == 200
        assert len(download.content) == listed.recordings[0].size_bytes
        with tempfile.NamedTemporaryFile(suffix=".webm") as fh:
            fh.write(download.content)
            fh.flush()
            with av.open(fh.name) as container:
                assert sorted(s.type for s in container.streams) == ["audio", "video"]
    finally:
        await env.close()
        await platform.close()


async def test_stopping_a_recording_of_a_meeting_without_media_is_a_failed_precondition(rtc: Rtc) -> None:
    """Nothing to write is the caller's situation, not an outage (issue 11: it was UNAVAILABLE
    from a FileNotFoundError inside)."""
    await rtc.platform.meetings.UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(
                name=rtc.meeting.name, settings=meeting_pb2.MeetingSettings(recording_allowed=True)
            ),
            update_mask={"paths": ["settings"]},
        ),
        metadata=rtc.host.metadata,
    )
    reply = await rtc.host.join(rtc.meeting.name)
    async with RawSession(reply.signaling_address) as session:
        await session.join(reply.join_token)
        await session.send(request_id=2, recording=pb.ControlRecording(record=True))
        assert (await session.next("recording_update")).recording_update.recording
        await session.send(request_id=3, recording=pb.ControlRecording(record=False))
        error = (await session.next("error")).error
        assert (error.reason, error.fatal) == ("FAILED_PRECONDITION", False)
        assert "nothing was recorded" in error.message
        assert rtc.media.recorders == {}  # discarded: recording can start again
        await session.send(request_id=4, recording=pb.ControlRecording(record=True))
        assert (await session.next("recording_update")).recording_update.recording
