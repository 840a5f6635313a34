"""The web client end to end: two Chromium browsers and one Python bot in a meeting with a lobby,
through the edge (gRPC-web, /rtc) on the real platform.

Video is checked by sampling pixels of the <video> elements (drawn into a canvas), not by element
presence; every screen gets an axe-core scan (no serious or critical violations) and a screenshot.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
from playwright.async_api import Browser, Page, expect

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from tests.rtc_helpers import close_to
from tests.support import PASSWORD
from tests.web.conftest import WebPlatform, axe_violations

MAGENTA = (200, 40, 200)

# Every <video> tile: participant, whether it is the page's own, mean colour and frames decoded.
SAMPLE_TILES = """() => [...document.querySelectorAll('[data-testid=tile]')].map(fig => {
  const v = fig.querySelector('video');
  const out = { participant: fig.dataset.participant, mine: fig.dataset.mine === '1',
                screen: fig.dataset.screen === '1', rgb: null, frames: 0 };
  if (!v || v.hidden || !v.videoWidth) return out;
  const c = document.createElement('canvas'); c.width = 32; c.height = 24;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(v, 0, 0, 32, 24);
  const d = ctx.getImageData(0, 0, 32, 24).data; let r = 0, g = 0, b = 0;
  for (let i = 0; i < d.length; i += 4) { r += d[i]; g += d[i + 1]; b += d[i + 2]; }
  const n = d.length / 4; out.rgb = [r / n, g / n, b / n].map(Math.round);
  out.frames = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
  return out;
})"""


async def until(check: Callable[[], Awaitable[Any]], limit_s: float = 30.0, what: str = "") -> Any:
    """Poll a condition in the page (the browser has no event the test can await) until truthy."""
    last: Any = None
    try:
        async with asyncio.timeout(limit_s):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}: last {last!r}") from None


class Screens:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def check(self, page: Page, name: str) -> None:
        """Screenshot the screen and scan it with axe-core."""
        await page.screenshot(path=str(self.folder / f"{name}.png"))
        violations = await axe_violations(page)
        assert not violations, f"{name}: {violations}"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-colour PNG (the user service checks the upload really is an image)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def mp4_streams(data: bytes) -> list[tuple[str, str]]:
    """(type, codec) of each stream of an MP4 held in memory."""
    with av.open(io.BytesIO(data)) as container:
        return sorted((st.type, st.codec_context.name) for st in container.streams)


def is_picture(rgb: list[int] | None) -> bool:
    """A decoded frame with content (Chromium's fake camera is never black)."""
    return rgb is not None and sum(rgb) > 60


async def remote_video(page: Page, participant: str, frames_over: int = 0) -> dict[str, Any] | None:
    for tile in await page.evaluate(SAMPLE_TILES):
        wanted = tile["participant"] == participant and not tile["mine"] and not tile["screen"]
        if wanted and is_picture(tile["rgb"]) and tile["frames"] > frames_over:
            return dict(tile)
    return None


async def my_participant(page: Page) -> str:
    return str(
        await page.locator("[data-testid=tile][data-mine='1']").first.get_attribute("data-participant")
    )


DUMP = """async () => {
  const room = window.meetmeshRoom; if (!room) return "no room";
  const stats = [];
  if (room.pc) (await room.pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp') {
      stats.push([s.type, s.kind, s.mid, s.packetsReceived ?? s.packetsSent,
                  s.framesDecoded ?? s.framesEncoded]);
    }
  });
  const st = room.state;
  return JSON.stringify({
    status: st.status, me: st.me, error: st.error, message: st.errorMessage, tracks: st.tracks,
    remote: [...room.remote.keys()],
    local: room.local.map(l => [l.trackId, l.muted, l.track.kind, l.track.readyState]),
    transceivers: room.pc
      ? room.pc.getTransceivers().map(t => [t.mid, t.direction, t.currentDirection]) : null,
    stats }, (k, v) => typeof v === 'bigint' ? String(v) : v);
}"""


async def dump(pages: dict[str, Page], console: list[str]) -> str:
    """What each browser's room holds, for a failure message."""
    out = []
    for label, page in pages.items():
        try:
            out.append(f"{label}: {await page.evaluate(DUMP)}")
        except Exception as exc:  # a closed page
            out.append(f"{label}: {exc!r}")
    return "\n".join([*out, *console[-40:]])


def watch(pages: dict[str, Page], console: list[str]) -> None:
    """Collect the pages' console messages and errors (printed when a test fails)."""
    for label, page in pages.items():
        page.set_default_timeout(20_000)
        page.on("console", lambda m, label=label: console.append(f"{label}: {m.type}: {m.text}"))
        page.on("pageerror", lambda e, label=label: console.append(f"{label}: pageerror: {e}"))


async def sign_up(page: Page, name: str, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Create account").click()


async def test_two_browsers_and_a_bot_hold_a_meeting(
    web: WebPlatform, chromium: Browser, shots: Path
) -> None:
    pages: dict[str, Page] = {}
    console: list[str] = []
    try:
        await meeting_scenario(web, chromium, shots, pages, console)
    except BaseException:
        print(await dump(pages, console))
        raise


async def meeting_scenario(
    web: WebPlatform, chromium: Browser, shots: Path, pages: dict[str, Page], console: list[str]
) -> None:
    screens = Screens(shots)
    host_ctx = await chromium.new_context(viewport={"width": 1280, "height": 800})
    guest_ctx = await chromium.new_context(viewport={"width": 1280, "height": 800})
    host, guest = await host_ctx.new_page(), await guest_ctx.new_page()
    pages.update(host=host, guest=guest)
    watch(pages, console)
    suffix = uuid.uuid4().hex[:8]

    # The host signs up (sign-up signs in) and lands on an empty meetings list.
    await host.goto(web.url + "/signup")
    await screens.check(host, "01-sign-up")
    await sign_up(host, "Ada Host", f"ada-{suffix}@example.test")
    await expect(host.get_by_role("heading", name="Meetings", exact=True)).to_be_visible()
    await screens.check(host, "02-meetings-empty")

    # Bad input is refused in the form with the proto's rule, before any call.
    await host.get_by_role("link", name="New meeting").first.click()
    await host.get_by_role("button", name="Save").click()
    await expect(host.get_by_text("This field is required.")).to_be_visible()

    # A meeting with a lobby.
    await host.get_by_label("Title").fill("Design review")
    await host.get_by_label("Guests wait in a lobby until admitted").check()
    await host.get_by_role("button", name="Save").click()
    await expect(host).to_have_url(re.compile(r"/m/[a-z0-9-]+/edit$"))
    meeting_id = host.url.rstrip("/").split("/")[-2]
    await expect(host.get_by_label("Title")).to_have_value("Design review")
    await screens.check(host, "03-meeting-form")

    # The host joins: pre-join preview, then the room.
    await host.goto(f"{web.url}/m/{meeting_id}")
    await expect(host.get_by_role("button", name="Join now")).to_be_visible()
    await until(lambda: host.evaluate("document.querySelector('video')?.videoWidth > 0"), what="preview")
    await screens.check(host, "04-pre-join")
    await host.get_by_role("button", name="Join now").click()
    host_pid = await until(lambda: host.locator("[data-testid=tile][data-mine='1']").count(), what="own tile")
    host_pid = await my_participant(host)

    # The guest opens the join link signed out: sign-in first, then back to the meeting.
    await guest.goto(f"{web.url}/m/{meeting_id}")
    await expect(guest).to_have_url(re.compile(r"/signin\?next="))
    await expect(guest.get_by_text("Sign in to join the meeting.")).to_be_visible()
    await screens.check(guest, "05-sign-in-to-join")
    await guest.get_by_role("link", name="Create account").click()
    await sign_up(guest, "Bo Guest", f"bo-{suffix}@example.test")
    await expect(guest).to_have_url(re.compile(rf"/m/{meeting_id}$"))
    await guest.get_by_role("button", name="Join now").click()
    await expect(guest.get_by_test_id("lobby")).to_be_visible()
    await screens.check(guest, "06-lobby")

    # The host sees the knock and admits.
    knock = host.get_by_test_id("knock").filter(has_text="Bo Guest")
    await expect(knock).to_be_visible()
    await screens.check(host, "07-knock")
    await knock.get_by_role("button", name="Admit").click()
    await until(lambda: guest.locator("[data-testid=tile][data-mine='1']").count(), what="guest in the room")
    guest_pid = await my_participant(guest)

    # A Python bot knocks too (admitted from the browser) and publishes magenta video and a tone.
    rtc = web.rtc
    bot_client = await rtc.platform.client("Bot")
    meeting_name = f"meetings/{meeting_id}"
    joining = asyncio.ensure_future(
        bot_client.join(meeting_name, wait_for_admission=True, display_name="Bot")
    )
    bot_knock = host.get_by_test_id("knock").filter(has_text="Bot")
    await bot_knock.get_by_role("button", name="Admit").click()
    reply = await asyncio.wait_for(joining, 20)
    bot = await Room.connect(f"127.0.0.1:{rtc.signaling_hosts[0].grpc_port}", reply.join_token)
    rtc.rooms.append(bot)
    await bot.publish(ColorVideoTrack(MAGENTA))
    await bot.publish(ToneAudioTrack(440))

    # Each browser decodes the other browser's camera and the bot's magenta.
    for page, other in ((host, guest_pid), (guest, host_pid)):
        await until(lambda p=page, o=other: remote_video(p, o), what="the other browser's video")
        bot_tile = await until(lambda p=page: remote_video(p, bot.participant_id), what="the bot's video")
        assert close_to(tuple(bot_tile["rgb"]), MAGENTA, 45), bot_tile
    await screens.check(host, "08-room-grid")

    # The bot decodes both browsers' cameras.
    for pid in (host_pid, guest_pid):
        video = await bot.wait_for_track(
            lambda r, pid=pid: r.info.participant == pid and r.info.kind == pb.TRACK_KIND_VIDEO, 30
        )
        frame = await asyncio.wait_for(video.track.recv(), 10)
        assert dominant_rgb(frame) != (0, 0, 0)

    # Chat both ways.
    await host.get_by_test_id("chat-toggle").click()
    await host.get_by_test_id("chat-input").fill("hello from the host")
    await host.get_by_role("button", name="Send").click()
    await guest.get_by_test_id("chat-toggle").click()
    await expect(guest.get_by_test_id("chat-line").filter(has_text="hello from the host")).to_be_visible()
    await guest.get_by_test_id("chat-input").fill("hi host, guest here")
    await guest.get_by_role("button", name="Send").click()
    await expect(host.get_by_test_id("chat-line").filter(has_text="hi host, guest here")).to_be_visible()
    await screens.check(guest, "09-room-chat")

    # Speaker view and the people panel.
    await host.get_by_role("button", name="Speaker view").click()
    await host.get_by_test_id("people-toggle").click()
    await expect(host.get_by_test_id("person")).to_have_count(3)
    await screens.check(host, "10-room-speaker-people")
    await host.get_by_role("button", name="Grid view").click()

    # The language switch changes the UI (and the Chinese room passes the scan too).
    await guest.get_by_test_id("lang").click()
    await expect(guest.get_by_test_id("leave")).to_have_text("离开")
    await expect(guest.locator("html")).to_have_attribute("lang", "zh-CN")
    await screens.check(guest, "11-room-zh")
    await guest.get_by_test_id("lang").click()
    await expect(guest.get_by_test_id("leave")).to_have_text("Leave")

    # Offline and back: a reconnecting banner, then the same participant with media again.
    before = await remote_video(guest, bot.participant_id)
    assert before is not None
    await guest_ctx.set_offline(True)
    await expect(guest.get_by_test_id("reconnecting")).to_be_visible()
    await screens.check(guest, "12-reconnecting")
    await guest_ctx.set_offline(False)
    await expect(guest.get_by_test_id("reconnecting")).to_be_hidden(timeout=30_000)
    assert await my_participant(guest) == guest_pid
    await until(lambda: remote_video(guest, bot.participant_id), what="bot video after resuming")
    await until(lambda: remote_video(host, guest_pid), what="guest video at the host after resuming")
    await expect(host.get_by_test_id("person")).to_have_count(3)

    # The host mutes the guest at the SFU (signaling's MuteParticipant), then asks them to unmute
    # (RequestUnmute); the guest accepts. The guest raises a hand; the host lowers it.
    bo = host.get_by_test_id("person").filter(has_text="Bo Guest")
    await bo.get_by_test_id("mute-person").click()
    await expect(guest.get_by_test_id("mic")).to_have_text("Unmute microphone")
    await guest.get_by_test_id("hand").click()
    await expect(bo.get_by_test_id("hand-raised")).to_have_count(1)
    await bo.get_by_test_id("lower-hand").click()
    await expect(guest.get_by_test_id("hand")).to_have_text("Raise hand")
    await bo.get_by_test_id("ask-unmute").click()
    request = guest.get_by_test_id("unmute-request")
    await expect(request).to_contain_text("Ada Host asks you to unmute.")
    await screens.check(guest, "12b-unmute-request")
    await request.get_by_role("button", name="Unmute microphone").click()
    await expect(bo.get_by_test_id("ask-unmute")).to_have_count(0)
    await expect(guest.get_by_test_id("mic")).to_have_text("Mute microphone")

    # The host removes the guest; the guest's UI says so.
    person = host.get_by_test_id("person").filter(has_text="Bo Guest")
    await person.get_by_test_id("remove").click()
    await expect(guest.get_by_test_id("left")).to_have_attribute("data-reason", "removed")
    await expect(guest.get_by_text("A host removed you from the meeting.").first).to_be_visible()
    await screens.check(guest, "13-removed")
    await expect(host.get_by_test_id("person")).to_have_count(2)

    # The host ends the meeting for everyone and looks at what is left of it.
    await host.get_by_test_id("end").click()
    await expect(host.get_by_test_id("left")).to_have_attribute("data-reason", "meeting_ended")
    await host.goto(f"{web.url}/m/{meeting_id}/summary")
    await expect(host.get_by_role("heading", name="Recordings")).to_be_visible()
    await screens.check(host, "14-after-meeting")
    await host.goto(web.url + "/")
    await expect(host.get_by_test_id("meeting").filter(has_text="Design review")).to_be_visible()
    await screens.check(host, "15-meetings")
    # An avatar upload: a presigned PUT through the edge, with progress, then CommitAvatar.
    await host.get_by_role("link", name="Profile").click()
    await expect(host.get_by_label("Your name")).to_have_value("Ada Host")
    await host.get_by_label("Upload an avatar (PNG, JPEG or WebP, at most 5 MB)").set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": png(96, 96, (30, 120, 220))}]
    )
    await expect(host.get_by_text("Avatar updated.")).to_be_visible()
    await until(
        lambda: host.evaluate("document.querySelector('[data-testid=avatar]')?.naturalWidth > 0"),
        what="the uploaded avatar shown",
    )
    await screens.check(host, "15b-profile")

    # Phone width: the meetings list and the pre-join screen still fit.
    phone = await chromium.new_page(viewport={"width": 390, "height": 844})
    await phone.goto(web.url + "/signin")
    await screens.check(phone, "16-phone-sign-in")

    # Keyboard only: Tab reaches the form, Enter submits; a wrong password reads clearly in both
    # languages.
    for _ in range(10):
        await phone.keyboard.press("Tab")
        if await phone.evaluate("document.activeElement?.name === 'email'"):
            break
    else:
        raise AssertionError("Tab never reached the email field")
    await phone.keyboard.type(f"ada-{suffix}@example.test")
    await phone.keyboard.press("Tab")
    await phone.keyboard.type("not the password")
    await phone.keyboard.press("Enter")
    await expect(phone.get_by_test_id("error")).to_contain_text("Wrong email or password.")
    await phone.get_by_test_id("lang").click()
    await expect(phone.get_by_test_id("error")).to_contain_text("邮箱或密码错误。")
    await screens.check(phone, "16b-phone-wrong-password-zh")
    await phone.close()


async def test_screen_share_and_a_recording_that_plays(
    web_recording: WebPlatform, chromium: Browser, shots: Path
) -> None:
    pages: dict[str, Page] = {}
    console: list[str] = []
    try:
        await recording_scenario(web_recording, chromium, shots, pages, console)
    except BaseException:
        print(await dump(pages, console))
        raise


async def recording_scenario(
    web: WebPlatform, chromium: Browser, shots: Path, pages: dict[str, Page], console: list[str]
) -> None:
    screens = Screens(shots)
    host = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    guest = await (await chromium.new_context(viewport={"width": 390, "height": 844})).new_page()
    pages.update(host=host, guest=guest)
    watch(pages, console)
    suffix = uuid.uuid4().hex[:8]
    await host.goto(web.url + "/signup")
    await sign_up(host, "Ada Host", f"ada-{suffix}@example.test")
    await host.get_by_role("link", name="New meeting").first.click()
    await host.get_by_label("Title").fill("Recorded demo")
    await expect(host.get_by_label("Recording allowed")).to_be_checked()
    await host.get_by_role("button", name="Save").click()
    await expect(host).to_have_url(re.compile(r"/m/[a-z0-9-]+/edit$"))
    meeting_id = host.url.rstrip("/").split("/")[-2]
    await host.get_by_role("link", name="Join").click()
    await host.get_by_role("button", name="Join now").click()
    host_pid = await until(lambda: host.locator("[data-testid=tile][data-mine='1']").count(), what="host in")
    host_pid = await my_participant(host)

    # A guest on a phone-sized screen joins by link (no lobby).
    await guest.goto(f"{web.url}/m/{meeting_id}")
    await guest.get_by_role("link", name="Create account").click()
    await sign_up(guest, "Bo Guest", f"bo-{suffix}@example.test")
    await guest.get_by_role("button", name="Join now").click()
    await until(lambda: remote_video(guest, host_pid), what="host camera at the guest")

    # The host shares the screen; the guest decodes it in a tile of its own.
    await host.get_by_test_id("share").click()
    await expect(host.get_by_test_id("share")).to_have_text("Stop sharing")

    async def screen_tile() -> dict[str, Any] | None:
        for tile in await guest.evaluate(SAMPLE_TILES):
            if tile["screen"] and tile["participant"] == host_pid and is_picture(tile["rgb"]):
                return dict(tile)
        return None

    await until(screen_tile, what="the shared screen at the guest")
    await screens.check(guest, "20-phone-room-screen-share")

    # Recording: start, both see the indicator, stop; the recording plays on the summary page.
    await host.get_by_test_id("record").click()
    await expect(host.get_by_test_id("recording")).to_be_visible()
    await expect(guest.get_by_test_id("recording")).to_be_visible()
    await expect(guest.get_by_test_id("recording-consent")).to_contain_text("being recorded")
    await host.wait_for_timeout(3000)  # record a few seconds of media
    await host.get_by_test_id("record").click()
    await expect(host.get_by_test_id("recording")).to_be_hidden(timeout=30_000)
    await expect(host.get_by_test_id("recording-saved")).to_be_visible()
    await host.get_by_test_id("leave").click()
    await host.get_by_role("button", name="Recordings and transcript").click()
    item = host.get_by_test_id("recording-item")
    await expect(item).to_have_count(1)
    await host.evaluate(
        """() => { const v = document.querySelector('[data-testid=recording-item] video');
                   v.muted = true; v.play().catch(() => {}); }"""
    )
    playing = await until(
        lambda: host.evaluate(
            """() => { const v = document.querySelector('[data-testid=recording-item] video');
                       return { ready: v.readyState, time: v.currentTime, error: v.error && v.error.code,
                                network: v.networkState, src: v.currentSrc }; }"""
        ),
        what="the recording playing",
    )
    assert playing["error"] is None, playing
    await until(
        lambda: host.evaluate(
            "document.querySelector('[data-testid=recording-item] video').currentTime > 0.5"
        ),
        what="the recording playing",
    )
    await screens.check(host, "21-after-meeting-recording")

    # Transcoding: its progress shows while the job runs (if the page came in time to see it);
    # done, the MP4 of everyone and of each participant are offered by name, and they are MP4s.
    progress = item.get_by_test_id("transcode-progress")
    renditions = item.get_by_test_id("recording-renditions")
    await expect(progress.or_(renditions)).to_be_visible(timeout=30_000)
    if await progress.is_visible():
        await screens.check(host, "21b-after-meeting-transcoding")
    await expect(renditions).to_be_visible(timeout=180_000)
    links = renditions.get_by_role("link")
    await expect(links).to_have_count(3)  # everyone, the host (camera and screen), the guest
    texts = await links.all_inner_texts()
    assert (
        "everyone" in texts[0] and any("Ada Host" in t for t in texts) and any("Bo Guest" in t for t in texts)
    )
    for index in range(3):
        href = await links.nth(index).get_attribute("href")
        assert href
        reply = await host.request.get(href)
        assert reply.ok, (texts[index], reply.status)
        streams = mp4_streams(await reply.body())
        assert streams == [("audio", "aac"), ("video", "h264")], (texts[index], streams)
    await screens.check(host, "22-after-meeting-renditions")
    # The player streams the composite's HLS (Chromium 156 plays HLS itself; the playlist's
    # segments are signed by GetRecordingPlaylist and fetched from the object store); it plays.
    await expect(item.locator("video")).to_have_attribute("data-format", "hls")
    await host.evaluate(
        """() => { const v = document.querySelector('[data-testid=recording-item] video');
                   v.muted = true; v.play().catch(() => {}); }"""
    )
    await until(
        lambda: host.evaluate(
            """() => { const v = document.querySelector('[data-testid=recording-item] video');
                       return !v.error && v.currentTime > 0.5; }"""
        ),
        what="the recording playing after transcoding",
    )
    await host.evaluate("document.querySelector('[data-testid=recording-item] video').pause()")
    await screens.check(host, "23-after-meeting-hls-playing")
