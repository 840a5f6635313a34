"""A browser joins: headless Chromium (Debian's, fake camera and microphone) speaks the signaling
protocol over WebSocket from a minimal page, through the edge's /rtc, and exchanges media with a
bot; both decode what they receive."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.stack.servers import free_port
from tests.rtc_helpers import Rtc, close_to

PAGE = Path(__file__).parent / "browser" / "rtc_page.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
]
MAGENTA = (200, 40, 200)


@pytest.fixture
def page_url() -> Iterator[str]:
    """The test page, served over HTTP on loopback (a secure context for getUserMedia)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGE.parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{PAGE.name}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def edge_rtc_url(rtc: Rtc) -> AsyncIterator[str]:
    """The built-in edge in front of signaling; yields its /rtc URL."""
    settings = EdgeSettings(
        **rtc.platform.settings.model_dump(exclude={"edge"}),
        edge=EdgeOptions(
            port=free_port(),
            tls=False,
            signaling_ws_url=f"ws://127.0.0.1:{rtc.signaling_hosts[0].http_port}/rtc",
        ),
    )
    server, task = await edge_server.start(settings)
    try:
        yield f"ws://127.0.0.1:{settings.edge.port}/rtc"
    finally:
        await edge_server.stop(server, task)


@pytest.fixture
async def page(page_url: str) -> AsyncIterator[Any]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page()
            await tab.goto(page_url)
            yield tab
        finally:
            await browser.close()


async def browser_state(page: Any) -> dict[str, Any]:
    return json.loads(await page.evaluate("JSON.stringify(window.state)"))


async def test_browser_and_bot_exchange_media_through_the_edge(
    rtc: Rtc, page: Any, edge_rtc_url: str
) -> None:
    bot = await rtc.bot()
    await bot.publish(ColorVideoTrack(MAGENTA))
    await bot.publish(ToneAudioTrack(440))
    token, _ = await rtc.join_token()
    await page.evaluate("([url, token]) => join(url, token)", [edge_rtc_url, token])

    # The browser decodes the bot's video (frames counted by WebRTC stats, colour read back).
    async with asyncio.timeout(30):
        while True:
            state = await browser_state(page)
            assert not state["errors"], state["errors"]
            color = state["remoteColor"]
            if state["framesDecoded"] > 10 and color and close_to(tuple(color), MAGENTA, 45):
                break
            await asyncio.sleep(0.2)
    assert state["published"] == 2

    # The bot decodes the browser's fake camera and microphone.
    browser_id = next(p for p in bot.participants if p != bot.participant_id)
    video = await bot.wait_for_track(
        lambda r: r.info.participant == browser_id and r.info.kind == pb.TRACK_KIND_VIDEO, 30
    )
    for _ in range(5):
        frame = await asyncio.wait_for(video.track.recv(), 10)
    assert (frame.width, frame.height) == (320, 240)
    assert dominant_rgb(frame) != (0, 0, 0)
    audio = await bot.wait_for_track(
        lambda r: r.info.participant == browser_id and r.info.kind == pb.TRACK_KIND_AUDIO, 10
    )
    assert (await asyncio.wait_for(audio.track.recv(), 10)).sample_rate == 48000
