"""The AI analysis consumer when the ai service is down: media keeps forwarding and retries.

Real meeting, signaling and media services and aiortc bots; the ai address is a closed port
(nothing listens there), which is how an unavailable ai service looks to media.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.sources import ToneAudioTrack
from services.stack.servers import free_port
from tests.rtc_helpers import media_options, start_rtc, wait_for
from tests.support import Platform


async def test_media_keeps_flowing_while_the_ai_service_is_unavailable(
    rtc_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="meetmesh.media.analysis")
    rtc = await start_rtc(rtc_platform, media_options(ai_target=f"127.0.0.1:{free_port()}"))
    try:
        rtc.meeting = await rtc.host.create_meeting(title="AI down", settings={"ai_enabled": True})
        meeting_id = rtc.meeting.name.split("/")[1]
        listener = await rtc.bot()
        speaker = await rtc.bot()
        await speaker.publish(ToneAudioTrack())
        await wait_for(
            lambda: meeting_id in rtc.media.ai_taps
        )  # the AI setting is looked up beside the negotiation

        def failures() -> int:
            return sum("AI analysis stream failed" in r.getMessage() for r in caplog.records)

        await wait_for(lambda: failures() >= 2)  # failed, and failed again on the retry
        remote = await listener.wait_for_track(lambda r: r.info.kind == pb.TRACK_KIND_AUDIO)
        for _ in range(5):
            await asyncio.wait_for(remote.track.recv(), 10)
    finally:
        await rtc.close()
