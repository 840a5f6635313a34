"""The live AI features and moderation, seen in the browser.

An AI meeting with live emotions: a Python bot speaks flite speech (a synthetic voice) and shows
scikit-image's astronaut photo as its camera; the host's page shows the synthetic-voice alert
naming the bot, the guest's page never does; both show the bot's live emotion badge; after the
meeting the insights page draws the emotions. Everything is real: user, meeting, signaling, media
and ai services on PostgreSQL, Redis and FerretDB, the session's bundled Triton, the edge serving
the built client to Debian's Chromium.

Moderation from the people panel (no AI needed): the host stops the guest's camera and mutes the
guest's microphone, and forwarding stops (the host's browser receives neither any more); the guest raises
a hand, the host sees it and lowers it; a reaction shows on the others' screens.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.async_api import Browser, Page, expect
from skimage import data as skimage_data

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import file_tracks
from tests.ai.conftest import meeting_platform, model_repository, triton  # noqa: F401 - fixtures
from tests.ai.speech import FLITE_SENTENCES, flite
from tests.ai.test_meeting_live_ai import ImageVideoTrack
from tests.rtc_helpers import media_options, start_rtc
from tests.support import Platform
from tests.web.conftest import WebPlatform, serve_web
from tests.web.test_e2e import Screens, dump, my_participant, remote_video, sign_up, until, watch

# Count every synthetic-voice alert the page ever attaches (a banner could come and go between
# two looks).
WATCH_ALERTS = """() => {
  window.alertsSeen = 0;
  new MutationObserver(() => {
    if (document.querySelector('[data-testid=synthetic-alert]')) window.alertsSeen++;
  }).observe(document.body, { childList: true, subtree: true });
}"""

# A live emotion badge: "Looks" and one of the seven emotions.
EMOTION_BADGE = re.compile(r"^Looks (angry|disgusted|afraid|happy|sad|surprised|neutral)$")

# The room's tracks as the page knows them (JSON: bigint-free fields only).
TRACKS = """() => JSON.stringify(Object.values(window.meetmeshRoom.state.tracks)
  .map(t => ({ id: t.id, participant: t.participant, kind: t.kind })))"""

# Frames the page's peer connection has decoded for one remote track (mid -> track id is the
# client's own map).
FRAMES_OF = """async (trackId) => {
  const room = window.meetmeshRoom;
  const mid = [...room.mids.entries()].find(([, id]) => id === trackId)?.[0];
  if (mid === undefined || !room.pc) return -1;
  let frames = -1;
  (await room.pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.mid === mid) frames = s.framesDecoded ?? s.packetsReceived;
  });
  return frames;
}"""


@pytest.fixture
async def live_web(
    meeting_platform: Platform,  # noqa: F811 - fixture
    web_dist: Path,
) -> AsyncIterator[WebPlatform]:
    """The web platform with media tapping audio and (every half second) video for the ai service."""
    ai_target = f"127.0.0.1:{meeting_platform.hosts['ai'].grpc_port}"
    env = await start_rtc(meeting_platform, media_options(ai_target=ai_target, ai_video_interval_s=0.5))
    try:
        async with serve_web(env, web_dist) as served:
            yield served
    finally:
        await env.close()


async def new_meeting(page: Page, web: WebPlatform, title: str, *checks: str) -> str:
    """Create a meeting in the form (ticking ``checks``); its id."""
    await page.get_by_role("link", name="New meeting").first.click()
    await page.get_by_label("Title").fill(title)
    for label in checks:
        await page.get_by_label(label).check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("link", name="Join")).to_be_visible()
    return page.url.rstrip("/").split("/")[-2]


async def join_room(page: Page) -> str:
    await page.get_by_role("button", name="Join now").click()
    await until(lambda: page.locator("[data-testid=tile][data-mine='1']").count(), what="own tile")
    return await my_participant(page)


async def test_hosts_see_synthetic_voice_alerts_and_everyone_live_emotions(
    live_web: WebPlatform, chromium: Browser, shots: Path, tmp_path: Path
) -> None:
    pages: dict[str, Page] = {}
    console: list[str] = []
    try:
        await live_ai_scenario(live_web, chromium, shots, tmp_path, pages, console)
    except BaseException:
        print(await dump(pages, console))
        raise


async def live_ai_scenario(
    web: WebPlatform,
    chromium: Browser,
    shots: Path,
    tmp_path: Path,
    pages: dict[str, Page],
    console: list[str],
) -> None:
    screens = Screens(shots)
    host = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    guest = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    pages.update(host=host, guest=guest)
    watch(pages, console)
    suffix = uuid.uuid4().hex[:8]

    # The host creates an AI meeting with live emotions in the form (the choice is kept).
    await host.goto(web.url + "/signup")
    await sign_up(host, "Ada Host", f"ada-{suffix}@example.test")
    emotions_label = "Show everyone live emotion badges on camera tiles (needs AI features)"
    meeting_id = await new_meeting(
        host,
        web,
        "AI review",
        "AI features: live captions, transcript, synthetic-voice alerts",
        emotions_label,
    )
    await expect(host.get_by_label(emotions_label)).to_be_checked()
    await host.get_by_role("link", name="Join").click()
    await join_room(host)

    await guest.goto(f"{web.url}/m/{meeting_id}")
    await guest.get_by_role("link", name="Create account").click()
    await sign_up(guest, "Bo Guest", f"bo-{suffix}@example.test")
    await join_room(guest)
    await guest.evaluate(WATCH_ALERTS)

    # A bot speaks with flite's voice (looped) and shows a face.
    speech = tmp_path / "flite.wav"
    gap = np.zeros(16000, dtype=np.float32)
    voice = np.concatenate([flite(s) for s in FLITE_SENTENCES[:2]])
    sf.write(str(speech), np.concatenate([gap, voice, gap, gap]), 16000)
    rtc = web.rtc
    bot_client = await rtc.platform.client("Synth Bot")
    reply = await bot_client.join(f"meetings/{meeting_id}")
    bot = await Room.connect(f"127.0.0.1:{rtc.signaling_hosts[0].grpc_port}", reply.join_token)
    rtc.rooms.append(bot)
    audio, _ = file_tracks(str(speech), loop=True)
    assert audio is not None
    await bot.publish(audio)
    await bot.publish(ImageVideoTrack(skimage_data.astronaut()))

    # The host is alerted, naming the bot; the guest never is.
    alert = host.get_by_test_id("synthetic-alert")
    await expect(alert).to_be_visible(timeout=150_000)
    await expect(alert).to_have_attribute("data-participant", bot.participant_id)
    await expect(alert).to_contain_text("Synth Bot's voice sounds synthetic")

    # Live emotions: both pages badge the bot's tile with what the model sees in the astronaut's
    # face (mostly "happy"; which emotion is tests/ai's business, not the page's).
    for page in (host, guest):
        badge = page.locator(
            f"[data-testid=tile][data-participant='{bot.participant_id}'] [data-testid=emotion]"
        )
        await expect(badge).to_have_text(EMOTION_BADGE, timeout=90_000)
    await until(lambda: remote_video(host, bot.participant_id), what="the bot's face at the host")
    await screens.check(host, "30-room-synthetic-alert-emotions")
    await host.set_viewport_size({"width": 390, "height": 844})
    await screens.check(host, "30b-phone-synthetic-alert")
    await host.set_viewport_size({"width": 1280, "height": 800})
    await screens.check(guest, "30c-guest-no-alert")
    await expect(guest.get_by_test_id("synthetic-alert")).to_have_count(0)
    assert await guest.evaluate("window.alertsSeen") == 0, "the guest saw a synthetic-voice alert"

    # The host dismisses the alert.
    await alert.get_by_role("button", name="Dismiss").click()
    await expect(alert).to_have_count(0)

    # After the meeting: the insights page draws emotion over time from the stored emotions.
    await bot.close()
    await host.get_by_test_id("leave").click()
    await host.get_by_role("button", name="Recordings and transcript").click()
    chart = host.get_by_test_id("emotion-chart").get_by_role("img")

    async def emotion_bars() -> int:
        await host.reload()
        # the page asks for the insights when it opens: the chart, or the note that there is none
        await expect(chart.or_(host.get_by_text("No emotions recorded"))).to_be_visible()
        return await chart.locator("rect.emo-bar").count() if await chart.count() else 0

    assert await until(emotion_bars, limit_s=60, what="faces in the emotion chart") >= 1
    # a short meeting is drawn in 10 s intervals: over time, not one bar
    await expect(chart).to_have_accessible_name("Emotion over time (faces seen per 10 s)")
    await chart.scroll_into_view_if_needed()
    await screens.check(host, "31-after-meeting-emotions")


async def test_moderation_from_the_people_panel(web: WebPlatform, chromium: Browser, shots: Path) -> None:
    pages: dict[str, Page] = {}
    console: list[str] = []
    try:
        await moderation_scenario(web, chromium, shots, pages, console)
    except BaseException:
        print(await dump(pages, console))
        raise


async def frames_stop(page: Page, track_id: str) -> None:
    """Wait until the page decodes no new frame of ``track_id`` for a second."""

    async def still() -> bool:
        before = await page.evaluate(FRAMES_OF, track_id)
        await asyncio.sleep(1.0)
        return bool(before == await page.evaluate(FRAMES_OF, track_id))

    await until(still, limit_s=15, what=f"frames of {track_id} to stop")


async def moderation_scenario(
    web: WebPlatform, chromium: Browser, shots: Path, pages: dict[str, Page], console: list[str]
) -> None:
    screens = Screens(shots)
    host = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    guest = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    pages.update(host=host, guest=guest)
    watch(pages, console)
    suffix = uuid.uuid4().hex[:8]
    await host.goto(web.url + "/signup")
    await sign_up(host, "Ada Host", f"ada-{suffix}@example.test")
    meeting_id = await new_meeting(host, web, "Moderated")
    await host.get_by_role("link", name="Join").click()
    host_pid = await join_room(host)
    await guest.goto(f"{web.url}/m/{meeting_id}")
    await guest.get_by_role("link", name="Create account").click()
    await sign_up(guest, "Bo Guest", f"bo-{suffix}@example.test")
    guest_pid = await join_room(guest)
    await until(lambda: remote_video(host, guest_pid), what="the guest's camera at the host")

    # The guest's camera and microphone as the host's browser receives them (getStats: frames
    # decoded, audio packets received).
    guest_tracks = {
        t["kind"]: t["id"] for t in json.loads(await host.evaluate(TRACKS)) if t["participant"] == guest_pid
    }
    video_id, audio_id = guest_tracks[pb.TRACK_KIND_VIDEO], guest_tracks[pb.TRACK_KIND_AUDIO]
    await until(lambda: host.evaluate(f"({FRAMES_OF})('{audio_id}').then(n => n > 0)"), what="guest audio")
    assert await host.evaluate(FRAMES_OF, video_id) > 0

    # Names come from signaling (the meeting service's display names), not from another call.
    await host.get_by_test_id("people-toggle").click()
    bo = host.get_by_test_id("person").filter(has_text="Bo Guest")
    await expect(bo).to_have_attribute("data-participant", guest_pid)

    # The host stops the guest's camera: forwarding stops (the host's browser decodes no new
    # frame), the host's tile shows the guest's initial, the guest's own camera button shows it
    # is off.
    await bo.get_by_test_id("stop-camera").click()
    await expect(guest.get_by_test_id("cam")).to_have_text("Turn camera on")
    await expect(host.locator(f"[data-testid=tile][data-participant='{guest_pid}'] .avatar")).to_be_visible()
    await frames_stop(host, video_id)
    await expect(bo.get_by_test_id("stop-camera")).to_have_count(0)

    # ... and mutes the microphone: the host's browser receives no more of it (Chromium's fake
    # microphone never stops).
    await bo.get_by_test_id("mute-person").click()
    await expect(guest.get_by_test_id("mic")).to_have_text("Unmute microphone")
    await frames_stop(host, audio_id)
    await expect(bo.get_by_test_id("ask-unmute")).to_have_count(1)

    # The guest raises a hand; the host sees it and lowers it.
    await guest.get_by_test_id("hand").click()
    await expect(bo.get_by_test_id("hand-raised")).to_have_count(1)
    await expect(host.get_by_test_id("lower-hands")).to_be_visible()
    guest_tile = host.locator(f"[data-testid=tile][data-participant='{guest_pid}']")
    await expect(guest_tile.get_by_test_id("tile-hand")).to_have_count(1)
    await screens.check(host, "32-people-moderation-hand")
    await host.set_viewport_size({"width": 390, "height": 844})
    await screens.check(host, "32b-phone-people-panel")
    await host.set_viewport_size({"width": 1280, "height": 800})
    await bo.get_by_test_id("lower-hand").click()
    await expect(guest.get_by_test_id("hand")).to_have_text("Raise hand")
    await expect(bo.get_by_test_id("hand-raised")).to_have_count(0)
    await expect(guest_tile.get_by_test_id("tile-hand")).to_have_count(0)

    # A reaction shows on the host's screen (and the guest's own), naming who reacted.
    await guest.get_by_test_id("react").click()
    await screens.check(guest, "33-reaction-menu")
    await guest.get_by_role("button", name="Thumbs up").click()
    shown = host.get_by_test_id("reaction").filter(has_text="Bo Guest")
    await expect(shown).to_contain_text("👍")
    await expect(shown).to_have_attribute("data-participant", guest_pid)
    await expect(guest.get_by_test_id("reaction").filter(has_text="Bo Guest")).to_have_count(1)
    await host.get_by_test_id("people-toggle").click()
    await screens.check(host, "34-reaction")
    await host.set_viewport_size({"width": 390, "height": 844})
    await guest.set_viewport_size({"width": 390, "height": 844})
    await guest.get_by_test_id("react").click()
    await screens.check(guest, "34b-phone-reaction-menu")
    await guest.get_by_role("button", name="Applause").click()
    await expect(host.get_by_test_id("reaction").filter(has_text="👏")).to_have_count(1)
    await screens.check(host, "34c-phone-reaction")
    assert host_pid != guest_pid
