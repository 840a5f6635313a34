"""The join flow over real gRPC: passcode, lobby, capacity under concurrency, roles and grants."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.events.v1 import events_pb2
from meetmesh.meeting.v1 import meeting_pb2
from services.meeting.store import participant_id_for
from tests.support import Client, Platform, error_info, retry_delay, wait_until

P = meeting_pb2.Participant


async def _participants(platform: Platform, client: Client, meeting: str, state: int = 0) -> list[P]:
    reply = await platform.meetings.ListParticipants(
        meeting_pb2.ListParticipantsRequest(parent=meeting, state=state, page_size=500),
        metadata=client.metadata,
    )
    return list(reply.participants)


async def test_join_returns_participant_signaling_address_and_a_join_token(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(settings=meeting_pb2.MeetingSettings(ai_enabled=True))
    reply = await guest.join(meeting.name, display_name="Guest G")
    assert reply.participant.state == P.STATE_ADMITTED
    assert reply.participant.role == meeting_pb2.ROLE_PARTICIPANT
    assert reply.participant.display_name == "Guest G"
    assert reply.participant.grants == meeting_pb2.Grants(publish=True, subscribe=True, chat=True)
    assert reply.signaling_address == platform.settings.signaling.address
    assert reply.signaling_websocket_path == "/rtc"
    assert reply.meeting.state == meeting_pb2.Meeting.STATE_ACTIVE and reply.meeting.participant_count == 1
    token = platform.runtime.tokens.verify_join(reply.join_token)
    assert token.user_id == guest.user_id
    assert f"meetings/{token.meeting_id}/participants/{token.participant_id}" == reply.participant.name
    assert token.grants == {"publish", "subscribe", "chat"} and token.meeting_role == "participant"
    # Joining again is idempotent: same participant, no extra seat.
    again = await guest.join(meeting.name)
    assert again.participant.name == reply.participant.name and again.meeting.participant_count == 1
    # A join token is not an access token, and vice versa.
    with pytest.raises(GRPCError) as err:
        await platform.meetings.ListMeetings(
            meeting_pb2.ListMeetingsRequest(), metadata={"authorization": f"Bearer {reply.join_token}"}
        )
    assert err.value.status == Status.UNAUTHENTICATED


async def test_passcode_is_checked_and_wrong_ones_are_throttled(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(passcode="open sesame")
    # The host needs no passcode.
    assert (await host.join(meeting.name)).participant.state == P.STATE_ADMITTED
    limit = platform.settings.meeting.passcode_failures
    for attempt in ("", *[f"guess {i}" for i in range(limit - 1)]):
        with pytest.raises(GRPCError) as err:
            await guest.join(meeting.name, passcode=attempt)
        assert err.value.status == Status.PERMISSION_DENIED
        assert error_info(err.value).reason == "WRONG_PASSCODE"
    with pytest.raises(GRPCError) as err:
        await guest.join(meeting.name, passcode="open sesame")
    assert err.value.status == Status.RESOURCE_EXHAUSTED
    assert retry_delay(err.value) > 0
    # No participant row was left behind by any failed attempt.
    assert [p.user for p in await _participants(platform, host, meeting.name)] == [host.user.name]
    # Someone else with the right passcode gets in.
    other = await platform.client()
    assert (await other.join(meeting.name, passcode="open sesame")).participant.state == P.STATE_ADMITTED


async def test_lobby_admit_with_a_blocking_wait(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(lobby_enabled=True)
    assert (await host.join(meeting.name)).participant.state == P.STATE_ADMITTED  # the host never waits
    waiting = asyncio.create_task(guest.join(meeting.name, wait_for_admission=True))
    # Wait until the guest shows up in the lobby, then admit them.
    lobby: list[P] = []

    async def someone_waits() -> bool:
        lobby[:] = await _participants(platform, host, meeting.name, P.STATE_WAITING)
        return bool(lobby)

    await wait_until(someone_waits)
    assert not waiting.done()
    admitted = await platform.meetings.AdmitParticipant(
        meeting_pb2.AdmitParticipantRequest(name=lobby[0].name), metadata=host.metadata
    )
    assert admitted.participant.state == P.STATE_ADMITTED
    reply = await asyncio.wait_for(waiting, 10)
    assert reply.participant.state == P.STATE_ADMITTED and reply.join_token
    assert reply.meeting.participant_count == 2


async def test_lobby_polling_and_deny(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(lobby_enabled=True)
    first = await guest.join(meeting.name)
    assert first.participant.state == P.STATE_WAITING and first.join_token == ""
    assert (await guest.join(meeting.name)).participant.state == P.STATE_WAITING  # polling
    # A waiting guest cannot moderate, and is not counted.
    with pytest.raises(GRPCError) as err:
        await platform.meetings.AdmitParticipant(
            meeting_pb2.AdmitParticipantRequest(name=first.participant.name), metadata=guest.metadata
        )
    assert err.value.status == Status.PERMISSION_DENIED
    await platform.meetings.DenyParticipant(
        meeting_pb2.DenyParticipantRequest(name=first.participant.name), metadata=host.metadata
    )
    with pytest.raises(GRPCError) as err:
        await guest.join(meeting.name)
    assert err.value.status == Status.PERMISSION_DENIED
    assert error_info(err.value).reason == "ADMISSION_DENIED"
    # Admitting someone who is no longer waiting is a precondition failure.
    with pytest.raises(GRPCError) as err:
        await platform.meetings.AdmitParticipant(
            meeting_pb2.AdmitParticipantRequest(name=first.participant.name), metadata=host.metadata
        )
    assert err.value.status == Status.FAILED_PRECONDITION


async def test_a_blocking_wait_answers_waiting_before_the_deadline(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(lobby_enabled=True)
    reply = await platform.meetings.JoinMeeting(
        meeting_pb2.JoinMeetingRequest(name=meeting.name, wait_for_admission=True),
        metadata=guest.metadata,
        timeout=1.0,
    )
    assert reply.participant.state == P.STATE_WAITING and reply.join_token == ""


@pytest.mark.parametrize("lobby", [False, True], ids=["direct", "via-lobby"])
async def test_capacity_holds_under_50_concurrent_joins(platform: Platform, lobby: bool) -> None:
    host = await platform.client()
    capacity = 7
    meeting = await host.create_meeting(capacity=capacity, lobby_enabled=lobby)
    guests = await asyncio.gather(*(platform.client(f"Guest {i}") for i in range(50)))
    results = await asyncio.gather(*(g.join(meeting.name) for g in guests), return_exceptions=True)
    if lobby:
        assert all(isinstance(r, meeting_pb2.JoinMeetingResponse) for r in results)
        waiting = [r.participant.name for r in results if isinstance(r, meeting_pb2.JoinMeetingResponse)]
        results = await asyncio.gather(
            *(
                platform.meetings.AdmitParticipant(
                    meeting_pb2.AdmitParticipantRequest(name=n), metadata=host.metadata
                )
                for n in waiting
            ),
            return_exceptions=True,
        )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(admitted) == capacity
    assert all(isinstance(r, GRPCError) and r.status == Status.RESOURCE_EXHAUSTED for r in refused)
    assert {error_info(r).reason for r in refused if isinstance(r, GRPCError)} == {"MEETING_FULL"}
    in_meeting = await _participants(platform, host, meeting.name, P.STATE_ADMITTED)
    assert len(in_meeting) == capacity
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert got.meeting.participant_count == capacity
    # Leaving frees a seat for someone else.
    leaver = next(g for g in guests if g.user.name in {p.user for p in in_meeting})
    await platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=meeting.name), metadata=leaver.metadata
    )
    late = await platform.client()
    reply = await late.join(meeting.name)
    if lobby:
        reply = await platform.meetings.AdmitParticipant(
            meeting_pb2.AdmitParticipantRequest(name=reply.participant.name), metadata=host.metadata
        )
    assert reply.participant.state == P.STATE_ADMITTED


async def test_roles_and_grants_are_enforced(platform: Platform) -> None:
    host = await platform.client()
    member = await platform.client()
    viewer = await platform.client()
    meeting = await host.create_meeting(
        role_grants=[
            meeting_pb2.RoleGrants(
                role=meeting_pb2.ROLE_PARTICIPANT, grants=meeting_pb2.Grants(publish=True, subscribe=True)
            )
        ]
    )
    m = await member.join(meeting.name)
    assert m.participant.grants == meeting_pb2.Grants(publish=True, subscribe=True)  # the meeting's override
    v = await viewer.join(meeting.name)

    async def set_role(actor: Client, participant: str, role: int) -> meeting_pb2.Participant:
        reply = await platform.meetings.UpdateParticipant(
            meeting_pb2.UpdateParticipantRequest(
                participant=P(name=participant, role=role), update_mask=FieldMask(paths=["role"])
            ),
            metadata=actor.metadata,
        )
        return reply.participant

    demoted = await set_role(host, v.participant.name, meeting_pb2.ROLE_VIEWER)
    assert demoted.grants == meeting_pb2.Grants(subscribe=True, chat=True)
    assert platform.runtime.tokens.verify_join((await viewer.join(meeting.name)).join_token).grants == {
        "subscribe",
        "chat",
    }
    # Participants cannot moderate.
    with pytest.raises(GRPCError) as err:
        await set_role(member, v.participant.name, meeting_pb2.ROLE_PARTICIPANT)
    assert err.value.status == Status.PERMISSION_DENIED
    # A co-host moderates, but cannot make co-hosts or touch the host.
    cohost = await set_role(host, m.participant.name, meeting_pb2.ROLE_CO_HOST)
    assert cohost.grants.moderate
    await set_role(member, v.participant.name, meeting_pb2.ROLE_PARTICIPANT)
    with pytest.raises(GRPCError) as err:
        await set_role(member, v.participant.name, meeting_pb2.ROLE_CO_HOST)
    assert err.value.status == Status.PERMISSION_DENIED
    host_participant = (await host.join(meeting.name)).participant.name
    with pytest.raises(GRPCError) as err:
        await set_role(member, host_participant, meeting_pb2.ROLE_VIEWER)
    assert err.value.status == Status.PERMISSION_DENIED
    with pytest.raises(GRPCError) as err:
        await set_role(host, v.participant.name, meeting_pb2.ROLE_HOST)
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_removed_participants_cannot_rejoin_and_left_ones_can(platform: Platform) -> None:
    host = await platform.client()
    troll = await platform.client()
    friend = await platform.client()
    meeting = await host.create_meeting()
    t = await troll.join(meeting.name)
    await friend.join(meeting.name)
    reply = await platform.meetings.RemoveParticipant(
        meeting_pb2.RemoveParticipantRequest(name=t.participant.name), metadata=host.metadata
    )
    assert reply.participant.state == P.STATE_REMOVED
    with pytest.raises(GRPCError) as err:
        await troll.join(meeting.name)
    assert err.value.status == Status.PERMISSION_DENIED
    assert error_info(err.value).reason == "ADMISSION_DENIED"
    left = await platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=meeting.name), metadata=friend.metadata
    )
    assert left.participant.state == P.STATE_LEFT
    back = await friend.join(meeting.name)
    assert back.participant.state == P.STATE_ADMITTED and back.participant.name == left.participant.name
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert got.meeting.participant_count == 1  # only the friend; the host never joined
    # The host cannot be removed.
    host_p = (await host.join(meeting.name)).participant.name
    with pytest.raises(GRPCError) as err:
        await platform.meetings.RemoveParticipant(
            meeting_pb2.RemoveParticipantRequest(name=host_p), metadata=host.metadata
        )
    assert err.value.status == Status.PERMISSION_DENIED


async def test_removal_and_end_are_published_for_signaling(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting()
    g = await guest.join(meeting.name)
    pubsub = platform.redis.pubsub(ignore_subscribe_messages=True)
    meeting_id = meeting.name.split("/")[1]
    # The channel the contract names for MeetingEvent, spelled out: a change to it is a breaking one.
    await pubsub.subscribe(f"{platform.settings.redis_prefix}:meeting:events:{meeting_id}")
    await platform.meetings.RemoveParticipant(
        meeting_pb2.RemoveParticipantRequest(name=g.participant.name), metadata=host.metadata
    )
    await platform.meetings.EndMeeting(
        meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    seen: list[events_pb2.MeetingEvent] = []
    async with asyncio.timeout(10):
        while len(seen) < 2:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                seen.append(events_pb2.MeetingEvent.FromString(message["data"]))
    await pubsub.aclose()
    assert [e.WhichOneof("event") for e in seen] == ["participant_removed", "meeting_ended"]
    assert {e.meeting for e in seen} == {meeting_id}
    assert seen[0].participant_removed.participant == g.participant.name.split("/")[-1]
    assert seen[0].participant_removed.user == guest.user_id
    assert seen[1].time.seconds > 0
    # An ended meeting cannot be joined or changed.
    with pytest.raises(GRPCError) as err:
        await host.join(meeting.name)
    assert err.value.status == Status.FAILED_PRECONDITION
    assert error_info(err.value).reason == "MEETING_ENDED"


async def test_an_empty_display_name_means_the_accounts_name(platform: Platform) -> None:
    """As the contract says (issue 11: it used to be "Guest")."""
    host = await platform.client("Hester Host")
    guest = await platform.client("Gabriel Guest")
    meeting = await host.create_meeting()
    assert (await guest.join(meeting.name)).participant.display_name == "Gabriel Guest"
    assert (await host.join(meeting.name, display_name="  ")).participant.display_name == "Hester Host"


async def test_every_join_of_an_account_names_one_participant_with_the_live_generation(
    platform: Platform,
) -> None:
    """The participant id is derived from meeting and account (store.participant_id_for), so a
    first join, a join while already in, and a join after leaving all name the same participant,
    and each token carries the generation that is live in Redis at that moment."""
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting()
    meeting_id = meeting.name.split("/")[1]
    joins, tokens = platform.runtime.joins, platform.runtime.tokens

    first = await guest.join(meeting.name)
    pid = first.participant.name.rsplit("/", 1)[1]
    assert pid == participant_id_for(meeting_id, guest.user_id)
    assert pid != participant_id_for(meeting_id, host.user_id)
    gen1 = tokens.verify_join(first.join_token).generation
    assert gen1 and await joins.live(meeting_id, pid) == gen1

    again = await guest.join(meeting.name)  # still in: the same participant and generation
    assert again.participant.name == first.participant.name
    assert tokens.verify_join(again.join_token).generation == gen1
    assert again.meeting.participant_count == 1

    await platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=meeting.name), metadata=guest.metadata
    )
    assert await joins.live(meeting_id, pid) is None
    back = await guest.join(meeting.name)  # after leaving: the same participant, a new generation
    assert back.participant.name == first.participant.name
    gen2 = tokens.verify_join(back.join_token).generation
    assert gen2 and gen2 != gen1 and await joins.live(meeting_id, pid) == gen2
    assert back.meeting.participant_count == 1
