"""TURN: a bot that may only use relayed candidates reaches the SFU through coturn (Debian's
``turnserver`` on loopback) with the time-limited credentials signaling hands out."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, dominant_rgb
from services.kit.ice import IceSettings
from services.stack.servers import free_port
from tests.rtc_helpers import close_to, media_options, start_rtc
from tests.support import Platform

SECRET = "turn-test-secret"
TEAL = (30, 160, 160)


@pytest.fixture
def turn_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            shutil.which("turnserver") or "turnserver", "-n", "--listening-ip=127.0.0.1",
            f"--listening-port={port}", "--relay-ip=127.0.0.1", "--use-auth-secret",
            f"--static-auth-secret={SECRET}", "--realm=meetmesh.test", "--no-tls", "--no-dtls",
            "--no-cli", "--allow-loopback-peers", "--log-file=stdout",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield f"turn:127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


async def test_relay_only_bot_reaches_the_sfu_through_turn(rtc_platform: Platform, turn_url: str) -> None:
    ice = IceSettings(turn_urls=[turn_url], turn_secret=SECRET)
    env = await start_rtc(rtc_platform, media=media_options(), ice=ice)
    try:
        token, address = await env.join_token()
        relayed = await Room.connect(address, token, relay_only=True)
        env.rooms.append(relayed)
        assert relayed.joined.ice_servers[0].urls == [turn_url]
        assert relayed.joined.ice_servers[0].username.endswith(f":{relayed.participant_id}")
        video = await relayed.publish(ColorVideoTrack(TEAL))
        candidates = [line for line in relayed.pc.localDescription.sdp.splitlines() if "a=candidate" in line]
        assert candidates
        assert all("typ relay" in line for line in candidates)
        viewer = await env.bot()
        remote = await viewer.wait_for_track(lambda r: r.info.id == video, 30)
        for _ in range(3):
            frame = await asyncio.wait_for(remote.track.recv(), 15)
        assert close_to(dominant_rgb(frame), TEAL)
        assert remote.info.kind == pb.TRACK_KIND_VIDEO
    finally:
        await env.close()
