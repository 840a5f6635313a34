"""Transcoding: a recording of real bots becomes a composite MP4 (H.264 + AAC) and HLS whose
codecs, duration and frame count PyAV confirms (within 5%) and whose grid holds every
participant's tile (pixel colours); a transcode job whose worker is killed midway is taken over
by another worker and finishes exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import signal
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from services.kit import channel
from services.media.config import MediaSettings
from services.media.jobs import GROUP, TranscodeJobs, WorkerSettings
from services.media.transcode import Options, grid_layout
from tests.conftest import REDIS_URL
from tests.rtc_helpers import close_to, start_rtc, wait_for
from tests.support import Platform, wait_until

RED, GREEN = (220, 30, 30), (30, 200, 30)
WIDTH, HEIGHT, FPS = 640, 360, 30


def media_of(path: Path) -> tuple[list[tuple[str, str]], float, int]:
    """(type, codec) of each stream, the duration in seconds and the decoded video frames."""
    with av.open(str(path)) as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        duration = (container.duration or 0) / 1e6
        frames = sum(1 for _ in container.decode(video=0))
    return kinds, duration, frames


def video_starts(path: Path) -> list[float]:
    """When each video stream's first packet is, in seconds."""
    starts: dict[int, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.stream.type == "video" and packet.pts is not None:
                starts.setdefault(packet.stream.index, float(packet.pts * packet.time_base))
    return list(starts.values())


def within(value: float, expected: float, tolerance: float = 0.05) -> bool:
    return abs(value - expected) <= tolerance * expected


async def fetch_outputs(platform: Platform, job: media_pb2.TranscodeJob, folder: Path) -> tuple[Path, Path]:
    """The MP4 and the HLS playlist with its segments, from the object store into ``folder``."""
    objects = platform.runtime.objects
    mp4 = folder / "out.mp4"
    mp4.write_bytes(await objects.get_bytes(job.mp4_key))
    hls = folder / "hls"
    hls.mkdir()
    prefix = job.hls_key.rsplit("/", 1)[0] + "/"
    for info in await objects.list(prefix):
        (hls / info.key.rsplit("/", 1)[1]).write_bytes(await objects.get_bytes(info.key))
    return mp4, hls / "index.m3u8"


async def test_a_recording_becomes_a_composite_mp4_and_hls(rtc_platform: Platform, tmp_path: Path) -> None:
    settings = MediaSettings(
        transcode_width=WIDTH, transcode_height=HEIGHT, transcode_fps=FPS, transcode_preset="ultrafast"
    )
    rtc = await start_rtc(rtc_platform, media=settings)
    try:
        for color, tone in ((RED, 440), (GREEN, 0)):
            bot = await rtc.bot()
            await bot.publish(ColorVideoTrack(color, width=320, height=240))
            await bot.publish(ToneAudioTrack(tone or 300, amplitude=0.4 if tone else 0.0))
        await rtc.platform.meetings.UpdateMeeting(
            meeting_pb2.UpdateMeetingRequest(
                meeting=meeting_pb2.Meeting(
                    name=rtc.meeting.name, settings=meeting_pb2.MeetingSettings(recording_allowed=True)
                ),
                update_mask={"paths": ["settings"]},
            ),
            metadata=rtc.host.metadata,
        )
        meeting = rtc.meeting.name.split("/")[1]
        async with channel(
            rtc_platform.settings.media.address, rtc_platform.runtime.identity("signaling")
        ) as ch:
            media = media_grpc.MediaServiceStub(ch)
            await media.StartRecording(media_pb2.StartRecordingRequest(meeting=meeting), timeout=10)
            recorder = rtc.media.recorders[meeting]
            await wait_for(lambda: sum(1 for t in recorder.tracks.values() if t.kind == "video") == 2, 20)
            await asyncio.sleep(3.0)  # record a known stretch of real-time media
            stopped = await media.StopRecording(media_pb2.StopRecordingRequest(meeting=meeting), timeout=120)
            assert stopped.transcode_job
            seen: list[media_pb2.TranscodeJob] = []
            async with media.WatchTranscode.open(timeout=120) as stream:
                await stream.send_message(
                    media_pb2.WatchTranscodeRequest(job=stopped.transcode_job), end=True
                )
                async for update in stream:
                    seen.append(update.job)
        done = seen[-1]
        assert done.state == media_pb2.TranscodeJob.STATE_DONE, done
        assert [j.progress for j in seen] == sorted(j.progress for j in seen)  # progress only grows
        assert done.recording == stopped.recording_name and done.attempts == 1

        webm = tmp_path / "source.webm"
        webm.write_bytes(await rtc_platform.runtime.objects.get_bytes(stopped.object_key))
        _, source_s, _ = media_of(webm)
        mp4, playlist = await fetch_outputs(rtc_platform, done, tmp_path)
        for path in (mp4, playlist):
            kinds, duration, frames = media_of(path)
            assert kinds == [("audio", "aac"), ("video", "h264")], path.name
            assert within(duration, source_s), (path.name, duration, source_s)
            assert within(frames, source_s * FPS), (path.name, frames, source_s)

        # Every participant's tile, by colour, in a frame from the middle. (This failed when the
        # recorder asked for a keyframe only once: a PLI dropped by the rate limit left a track
        # unrecorded until the publisher's next keyframe, after the middle, so its tile was black.)
        starts = video_starts(webm)
        assert max(starts) < source_s / 2, ("a video track started late", starts, source_s)
        with av.open(str(mp4)) as container:
            middle = int(source_s * FPS / 2)
            frame = next(f for i, f in enumerate(container.decode(video=0)) if i == middle)
        image = frame.to_ndarray(format="rgb24")
        colors = []
        for x, y, w, h in grid_layout(2, WIDTH, HEIGHT):
            patch = image[y + h // 3 : y + 2 * h // 3, x + w // 3 : x + 2 * w // 3]
            colors.append(tuple(int(np.median(patch[..., c])) for c in range(3)))
        assert any(close_to(c, RED) for c in colors) and any(close_to(c, GREEN) for c in colors), colors
    finally:
        await rtc.close()


def synthetic_webm(path: Path, seconds: int) -> None:
    """A recorder-like WebM: two participants' VP8 tiles (red, green) and Opus audio."""
    out = av.open(str(path), "w", format="webm")
    videos, audios = [], []
    for i, color in enumerate((RED, GREEN)):
        video = out.add_stream("libvpx", rate=FPS, options={"deadline": "realtime", "cpu-used": "8"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.metadata["title"] = f"p{i}"
        videos.append((video, color))
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        audio.metadata["title"] = f"p{i}"
        audios.append(audio)
    for n in range(seconds * FPS):
        for video, color in videos:
            image = np.zeros((240, 320, 3), np.uint8)
            image[:] = color
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = n, fractions.Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for audio in audios:
            samples = np.full((1, 1600), 0.1, np.float32)
            chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, n * 1600, fractions.Fraction(1, 48000)
            for packet in audio.encode(chunk):
                out.mux(packet)
    for stream in [v for v, _ in videos] + audios:
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()


async def test_a_transcode_job_killed_midway_resumes_and_finishes_once(
    rtc_platform: Platform, tmp_path: Path
) -> None:
    runtime = rtc_platform.runtime
    source = tmp_path / "source.webm"
    await asyncio.to_thread(synthetic_webm, source, 4)
    key = "meetings/m-kill/recordings/r-kill.webm"
    await runtime.objects.put_file(key, source, "video/webm")
    prefix = runtime.settings.redis_prefix
    jobs = TranscodeJobs(runtime.redis, prefix, runtime.objects, WorkerSettings(claim_idle_s=1.5))
    job = await jobs.enqueue("meetings/m-kill/recordings/r-kill", key)

    # A worker process of its own, slow enough (960x540, veryfast) to be killed in the middle.
    worker = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "services.media.jobs",
            "--redis-url",
            REDIS_URL,
            "--prefix",
            prefix,
            "--objects",
            rtc_platform.settings.objects.model_dump_json(),
            "--keys-dir",
            str(rtc_platform.settings.keys_dir),
            "--claim-idle-s",
            "1.5",
            "--width",
            "960",
            "--height",
            "540",
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        start_new_session=True,
    )
    try:

        async def midway() -> bool:
            state = await jobs.get(job)
            return (
                state is not None
                and state.state == media_pb2.TranscodeJob.STATE_RUNNING
                and state.progress > 0
            )

        await wait_until(midway, within_s=60, every_s=0.05)
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        if worker.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            await asyncio.wait_for(worker.wait(), 10)
    killed = await jobs.get(job)
    assert killed is not None and killed.state == media_pb2.TranscodeJob.STATE_RUNNING
    assert await jobs.completions(job) == 0

    # Another worker takes the abandoned job over once its heartbeat has stopped, and finishes it.
    rescuer = TranscodeJobs(
        runtime.redis,
        prefix,
        runtime.objects,
        WorkerSettings(Options(320, 180, FPS, "ultrafast"), claim_idle_s=1.5),
    )
    task = asyncio.ensure_future(rescuer.run())
    try:

        async def finished() -> bool:
            state = await jobs.get(job)
            return state is not None and state.state == media_pb2.TranscodeJob.STATE_DONE

        await wait_until(finished, within_s=90, every_s=0.1)
    finally:
        rescuer.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    done = await jobs.get(job)
    assert done is not None and done.attempts == 2
    assert await jobs.completions(job) == 1
    pending = await runtime.redis.xpending(jobs.stream, GROUP)
    assert pending["pending"] == 0
    with tempfile.TemporaryDirectory() as folder:
        mp4, _ = await fetch_outputs(rtc_platform, done, Path(folder))
        kinds, duration, frames = media_of(mp4)
    assert kinds == [("audio", "aac"), ("video", "h264")]
    assert within(duration, 4.0) and within(frames, 4 * FPS), (duration, frames)
