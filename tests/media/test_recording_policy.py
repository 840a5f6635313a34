"""Who may record and who is told: ``recording_allowed`` is enforced by signaling and by media,
recording starts and stops by the ``record`` grant, and every participant (late joiners too) gets
the recording state with the consent notice."""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.media.internal.v1 import media_grpc, media_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room, SignalingError
from meetmesh_sdk.sources import ColorVideoTrack
from services.kit import channel
from tests.rtc_helpers import Rtc, wait_for


async def allow_recording(rtc: Rtc, allowed: bool) -> None:
    await rtc.platform.meetings.UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(
                name=rtc.meeting.name, settings=meeting_pb2.MeetingSettings(recording_allowed=allowed)
            ),
            update_mask={"paths": ["settings"]},
        ),
        metadata=rtc.host.metadata,
    )


async def test_recording_allowed_is_enforced_and_everyone_gets_the_consent_notice(rtc: Rtc) -> None:
    reply = await rtc.host.join(rtc.meeting.name)
    host = await Room.connect(reply.signaling_address, reply.join_token)
    rtc.rooms.append(host)
    viewer = await rtc.bot()
    await viewer.publish(ColorVideoTrack((30, 200, 30), width=160, height=120))
    updates: list[pb.RecordingUpdate] = []

    async def listen() -> None:
        async for event in viewer.events():
            if event.WhichOneof("message") == "recording_update":
                updates.append(event.recording_update)

    listener = asyncio.ensure_future(listen())

    # Not allowed (the default): signaling refuses...
    with pytest.raises(SignalingError) as refused:
        await host.record(True)
    assert refused.value.reason == "FAILED_PRECONDITION"
    assert "recording_allowed" in str(refused.value)
    # ...and so does media, asked directly with signaling's own service identity.
    meeting_id = rtc.meeting.name.split("/")[1]
    async with channel(rtc.platform.settings.media.address, rtc.platform.runtime.identity("signaling")) as ch:
        with pytest.raises(GRPCError) as direct:
            await media_grpc.MediaServiceStub(ch).StartRecording(
                media_pb2.StartRecordingRequest(meeting=meeting_id), timeout=10
            )
    assert direct.value.status == Status.FAILED_PRECONDITION
    assert meeting_id not in rtc.media.recorders

    # Allowed: a participant without the grant still cannot; the host can, and everyone is told.
    await allow_recording(rtc, True)
    with pytest.raises(SignalingError) as no_grant:
        await viewer.record(True)
    assert no_grant.value.reason == "PERMISSION_DENIED"
    await host.record(True)
    await viewer.wait_until(lambda: bool(updates))
    assert updates[0].recording and updates[0].by == host.participant_id
    assert "recorded" in updates[0].consent_notice
    late = await rtc.bot()
    assert late.joined.recording  # a late joiner sees the notice at once

    await wait_for(lambda: rtc.media.recorders[meeting_id].has_media, 20)
    await host.record(False)
    await viewer.wait_until(lambda: len(updates) == 2)
    assert not updates[1].recording and updates[1].recording_name
    assert not (await rtc.bot()).joined.recording
    listener.cancel()
