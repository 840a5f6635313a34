"""Recording: bots publish, a participant with the `record` grant records, and the WebM file lands
in S3 (moto's S3 server, a real S3 HTTP API) with the streams and duration that were sent, and is
registered with the meeting service (ListRecordings)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from services.media.config import MediaSettings
from services.media.store import S3Store
from tests.rtc_helpers import RawSession, Rtc, free_port, start_rtc
from tests.support import Platform

RECORD_S = 3.0


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def recording_settings(s3_endpoint: str) -> MediaSettings:
    return MediaSettings(
        s3_endpoint=s3_endpoint, s3_access_key="test", s3_secret_key="testtesttest", s3_bucket="recordings"
    )


async def test_recording_lands_in_s3_with_the_streams_and_duration_sent(
    rtc_platform: Platform, recording_settings: MediaSettings
) -> None:
    env = await start_rtc(rtc_platform, media=recording_settings)
    try:
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
        await asyncio.sleep(RECORD_S)  # record a known stretch of real-time media
        stopped = (await host.record(False)).recording_update
        assert stopped.recording_name.startswith(f"{env.meeting.name}/recordings/")

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
        store = S3Store(recording_settings)
        assert await asyncio.to_thread(
            lambda: store._client.stat_object("recordings", listed.recordings[0].object_key).size
        ) == len(download.content)
    finally:
        await env.close()


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
