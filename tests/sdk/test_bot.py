"""``meetmesh bot`` in its own process joins through the meeting service and plays a media file;
a Room in the meeting decodes the file's picture and sound."""

from __future__ import annotations

import asyncio
import fractions
import os
import sys
from pathlib import Path

import av
import numpy as np

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.sources import dominant_rgb
from tests.rtc_helpers import Rtc, close_to

YELLOW = (220, 200, 40)
DESCRIPTORS = Path(__file__).resolve().parents[2] / "gen" / "meetmesh.binpb"


def write_clip(path: Path, seconds: float = 30.0) -> None:
    """A WebM with a yellow VP8 picture and an Opus tone, interleaved as players expect."""
    with av.open(str(path), "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        image = np.empty((240, 320, 3), np.uint8)
        image[:] = YELLOW
        t = np.arange(1600) / 48000
        for i in range(int(seconds * 30)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * (t + i / 30))).astype(np.int16)
            chunk = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, i * 1600, fractions.Fraction(1, 48000)
            out.mux(audio.encode(chunk))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


async def test_bot_plays_a_file_into_a_meeting(rtc: Rtc, tmp_path: Path) -> None:
    clip = tmp_path / "clip.webm"
    write_clip(clip, seconds=4.0)
    guest = await rtc.platform.client("Bot owner")
    meeting_port = rtc.platform.hosts["meeting"].grpc_port
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["gen", ".", "clients/python"])}
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "bot",
        "--meeting", rtc.meeting.name, "--server", f"127.0.0.1:{meeting_port}",
        "--access-token", guest.tokens.access_token, "--file", str(clip), "--loop",
        "--duration", "60", "--ice-host", "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        watcher = await rtc.bot()
        video = await watcher.wait_for_track(lambda r: r.info.kind == pb.TRACK_KIND_VIDEO, 30)
        assert video.info.source == pb.TRACK_SOURCE_FILE
        for _ in range(5):
            frame = await asyncio.wait_for(video.track.recv(), 10)
        assert close_to(dominant_rgb(frame), YELLOW)
        audio = await watcher.wait_for_track(lambda r: r.info.kind == pb.TRACK_KIND_AUDIO, 10)
        sound = await asyncio.wait_for(audio.track.recv(), 10)
        assert sound.sample_rate == 48000
        bot.terminate()
        out, _ = await asyncio.wait_for(bot.communicate(), 20)
        assert b"bot left" in out
        await watcher.wait_until(
            lambda: not any(t.source == pb.TRACK_SOURCE_FILE for t in watcher.tracks.values())
        )
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()


async def test_bot_joins_with_the_saved_login(rtc: Rtc, tmp_path: Path) -> None:
    """`meetmesh login` once, then `meetmesh bot --meeting` alone: JoinMeeting through the edge
    with the saved (owner-only) tokens, then native signaling and media."""
    from services.edge.app import Edge
    from tests.edge.conftest import edge_settings
    from tests.edge.harness import start_uvicorn, stop_uvicorn
    from tests.support import PASSWORD

    clip = tmp_path / "clip.webm"
    write_clip(clip, seconds=4.0)
    guest = await rtc.platform.client("Saved login")
    server, port = await start_uvicorn(Edge(edge_settings(rtc.platform, DESCRIPTORS)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(["gen", ".", "clients/python"]),
        "MEETMESH_CONFIG_DIR": str(tmp_path / "config"),
    }
    bot = None
    try:
        login = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "--server", f"http://127.0.0.1:{port}",
            "login", "--email", guest.email, "--password-stdin",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        said, _ = await asyncio.wait_for(login.communicate(PASSWORD.encode() + b"\n"), 60)
        assert login.returncode == 0, said
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "bot", "--meeting", rtc.meeting.name,
            "--file", str(clip), "--loop", "--duration", "60", "--ice-host", "127.0.0.1",
            stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        watcher = await rtc.bot()
        video = await watcher.wait_for_track(lambda r: r.info.kind == pb.TRACK_KIND_VIDEO, 30)
        assert video.info.source == pb.TRACK_SOURCE_FILE
        for _ in range(3):
            frame = await asyncio.wait_for(video.track.recv(), 10)
        assert close_to(dominant_rgb(frame), YELLOW)
        bot.terminate()
        out, _ = await asyncio.wait_for(bot.communicate(), 20)
        assert b"bot joined as" in out and b"bot left" in out
    finally:
        if bot is not None and bot.returncode is None:
            bot.kill()
            await bot.wait()
        await stop_uvicorn(server)
