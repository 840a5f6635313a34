"""Moderation through the contract: a host mutes a participant's camera and microphone at the SFU
(forwarding stops at every subscriber), asks someone to unmute, mutes everyone, lowers hands;
participants raise hands and react. Real bots over real signaling and media."""

from __future__ import annotations

import asyncio

from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from meetmesh_sdk.sources import ColorVideoTrack, ToneAudioTrack
from tests.rtc_helpers import RawSession, Rtc, drain


async def host_room(rtc: Rtc) -> Room:
    """The meeting's host (role host: the ``moderate`` grant) as a bot."""
    reply = await rtc.host.join(rtc.meeting.name)
    room = await Room.connect(reply.signaling_address, reply.join_token)
    rtc.rooms.append(room)
    return room


class Events:
    """Every event of some kinds a room receives from now on."""

    def __init__(self, room: Room, *kinds: str) -> None:
        self.room, self.kinds = room, kinds
        self.seen: list[pb.SignalResponse] = []
        self._task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self.room.events():
            if event.WhichOneof("message") in self.kinds:
                self.seen.append(event)

    def of(self, kind: str) -> list[pb.SignalResponse]:
        return [e for e in self.seen if e.WhichOneof("message") == kind]

    def stop(self) -> None:
        self._task.cancel()


async def test_a_muted_participants_tracks_stop_at_every_subscriber(rtc: Rtc) -> None:
    host = await host_room(rtc)
    publisher = await rtc.bot()
    viewers = [await rtc.bot(), await rtc.bot()]
    video = await publisher.publish(ColorVideoTrack((200, 30, 30)))
    audio = await publisher.publish(ToneAudioTrack(440))
    remotes = {}
    for viewer in viewers:
        remotes[viewer] = [await viewer.wait_for_track(lambda r, t=t: r.info.id == t) for t in (video, audio)]
        for remote in remotes[viewer]:
            await asyncio.wait_for(remote.track.recv(), 10)
    sources = rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].sources

    await host.mute_participant(publisher.participant_id, pb.TRACK_SOURCE_CAMERA)
    await publisher.wait_until(lambda: publisher.tracks[video].muted)
    assert publisher.tracks[video].muted_by == host.participant_id
    assert sources[video][1].muted and not sources[audio][1].muted
    for viewer in viewers:
        video_remote, audio_remote = remotes[viewer]
        # What the client had queued and what was in flight, then a second without a frame.
        await asyncio.wait_for(drain(video_remote.track), 10)
        await asyncio.wait_for(audio_remote.track.recv(), 5)  # the microphone still flows

    await host.mute_participant(publisher.participant_id, pb.TRACK_SOURCE_MICROPHONE)
    await publisher.wait_until(lambda: publisher.tracks[audio].muted)
    assert sources[audio][1].muted
    for viewer in viewers:
        # What the client had queued and what was in flight, then a second of silence (an
        # unmuted tone never goes quiet: drain would not return).
        await asyncio.wait_for(drain(remotes[viewer][1].track), 10)

    # The participant may unmute again (everyone sees it): forwarding resumes.
    await publisher.mute(video, False)
    await viewers[0].wait_until(lambda: not viewers[0].tracks[video].muted)
    assert viewers[0].tracks[video].muted_by == ""
    for viewer in viewers:
        await asyncio.wait_for(remotes[viewer][0].track.recv(), 10)


async def test_unmute_requests_mute_all_hands_and_reactions(rtc: Rtc) -> None:
    host = await host_room(rtc)
    guest, other = await rtc.bot(), await rtc.bot()
    host_audio = await host.publish(ToneAudioTrack(300))
    guest_audio = await guest.publish(ToneAudioTrack(400))
    other_audio = await other.publish(ToneAudioTrack(500))
    await host.wait_until(lambda: {guest_audio, other_audio} <= set(host.tracks))
    guest_events = Events(guest, "unmute_requested", "hand_update", "reaction", "error")
    other_events = Events(other, "unmute_requested", "hand_update", "reaction")
    host_events = Events(host, "hand_update", "reaction")

    # Without the grant: refused, nothing muted.
    await guest.mute_participant(other.participant_id)
    await guest.wait_until(lambda: bool(guest_events.of("error")))
    assert guest_events.of("error")[0].error.reason == "PERMISSION_DENIED"

    await host.request_unmute(guest.participant_id)
    await guest.wait_until(lambda: bool(guest_events.of("unmute_requested")))
    asked = guest_events.of("unmute_requested")[0].unmute_requested
    assert getattr(asked, "from") == host.participant_id
    assert asked.source == pb.TRACK_SOURCE_MICROPHONE

    await host.mute_all()
    await host.wait_until(lambda: host.tracks[guest_audio].muted and host.tracks[other_audio].muted)
    assert not host.tracks[host_audio].muted  # the moderator's own microphone stays on
    sources = rtc.media.sfu.rooms[rtc.meeting.name.split("/")[1]].sources
    assert sources[guest_audio][1].muted and sources[other_audio][1].muted
    assert not sources[host_audio][1].muted

    await guest.raise_hand()
    await host.wait_until(lambda: bool(host_events.of("hand_update")))
    raised = host_events.of("hand_update")[0].hand_update
    assert (raised.participant, raised.raised, raised.by) == (guest.participant_id, True, "")
    late = await rtc.bot()
    assert {p.id: p.hand_raised for p in late.joined.participants}[guest.participant_id]
    await host.lower_hands()
    await other.wait_until(lambda: len(other_events.of("hand_update")) == 2)
    lowered = other_events.of("hand_update")[1].hand_update
    assert (lowered.participant, lowered.raised, lowered.by) == (
        guest.participant_id,
        False,
        host.participant_id,
    )

    await guest.react("👍")
    await host.wait_until(lambda: bool(host_events.of("reaction")))
    reaction = host_events.of("reaction")[0].reaction
    assert (getattr(reaction, "from"), reaction.emoji) == (guest.participant_id, "👍")
    # The unmute request went to the guest only.
    assert not other_events.of("unmute_requested")
    for events in (guest_events, other_events, host_events):
        events.stop()


async def test_moderation_requests_are_checked(rtc: Rtc) -> None:
    async with RawSession(rtc.signaling_address) as s:
        await s.join((await rtc.join_token())[0])
        await s.send(request_id=2, reaction=pb.SendReaction(emoji="hello"))
        error = (await s.next("error")).error
        assert (error.reason, "reaction.emoji" in error.message) == ("INVALID_FIELD", True)
        await s.send(request_id=3, lower_hands=pb.LowerHands())
        assert (await s.next("error")).error.reason == "PERMISSION_DENIED"
    reply = await rtc.host.join(rtc.meeting.name)  # the host, raw
    async with RawSession(reply.signaling_address) as s:
        await s.join(reply.join_token)
        await s.send(request_id=4, mute_participant=pb.MuteParticipant(participant="nobody"))
        missing = await s.next("error")
        assert (missing.request_id, missing.error.reason) == (4, "NOT_FOUND")
        await s.send(
            request_id=5, request_unmute=pb.RequestUnmute(participant="p", source=pb.TRACK_SOURCE_SCREEN)
        )
        assert (await s.next("error")).error.reason == "INVALID_FIELD"
