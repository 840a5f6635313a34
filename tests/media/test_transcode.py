"""Transcoding: a recording of real bots becomes MP4 (H.264 + AAC) and HLS, of the composite and
of each participant, whose codecs, duration and frame count PyAV confirms (within 5%); the
composite's grid holds every participant's tile and each participant's rendition its own video
(pixel colours). The renditions are registered on the recording, downloaded through the edge's
signed URLs (HLS: the playlist from `GetRecordingPlaylist`, every segment fetched as a browser
would), and the job's progress streams over the public `WatchRecordingProgress`, over gRPC and
through the edge over gRPC-web and as NDJSON. A transcode job whose worker is killed midway is taken over by
another worker and finishes exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from services.edge.app import Edge
from services.kit import channel
from services.media.jobs import GROUP, TranscodeJobs, WorkerSettings
from services.media.transcode import Options, grid_layout, transcode
from tests.conftest import REDIS_URL
from tests.edge import grpcweb_client
from tests.edge.conftest import edge_settings
from tests.edge.harness import start_uvicorn, stop_uvicorn
from tests.rtc_helpers import close_to, media_options, start_rtc, wait_for
from tests.support import Client, Platform, wait_until

RED, GREEN = (220, 30, 30), (30, 200, 30)
R = meeting_pb2.RecordingRendition
DESCRIPTORS = Path("gen/meetmesh.binpb").resolve()
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


async def watch_public(
    platform: Platform, client: Client, name: str
) -> list[meeting_pb2.WatchRecordingProgressResponse]:
    """Every message of the public ``WatchRecordingProgress``, over gRPC."""
    replies = []
    async with platform.meetings.WatchRecordingProgress.open(metadata=client.metadata, timeout=120) as stream:
        await stream.send_message(meeting_pb2.WatchRecordingProgressRequest(name=name), end=True)
        async for reply in stream:
            replies.append(reply)
    return replies


async def watch_grpc_web(
    edge: str, client: Client, name: str
) -> list[meeting_pb2.WatchRecordingProgressResponse]:
    """The same, through the edge over gRPC-web (as the web client calls it)."""
    request = meeting_pb2.WatchRecordingProgressRequest(name=name).SerializeToString()
    async with httpx.AsyncClient(timeout=120) as http:
        reply = await grpcweb_client.call(
            http,
            edge,
            "/meetmesh.meeting.v1.MeetingService/WatchRecordingProgress",
            request,
            headers={"authorization": f"Bearer {client.tokens.access_token}"},
        )
    assert reply.http_status == 200 and reply.status == 0, (reply.http_status, reply.message)
    return [meeting_pb2.WatchRecordingProgressResponse.FromString(m) for m in reply.messages]


async def watch_json(edge: str, client: Client, name: str) -> list[dict[str, Any]]:
    """The same through the edge's JSON/REST route: newline-delimited JSON."""
    async with httpx.AsyncClient(timeout=120) as http:
        reply = await http.get(
            f"{edge}/v1/{name}:watchProgress",
            headers={"authorization": f"Bearer {client.tokens.access_token}"},
        )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in reply.text.splitlines() if line]


def at_edge(platform: Platform, edge: str, url: str) -> str:
    """The services sign object URLs for the configured public base; this edge has a port of its own."""
    base = platform.settings.objects.public_url
    assert url.startswith(base + "/"), url
    return edge + "/objects/" + url.removeprefix(base + "/")


def middle_frame(path: Path) -> np.ndarray[Any, Any]:
    with av.open(str(path)) as container:
        count = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == count // 2)
    return frame.to_ndarray(format="rgb24")


def median_color(patch: np.ndarray[Any, Any]) -> tuple[int, ...]:
    return tuple(int(np.median(patch[..., c])) for c in range(3))


async def test_a_recording_becomes_mp4_and_hls_of_the_composite_and_of_each_participant(
    rtc_platform: Platform, tmp_path: Path
) -> None:
    settings = media_options(
        transcode_width=WIDTH, transcode_height=HEIGHT, transcode_fps=FPS, transcode_preset="ultrafast"
    )
    rtc = await start_rtc(rtc_platform, media=settings)
    edge_server, edge_port = await start_uvicorn(Edge(edge_settings(rtc_platform, DESCRIPTORS)))
    edge = f"http://127.0.0.1:{edge_port}"
    try:
        colors: dict[str, tuple[int, int, int]] = {}  # participant name -> its video's colour
        for color, tone in ((RED, 440), (GREEN, 0)):
            bot = await rtc.bot()
            await bot.publish(ColorVideoTrack(color, width=320, height=240))
            await bot.publish(ToneAudioTrack(tone or 300, amplitude=0.4 if tone else 0.0))
            colors[f"{rtc.meeting.name}/participants/{bot.participant_id}"] = color
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

            async def watch_internal() -> list[media_pb2.TranscodeJob]:
                seen: list[media_pb2.TranscodeJob] = []
                async with media.WatchTranscode.open(timeout=120) as stream:
                    await stream.send_message(
                        media_pb2.WatchTranscodeRequest(job=stopped.transcode_job), end=True
                    )
                    async for update in stream:
                        seen.append(update.job)
                return seen

            # The job watched four ways at once: media's internal stream, and the public RPC
            # over gRPC and through the edge over gRPC-web and as NDJSON.
            seen, public, web, ndjson = await asyncio.gather(
                watch_internal(),
                watch_public(rtc.platform, rtc.host, stopped.recording_name),
                watch_grpc_web(edge, rtc.host, stopped.recording_name),
                watch_json(edge, rtc.host, stopped.recording_name),
            )
        done = seen[-1]
        assert done.state == media_pb2.TranscodeJob.STATE_DONE, done
        assert [j.progress for j in seen] == sorted(j.progress for j in seen)  # progress only grows
        assert done.recording == stopped.recording_name and done.attempts == 1
        for replies in (public, web):
            assert replies[-1].progress.state == meeting_pb2.RecordingProgress.STATE_DONE, replies[-1]
            states = [r.progress.state for r in replies]  # queued, running, done: in order
            assert states == sorted(states) and states.count(states[-1]) == 1, states
            fractions_seen = [r.progress.fraction for r in replies]
            assert fractions_seen == sorted(fractions_seen), fractions_seen
            assert not any(r.HasField("recording") for r in replies[:-1])
        assert ndjson[-1]["progress"]["state"] == "STATE_DONE", ndjson[-1]
        assert ndjson[-1]["recording"]["name"] == stopped.recording_name
        recording = public[-1].recording
        assert recording.name == stopped.recording_name
        assert recording.transcode_job == stopped.transcode_job

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
        colors_seen = []
        for x, y, w, h in grid_layout(2, WIDTH, HEIGHT):
            colors_seen.append(median_color(image[y + h // 3 : y + 2 * h // 3, x + w // 3 : x + 2 * w // 3]))
        assert any(close_to(c, RED) for c in colors_seen), colors_seen
        assert any(close_to(c, GREEN) for c in colors_seen), colors_seen

        # The renditions on the recording: MP4 and HLS of the composite and of each participant,
        # fetched as a browser would, through the edge with the host's token.
        kinds_expected = (R.KIND_MP4, R.KIND_HLS)
        assert sorted((r.participant, r.kind) for r in recording.renditions) == sorted(
            (p, k) for p in ["", *colors] for k in kinds_expected
        )
        listed = await rtc.platform.meetings.ListRecordings(
            meeting_pb2.ListRecordingsRequest(parent=rtc.meeting.name), metadata=rtc.host.metadata
        )
        assert [(r.participant, r.object_key) for r in listed.recordings[0].renditions] == [
            (r.participant, r.object_key) for r in recording.renditions
        ]
        bearer = {"authorization": f"Bearer {rtc.host.tokens.access_token}"}
        async with httpx.AsyncClient(timeout=30) as http:
            for index, rendition in enumerate(recording.renditions):
                assert rendition.object_key.startswith(f"meetings/{meeting}/recordings/")
                if rendition.kind == R.KIND_MP4:
                    assert rendition.media_type == "video/mp4"
                    got = await http.get(at_edge(rtc.platform, edge, rendition.uri), headers=bearer)
                    assert got.status_code == 200, got.text
                    assert len(got.content) == rendition.size_bytes
                    path = tmp_path / f"rendition{index}.mp4"
                    path.write_bytes(got.content)
                else:
                    assert rendition.media_type == "application/vnd.apple.mpegurl" and not rendition.uri
                    reply = await rtc.platform.meetings.GetRecordingPlaylist(
                        meeting_pb2.GetRecordingPlaylistRequest(
                            name=recording.name, participant=rendition.participant
                        ),
                        metadata=rtc.host.metadata,
                    )
                    urls = [line for line in reply.playlist.splitlines() if line and not line.startswith("#")]
                    assert urls and "#EXT-X-ENDLIST" in reply.playlist
                    # Segments load with no token, as a native player fetches them; altered: 403.
                    refused = await http.get(at_edge(rtc.platform, edge, urls[0]).replace("seg0", "seg9"))
                    assert refused.status_code == 403
                    path = tmp_path / f"rendition{index}.ts"
                    with path.open("wb") as out:
                        for url in urls:
                            got = await http.get(at_edge(rtc.platform, edge, url))
                            assert got.status_code == 200, got.text
                            out.write(got.content)
                kinds, duration, frames = media_of(path)
                assert kinds == [("audio", "aac"), ("video", "h264")], rendition
                assert within(duration, source_s), (rendition.participant, path.name, duration, source_s)
                assert within(frames, source_s * FPS), (rendition.participant, path.name, frames, source_s)
                assert within(rendition.duration_seconds, source_s), rendition
                if rendition.participant:
                    # That participant's own video, at its own size, in its own colour.
                    image = middle_frame(path)
                    assert image.shape[:2] == (240, 320), image.shape
                    color = median_color(image[80:160, 106:213])
                    assert close_to(color, colors[rendition.participant]), (rendition.participant, color)
    finally:
        await stop_uvicorn(edge_server)
        await rtc.close()


def synthetic_webm(path: Path, seconds: int, audio_only: bool = False) -> None:
    """A recorder-like WebM: two participants' VP8 tiles (red, green) and Opus audio (and, with
    ``audio_only``, a third participant ``p2`` who sent only audio)."""
    out = av.open(str(path), "w", format="webm")
    videos, audios = [], []
    for i, color in enumerate((RED, GREEN)):
        video = out.add_stream("libvpx", rate=FPS, options={"deadline": "realtime", "cpu-used": "8"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.metadata["title"] = f"p{i}"
        videos.append((video, color))
    for i in range(3 if audio_only else 2):
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


def test_each_participant_gets_its_own_rendition_and_hls_segments_follow_the_segment_length(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source.webm"
    synthetic_webm(source, 6, audio_only=True)
    outputs = transcode(source, tmp_path / "out", Options(320, 180, FPS, "ultrafast"))
    assert [o.participant for o in outputs] == ["", "p0", "p1", "p2"]
    expected_streams = {
        "": [("audio", "aac"), ("video", "h264")],
        "p0": [("audio", "aac"), ("video", "h264")],
        "p1": [("audio", "aac"), ("video", "h264")],
        "p2": [("audio", "aac")],  # sent no video: an audio-only MP4
    }
    for output in outputs:
        kinds, duration, frames = (
            media_of(output.mp4) if output.participant != "p2" else (*audio_of(output.mp4), 0)
        )
        assert kinds == expected_streams[output.participant], output.participant
        assert within(duration, 6.0) and within(output.result.duration_s, 6.0), (output.participant, duration)
        if output.participant in ("p0", "p1"):
            assert within(frames, 6 * FPS)
            image = middle_frame(output.mp4)
            assert image.shape[:2] == (240, 320)  # the participant's own size, not the canvas
            assert close_to(
                median_color(image[80:160, 106:213]), RED if output.participant == "p0" else GREEN
            )
        # A keyframe per segment: 4-s segments (x264's default GOP made one segment of 8 s).
        lengths = [
            float(line.split(":")[1].rstrip(","))
            for line in output.playlist.read_text().splitlines()
            if line.startswith("#EXTINF:")
        ]
        assert len(lengths) == 2 and max(lengths) <= 4.05, (output.participant, lengths)


def audio_of(path: Path) -> tuple[list[tuple[str, str]], float]:
    with av.open(str(path)) as container:
        return sorted((s.type, s.codec_context.name) for s in container.streams), (
            container.duration or 0
        ) / 1e6


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
