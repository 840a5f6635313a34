"""The web client: initial JavaScript size, click-Join-to-first-remote-frame in Chromium beside the
bot-to-bot figure measured in the same run, and a 9-tile meeting's CPU.

The platform runs as separate processes (user+meeting+signaling, media, the edge serving
`clients/web/dist`) on the real PostgreSQL and Redis; Chromium is Debian's, driven by Playwright
with a fake camera; bots are the Python SDK's `Room` in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import re
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from grpclib.client import Channel

from bench.support import ROOT, drop_platform, platform_env, spawn, stop, wait_for_port
from meetmesh.meeting.v1 import meeting_grpc, meeting_pb2
from meetmesh.user.v1 import user_grpc, user_pb2
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack
from services.stack.servers import free_port

DIST = ROOT / "clients" / "web" / "dist"
JOINS = 10
TILES = 8  # bots publishing in the 9-tile meeting (plus one browser)
CPU_WINDOW_S = 10.0
PASSWORD = "bench password 123"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
]

# Click "Join now", then wait for a remote tile's <video> to have a decoded frame.
CLICK_TO_FRAME = """async () => {
  const t0 = performance.now();
  document.querySelector('[data-testid=join]').click();
  return await new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error('no remote frame in 30 s')), 30000);
    const tick = () => {
      for (const v of document.querySelectorAll('[data-testid=tile][data-mine="0"] video')) {
        if (v.videoWidth > 0) { clearTimeout(limit); return resolve(performance.now() - t0); }
      }
      setTimeout(tick, 5);
    };
    tick();
  });
}"""


def initial_js_gzip() -> tuple[int, int, list[str]]:
    """Bytes (raw, gzipped) of the JavaScript index.html loads before the app runs."""
    index = (DIST / "index.html").read_text()
    names = re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', index)
    raw = zipped = 0
    for name in names:
        data = (DIST / name).read_bytes()
        raw += len(data)
        zipped += len(gzip.compress(data, 9))
    return raw, zipped, names


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(root: int, name: str) -> list[int]:
    """Processes under ``root`` whose command name contains ``name`` (Chromium's many processes)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        names[pid] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        p = pid
        while p in parents and p != root:
            p = parents[p]
        if p == root and name in names[pid]:
            found.append(pid)
    return found


def total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # exited
            total += cpu_seconds(pid)
    return total


class Platform:
    """user+meeting+signaling, media and the edge as three processes."""

    def __init__(self) -> None:
        self.env = platform_env(free_port(), free_port())
        self.env |= {
            "MEETMESH_SIGNALING__GRPC_PORT": str(free_port()),
            "MEETMESH_SIGNALING__HTTP_PORT": str(free_port()),
            "MEETMESH_MEDIA__GRPC_PORT": str(free_port()),
            "MEETMESH_MEDIA__HTTP_PORT": str(free_port()),
            "MEETMESH_EDGE__PORT": str(free_port()),
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def port(self, key: str) -> int:
        return int(self.env[key])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port('MEETMESH_EDGE__PORT')}"

    async def start(self) -> None:
        self.media = spawn(["-m", "services.cli", "serve", "media"], env=self.env)
        self.procs.append(self.media)
        await wait_for_port(self.port("MEETMESH_MEDIA__GRPC_PORT"))
        self.procs.append(
            spawn(["-m", "services.cli", "serve", "user", "meeting", "signaling"], env=self.env)
        )
        for key in (
            "MEETMESH_USER__GRPC_PORT",
            "MEETMESH_MEETING__GRPC_PORT",
            "MEETMESH_SIGNALING__GRPC_PORT",
        ):
            await wait_for_port(self.port(key), 60)
        self.procs.append(spawn(["-m", "services.edge.server"], env=self.env))
        await wait_for_port(self.port("MEETMESH_EDGE__PORT"))

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        await drop_platform(self.env)

    async def account(self, name: str) -> dict[str, str]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.test"
        channel = Channel("127.0.0.1", self.port("MEETMESH_USER__GRPC_PORT"))
        try:
            users = user_grpc.UserServiceStub(channel)
            await users.Register(user_pb2.RegisterRequest(email=email, password=PASSWORD, display_name=name))
            login = await users.Login(user_pb2.LoginRequest(email=email, password=PASSWORD))
        finally:
            channel.close()
        return {"authorization": f"Bearer {login.tokens.access_token}"}

    async def join_token(self, meeting: str, auth: dict[str, str]) -> str:
        channel = Channel("127.0.0.1", self.port("MEETMESH_MEETING__GRPC_PORT"))
        try:
            stub = meeting_grpc.MeetingServiceStub(channel)
            reply = await stub.JoinMeeting(meeting_pb2.JoinMeetingRequest(name=meeting), metadata=auth)
        finally:
            channel.close()
        return str(reply.join_token)

    async def publisher(self, meeting: str, name: str, width: int, height: int) -> Room:
        """A bot that publishes video and receives nothing (so this process only encodes)."""
        auth = await self.account(name)
        token = await self.join_token(meeting, auth)
        address = f"127.0.0.1:{self.port('MEETMESH_SIGNALING__GRPC_PORT')}"
        room = await Room.connect(address, token, auto_subscribe=False)
        await room.publish(ColorVideoTrack((200, 40, 200), width=width, height=height))
        return room


async def bot_to_bot(platform: Platform, meeting: str) -> list[float]:
    """JoinMeeting + Room.connect to the first decoded frame of a publisher already there."""
    times = []
    for i in range(JOINS):
        auth = await platform.account(f"Viewer{i}")
        start = time.perf_counter()
        token = await platform.join_token(meeting, auth)
        room = await Room.connect(f"127.0.0.1:{platform.port('MEETMESH_SIGNALING__GRPC_PORT')}", token)
        remote = await room.wait_for_track(lambda r: r.info.kind == 2, 30)
        await asyncio.wait_for(remote.track.recv(), 30)
        times.append(time.perf_counter() - start)
        await room.leave()
        await room.close()
    return times


async def browser_joins(page: Any, url: str) -> list[float]:
    """Click Join -> first remote frame, JOINS times (leave and rejoin between)."""
    times = []
    for _ in range(JOINS):
        await page.get_by_test_id("join").wait_for()
        times.append(await page.evaluate(CLICK_TO_FRAME) / 1000)
        await page.get_by_test_id("leave").click()
        await page.get_by_role("button", name="Rejoin").click()
    return times


async def _run() -> None:
    raw, zipped, names = initial_js_gzip()
    print(
        f"initial JavaScript: {len(names)} file(s), {raw / 1024:.0f} KB raw, {zipped / 1024:.1f} KB gzipped"
    )
    print("  (target: at most 250 KB gzipped)")

    from playwright.async_api import async_playwright

    platform = Platform()
    await platform.start()
    rooms: list[Room] = []
    try:
        host_auth = await platform.account("Host")
        channel = Channel("127.0.0.1", platform.port("MEETMESH_MEETING__GRPC_PORT"))
        stub = meeting_grpc.MeetingServiceStub(channel)
        created = await stub.CreateMeeting(
            meeting_pb2.CreateMeetingRequest(meeting=meeting_pb2.Meeting(title="Bench")), metadata=host_auth
        )
        channel.close()
        meeting = created.meeting.name
        rooms.append(await platform.publisher(meeting, "Publisher", 640, 480))

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(platform.url + "/signup")
            await page.get_by_label("Email").fill(f"web-{uuid.uuid4().hex[:8]}@example.test")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_label("Your name").fill("Browser")
            await page.get_by_role("button", name="Create account").click()
            await page.get_by_role("heading", name="Meetings", exact=True).wait_for()
            await page.goto(f"{platform.url}/m/{meeting.split('/')[1]}")

            web = await browser_joins(page, platform.url)
            bots = await bot_to_bot(platform, meeting)
            web_ms, bot_ms = statistics.median(web) * 1000, statistics.median(bots) * 1000
            print(f"\nclick Join -> first remote frame, {JOINS} joins each (join call, /rtc, negotiation)")
            print(f"  Chromium through the edge: median {web_ms:.0f} ms, max {max(web) * 1000:.0f} ms")
            print("    (target: at most 1000 ms median)")
            print(f"  bot to bot (Python SDK, gRPC): median {bot_ms:.0f} ms; ratio {web_ms / bot_ms:.1f}x")

            # A 9-tile meeting: 8 publishing bots and the browser (which publishes too). The bots
            # only publish (320x240, so that this process can encode 7 more on a small machine).
            for i in range(TILES - 1):
                rooms.append(await platform.publisher(meeting, f"Tile{i}", 320, 240))
            await page.get_by_test_id("join").click()  # the last join round ended on pre-join
            await page.wait_for_function(
                "document.querySelectorAll('[data-testid=tile][data-mine=\"0\"] video').length >= 8"
                " && [...document.querySelectorAll('[data-testid=tile][data-mine=\"0\"] video')]"
                ".every(v => v.videoWidth > 0)",
                timeout=60_000,
            )
            chromium = descendants(os.getpid(), "chrom")
            media_pid = platform.media.pid
            b0, m0, t0 = total_cpu(chromium), cpu_seconds(media_pid), time.monotonic()
            await asyncio.sleep(CPU_WINDOW_S)
            elapsed = time.monotonic() - t0
            browser_cpu = (total_cpu(chromium) - b0) / elapsed
            media_cpu = (cpu_seconds(media_pid) - m0) / elapsed
            # Down-tracks: the browser receives the 8 bots' video; the bots receive nothing.
            down = TILES
            print(f"\n9-tile meeting ({TILES} bots publishing VP8 + the browser), {CPU_WINDOW_S:.0f} s")
            print(f"  browser (all Chromium processes): {browser_cpu * 100:.0f}% of a core")
            print(
                f"  SFU process: {media_cpu * 100:.0f}% of a core, "
                f"{media_cpu / down * 100:.2f}% per down-track ({down} video down-tracks to the one "
                "browser subscriber; receiving the 9 publishers is included)"
            )
            await browser.close()
    finally:
        for room in rooms:
            await room.close()
        await platform.stop()


def main() -> None:
    if not (DIST / "index.html").exists():
        print("clients/web/dist missing: run `make web-build` first")
        return
    asyncio.run(_run())
