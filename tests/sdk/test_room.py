"""Bots (the SDK's Room over real aiortc peers) in a meeting, through meeting, signaling and media."""

from __future__ import annotations

import asyncio

import pytest

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import RemoteTrack, Room, SignalingError
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack, dominant_rgb
from tests.rtc_helpers import RawSession, Rtc, close_to, drain

COLORS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (200, 200, 30)]


async def publish_av(room: Room, color: tuple[int, int, int]) -> tuple[str, str]:
    video = await room.publish(ColorVideoTrack(color))
    audio = await room.publish(ToneAudioTrack(300 + 100 * COLORS.index(color)))
    return video, audio


def by_owner(room: Room, owner: Room, kind: int) -> RemoteTrack:
    return next(
        r for r in room.remote.values() if r.info.participant == owner.participant_id and r.info.kind == kind
    )


async def decoded_color(remote: RemoteTrack, frames: int = 3) -> tuple[int, int, int]:
    frame = None
    for _ in range(frames):
        frame = await asyncio.wait_for(remote.track.recv(), 10)
    return dominant_rgb(frame)


async def test_three_bots_decode_each_other_and_a_late_joiner_gets_existing_tracks(rtc: Rtc) -> None:
    bots = [await rtc.bot() for _ in range(3)]
    for bot, color in zip(bots, COLORS, strict=False):
        await publish_av(bot, color)
    for bot in bots:
        await bot.wait_until(lambda b=bot: len(b.remote) == 4)
    for bot in bots:
        for other, color in zip(bots, COLORS, strict=False):
            if other is bot:
                continue
            assert close_to(await decoded_color(by_owner(bot, other, pb.TRACK_KIND_VIDEO)), color)
            audio = await asyncio.wait_for(by_owner(bot, other, pb.TRACK_KIND_AUDIO).track.recv(), 10)
            assert audio.sample_rate == 48000

    late = await rtc.bot()
    assert len(late.joined.tracks) == 6
    await late.wait_until(lambda: len(late.remote) == 6)
    for other, color in zip(bots, COLORS, strict=False):
        assert close_to(await decoded_color(by_owner(late, other, pb.TRACK_KIND_VIDEO)), color)


async def test_mute_stops_frames_and_unmute_resumes(rtc: Rtc) -> None:
    sender, receiver = await rtc.bot(), await rtc.bot()
    video, _ = await publish_av(sender, COLORS[0])
    remote = await receiver.wait_for_track(lambda r: r.info.id == video)
    await asyncio.wait_for(remote.track.recv(), 10)
    await sender.mute(video, True)
    await receiver.wait_until(lambda: receiver.tracks[video].muted)
    # Drain what was in flight, then nothing more arrives while muted.
    received_while_muted = await drain(remote.track)
    assert received_while_muted < 15  # at most the frames already in flight when mute took effect
    stats = rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].sources[video][1]
    assert stats.muted
    await sender.mute(video, False)
    assert close_to(await decoded_color(remote), COLORS[0])


async def test_removed_participant_is_disconnected_and_its_token_no_longer_works(rtc: Rtc) -> None:
    guest = await rtc.platform.client("Guest")
    token, address = await rtc.join_token(guest)
    room = await Room.connect(address, token)
    rtc.rooms.append(room)
    watcher = await rtc.bot()
    await rtc.platform.meetings.RemoveParticipant(
        meeting_pb2.RemoveParticipantRequest(name=f"{rtc.meeting.name}/participants/{room.participant_id}"),
        metadata=rtc.host.metadata,
    )
    await room.wait_until(lambda: room.closed_reason == "removed")
    await watcher.wait_until(lambda: room.participant_id not in watcher.participants)
    with pytest.raises(SignalingError) as rejected:
        await Room.connect(address, token)
    assert rejected.value.reason == "PERMISSION_DENIED"
    assert rejected.value.fatal


async def test_reconnect_resumes_the_same_participant(rtc: Rtc) -> None:
    sender, receiver = await rtc.bot(), await rtc.bot()
    events: list[pb.SignalResponse] = []

    async def record() -> None:
        async for event in receiver.events():
            events.append(event)

    recorder = asyncio.ensure_future(record())
    await publish_av(sender, COLORS[1])
    await receiver.wait_until(lambda: len(receiver.remote) == 2)
    pid = sender.participant_id
    sender.drop_connection()
    await sender.wait_resumed()
    assert sender.joined.resumed
    assert sender.participant_id == pid
    # Media renegotiated on a new peer connection: the receiver gets the republished video.
    await sender.wait_until(lambda: all(sender.local_track_ids))
    new_video = sender.local_track_ids[0]
    remote = await receiver.wait_for_track(lambda r: r.info.id == new_video)
    assert close_to(await decoded_color(remote), COLORS[1])
    recorder.cancel()
    changes = [e.participant_update.change for e in events if e.WhichOneof("message") == "participant_update"]
    assert pb.ParticipantUpdate.CHANGE_LEFT not in changes  # resumed, not left and rejoined
    assert len([p for p in receiver.participants if p == pid]) == 1


async def test_two_signaling_instances_serve_one_room(rtc: Rtc) -> None:
    await rtc.add_signaling()
    first, second = await rtc.bot(instance=0), await rtc.bot(instance=1)
    await first.wait_until(lambda: second.participant_id in first.participants)
    await publish_av(first, COLORS[2])
    remote = await second.wait_for_track(lambda r: r.info.kind == pb.TRACK_KIND_VIDEO)
    assert close_to(await decoded_color(remote), COLORS[2])
    chats: list[pb.ChatMessage] = []

    async def listen() -> None:
        async for event in first.events():
            if event.WhichOneof("message") == "chat":
                chats.append(event.chat)
                return

    listener = asyncio.ensure_future(listen())
    await second.chat("hello across instances")
    await asyncio.wait_for(listener, 10)
    assert chats[0].text == "hello across instances"
    assert getattr(chats[0], "from") == second.participant_id


async def test_active_speaker_follows_audio_levels(rtc: Rtc) -> None:
    loud, quiet, listener = await rtc.bot(), await rtc.bot(), await rtc.bot()
    await loud.publish(ToneAudioTrack(440, amplitude=0.5))
    await quiet.publish(ToneAudioTrack(440, amplitude=0.0))
    # The room keeps the latest list, so an event that arrived before this line is not missed.
    await listener.wait_until(lambda: bool(listener.active_speakers), within_s=15)
    assert listener.active_speakers == [loud.participant_id]


async def test_unpublished_track_stops_flowing(rtc: Rtc) -> None:
    sender, receiver = await rtc.bot(), await rtc.bot()
    video = await sender.publish(ColorVideoTrack(COLORS[3]))
    remote = await receiver.wait_for_track(lambda r: r.info.id == video)
    await asyncio.wait_for(remote.track.recv(), 10)
    await sender.unpublish(video)
    await receiver.wait_until(lambda: video not in receiver.tracks and video not in receiver.remote)
    assert video not in rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].sources
    assert await drain(remote.track) < 15  # only what was in flight when the track ended


async def test_ending_the_meeting_closes_every_session_and_refuses_joins(rtc: Rtc) -> None:
    first, second = await rtc.bot(), await rtc.bot()
    token, address = await rtc.join_token()
    await rtc.platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=rtc.meeting.name), metadata=rtc.host.metadata
    )
    await first.wait_until(lambda: first.closed_reason == "meeting_ended")
    await second.wait_until(lambda: second.closed_reason == "meeting_ended")
    with pytest.raises(SignalingError) as rejected:
        await Room.connect(address, token)
    assert rejected.value.reason == "MEETING_ENDED"


async def test_a_role_change_takes_effect_at_once(rtc: Rtc) -> None:
    guest = await rtc.platform.client("Guest")
    room = await rtc.bot(guest)
    await room.publish(ToneAudioTrack())
    participant = meeting_pb2.Participant(
        name=f"{rtc.meeting.name}/participants/{room.participant_id}", role=meeting_pb2.ROLE_VIEWER
    )
    await rtc.platform.meetings.UpdateParticipant(
        meeting_pb2.UpdateParticipantRequest(participant=participant, update_mask={"paths": ["role"]}),
        metadata=rtc.host.metadata,
    )
    me = room.participant_id
    await room.wait_until(lambda: me in room.participants and "publish" not in room.participants[me].grants)
    with pytest.raises(SignalingError) as rejected:
        await room.publish(ColorVideoTrack(COLORS[0]))
    assert rejected.value.reason == "PERMISSION_DENIED"


async def test_a_stopping_instance_hands_its_dropped_sessions_to_the_others(rtc: Rtc) -> None:
    """Clients of a stopping instance are told to reconnect; one that never comes back is timed
    out by the instance still running."""
    second = await rtc.add_signaling(resume_grace_s=1.0)
    rtc.hubs[0].settings.resume_grace_s = 1.0
    watcher = await rtc.bot(instance=0)
    token, _ = await rtc.join_token()
    async with RawSession(f"127.0.0.1:{second.grpc_port}") as leaving:
        pid = (await leaving.join(token)).participant.id
        await watcher.wait_until(lambda: pid in watcher.participants)
        stopping = asyncio.ensure_future(second.stop())
        assert (await leaving.next("reconnect")).reconnect.reason
        await stopping
    rtc.signaling_hosts.remove(second)
    await watcher.wait_until(lambda: pid not in watcher.participants, 15)
