"""The meeting service over real gRPC: meetings, visibility, updates, invitations, pagination."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy import func, select

from meetmesh.meeting.v1 import meeting_pb2
from services.meeting.models import MeetingRow
from tests.support import Platform, error_info, field_violations


async def _count_meetings(platform: Platform) -> int:
    db = platform.runtime.database("meeting")
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(MeetingRow))).scalar_one())


async def test_create_and_get_meeting(platform: Platform) -> None:
    host = await platform.client()
    meeting = await host.create_meeting(
        title="Design review",
        description="Q3 plans",
        passcode="s3cret",
        lobby_enabled=True,
        capacity=10,
        settings=meeting_pb2.MeetingSettings(recording_allowed=True, ai_enabled=True),
        role_grants=[
            meeting_pb2.RoleGrants(role=meeting_pb2.ROLE_VIEWER, grants=meeting_pb2.Grants(subscribe=True))
        ],
    )
    assert meeting.name.startswith("meetings/")
    assert meeting.host == host.user.name
    assert meeting.passcode_protected and meeting.passcode == ""  # input only, never returned
    assert meeting.state == meeting_pb2.Meeting.STATE_SCHEDULED
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert got.meeting == meeting
    assert got.meeting.role_grants[0].grants == meeting_pb2.Grants(subscribe=True)


async def test_default_capacity_applies(platform: Platform) -> None:
    host = await platform.client()
    meeting = await host.create_meeting()
    assert meeting.capacity == platform.settings.meeting.default_capacity


async def test_create_with_the_same_request_id_creates_one_meeting(platform: Platform) -> None:
    host = await platform.client()
    request_id = str(uuid.uuid4())
    before = await _count_meetings(platform)
    request = meeting_pb2.CreateMeetingRequest(
        meeting=meeting_pb2.Meeting(title="Retro"), request_id=request_id
    )
    replies = await asyncio.gather(
        *(platform.meetings.CreateMeeting(request, metadata=host.metadata) for _ in range(5))
    )
    assert len({r.meeting.name for r in replies}) == 1
    assert await _count_meetings(platform) == before + 1
    # Another host's identical request_id is a different meeting.
    other = await platform.client()
    theirs = await platform.meetings.CreateMeeting(request, metadata=other.metadata)
    assert theirs.meeting.name != replies[0].meeting.name


async def test_invalid_create_lists_every_bad_field_and_stores_nothing(platform: Platform) -> None:
    host = await platform.client()
    before = await _count_meetings(platform)
    with pytest.raises(GRPCError) as err:
        await platform.meetings.CreateMeeting(
            meeting_pb2.CreateMeetingRequest(
                meeting=meeting_pb2.Meeting(title="x" * 201, capacity=-1, passcode="12"),
                request_id="not-a-uuid",
            ),
            metadata=host.metadata,
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {
        "meeting.title",
        "meeting.capacity",
        "meeting.passcode",
        "request_id",
    }
    with pytest.raises(GRPCError) as err:
        await host.create_meeting(title="   ")
    assert err.value.status == Status.INVALID_ARGUMENT
    assert "meeting.title" in field_violations(err.value)
    start = Timestamp(seconds=2_000_000_000)
    with pytest.raises(GRPCError) as err:
        await host.create_meeting(start_time=start, end_time=Timestamp(seconds=1_999_999_000))
    assert field_violations(err.value) == {"meeting.end_time": "must be after start_time"}
    assert await _count_meetings(platform) == before


async def test_someone_elses_meeting_is_not_found_like_an_unknown_one(platform: Platform) -> None:
    host = await platform.client()
    stranger = await platform.client()
    meeting = await host.create_meeting()
    answers = []
    for name in (meeting.name, f"meetings/{uuid.uuid4().hex}"):
        with pytest.raises(GRPCError) as err:
            await platform.meetings.GetMeeting(
                meeting_pb2.GetMeetingRequest(name=name), metadata=stranger.metadata
            )
        answers.append((err.value.status, error_info(err.value).reason))
    assert answers == [(Status.NOT_FOUND, "NOT_FOUND")] * 2
    listed = await platform.meetings.ListMeetings(
        meeting_pb2.ListMeetingsRequest(), metadata=stranger.metadata
    )
    assert meeting.name not in [m.name for m in listed.meetings]
    for call in (
        platform.meetings.UpdateMeeting(
            meeting_pb2.UpdateMeetingRequest(
                meeting=meeting_pb2.Meeting(name=meeting.name, title="Mine now"),
                update_mask=FieldMask(paths=["title"]),
            ),
            metadata=stranger.metadata,
        ),
        platform.meetings.EndMeeting(
            meeting_pb2.EndMeetingRequest(name=meeting.name), metadata=stranger.metadata
        ),
        platform.meetings.ListParticipants(
            meeting_pb2.ListParticipantsRequest(parent=meeting.name), metadata=stranger.metadata
        ),
    ):
        with pytest.raises(GRPCError) as err:
            await call
        assert err.value.status == Status.NOT_FOUND
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert got.meeting.title == meeting.title and got.meeting.state == meeting_pb2.Meeting.STATE_SCHEDULED


async def test_malformed_names_are_invalid_argument(platform: Platform) -> None:
    host = await platform.client()
    for name in ("meetings/", "meetings/UPPER", "users/abc", "meetings/a/b", "x" * 300):
        with pytest.raises(GRPCError) as err:
            await platform.meetings.GetMeeting(
                meeting_pb2.GetMeetingRequest(name=name), metadata=host.metadata
            )
        assert err.value.status == Status.INVALID_ARGUMENT
        assert "name" in field_violations(err.value)


async def test_update_with_mask_by_host_and_not_by_participants(platform: Platform) -> None:
    host = await platform.client()
    member = await platform.client()
    meeting = await host.create_meeting(title="Old", description="keep me")
    await host.join(meeting.name)
    await member.join(meeting.name)
    reply = await platform.meetings.UpdateMeeting(
        meeting_pb2.UpdateMeetingRequest(
            meeting=meeting_pb2.Meeting(name=meeting.name, title="New", description="ignored", capacity=5),
            update_mask=FieldMask(paths=["title", "capacity"]),
        ),
        metadata=host.metadata,
    )
    assert (reply.meeting.title, reply.meeting.description, reply.meeting.capacity) == ("New", "keep me", 5)
    with pytest.raises(GRPCError) as err:
        await platform.meetings.UpdateMeeting(
            meeting_pb2.UpdateMeetingRequest(
                meeting=meeting_pb2.Meeting(name=meeting.name, title="Hijack"),
                update_mask=FieldMask(paths=["title"]),
            ),
            metadata=member.metadata,
        )
    assert err.value.status == Status.PERMISSION_DENIED
    for mask in (FieldMask(paths=["host"]), FieldMask()):
        with pytest.raises(GRPCError) as err:
            await platform.meetings.UpdateMeeting(
                meeting_pb2.UpdateMeetingRequest(
                    meeting=meeting_pb2.Meeting(name=meeting.name), update_mask=mask
                ),
                metadata=host.metadata,
            )
        assert err.value.status == Status.INVALID_ARGUMENT
    # Capacity below the people already admitted is refused, and nothing changes.
    with pytest.raises(GRPCError) as err:
        await platform.meetings.UpdateMeeting(
            meeting_pb2.UpdateMeetingRequest(
                meeting=meeting_pb2.Meeting(name=meeting.name, capacity=1),
                update_mask=FieldMask(paths=["capacity"]),
            ),
            metadata=host.metadata,
        )
    assert err.value.status == Status.FAILED_PRECONDITION
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert (got.meeting.title, got.meeting.capacity) == ("New", 5)


async def test_list_meetings_paginates_over_hosted_joined_and_invited(platform: Platform) -> None:
    alice = await platform.client()
    bob = await platform.client()
    hosted = [await alice.create_meeting(title=f"Mine {i}") for i in range(5)]
    joined = await bob.create_meeting(title="Bob's")
    await alice.join(joined.name)
    invited = await bob.create_meeting(title="Invite only")
    await platform.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=invited.name, invitation=meeting_pb2.Invitation(email=alice.email)
        ),
        metadata=bob.metadata,
    )
    await bob.create_meeting(title="Not Alice's")
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await platform.meetings.ListMeetings(
            meeting_pb2.ListMeetingsRequest(page_size=2, page_token=token), metadata=alice.metadata
        )
        pages += 1
        assert len(page.meetings) <= 2
        names += [m.name for m in page.meetings]
        token = page.next_page_token
        if not token:
            break
    assert pages == 4
    assert sorted(names) == sorted([m.name for m in hosted] + [joined.name, invited.name])
    # The invitee can also read the meeting itself.
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=invited.name), metadata=alice.metadata
    )
    assert got.meeting.title == "Invite only"
    # A token from another caller's listing is refused.
    first = await platform.meetings.ListMeetings(
        meeting_pb2.ListMeetingsRequest(page_size=1), metadata=alice.metadata
    )
    with pytest.raises(GRPCError) as err:
        await platform.meetings.ListMeetings(
            meeting_pb2.ListMeetingsRequest(page_token=first.next_page_token), metadata=bob.metadata
        )
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_invitations_are_idempotent_per_address_and_need_moderate(platform: Platform) -> None:
    host = await platform.client()
    member = await platform.client()
    meeting = await host.create_meeting()
    await member.join(meeting.name)
    request = meeting_pb2.CreateInvitationRequest(
        parent=meeting.name, invitation=meeting_pb2.Invitation(email="Guest@Example.test")
    )
    first = await platform.meetings.CreateInvitation(request, metadata=host.metadata)
    second = await platform.meetings.CreateInvitation(request, metadata=host.metadata)
    assert first.invitation.name == second.invitation.name
    assert first.invitation.email == "guest@example.test"
    with pytest.raises(GRPCError) as err:
        await platform.meetings.CreateInvitation(request, metadata=member.metadata)
    assert err.value.status == Status.PERMISSION_DENIED
    bad = meeting_pb2.CreateInvitationRequest(
        parent=meeting.name, invitation=meeting_pb2.Invitation(email="nope")
    )
    with pytest.raises(GRPCError) as err:
        await platform.meetings.CreateInvitation(bad, metadata=host.metadata)
    assert err.value.status == Status.INVALID_ARGUMENT
    listed = await platform.meetings.ListInvitations(
        meeting_pb2.ListInvitationsRequest(parent=meeting.name), metadata=host.metadata
    )
    assert [i.email for i in listed.invitations] == ["guest@example.test"]


async def test_calls_without_a_token_are_unauthenticated(platform: Platform) -> None:
    with pytest.raises(GRPCError) as err:
        await platform.meetings.ListMeetings(meeting_pb2.ListMeetingsRequest())
    assert err.value.status == Status.UNAUTHENTICATED
    assert error_info(err.value).reason == "MISSING_CREDENTIALS"


async def test_a_restart_of_the_meeting_service_loses_nothing_committed(platform: Platform) -> None:
    host = await platform.client()
    guest = await platform.client()
    meeting = await host.create_meeting(title="Durable", passcode="1234", lobby_enabled=True)
    await host.join(meeting.name)
    waiting = await guest.join(meeting.name, passcode="1234")
    assert waiting.participant.state == meeting_pb2.Participant.STATE_WAITING
    await platform.stop("meeting")
    await platform.start("meeting")
    got = await platform.meetings.GetMeeting(
        meeting_pb2.GetMeetingRequest(name=meeting.name), metadata=host.metadata
    )
    assert (
        got.meeting.title == "Durable"
        and got.meeting.passcode_protected
        and got.meeting.participant_count == 1
    )
    listed = await platform.meetings.ListParticipants(
        meeting_pb2.ListParticipantsRequest(parent=meeting.name), metadata=host.metadata
    )
    states = {p.user: p.state for p in listed.participants}
    assert states == {
        host.user.name: meeting_pb2.Participant.STATE_ADMITTED,
        guest.user.name: meeting_pb2.Participant.STATE_WAITING,
    }
    # The old join token is still valid for signaling (tokens do not depend on process state).
    claims = platform.runtime.tokens.verify_join((await host.join(meeting.name)).join_token)
    assert claims.meeting_id == meeting.name.split("/")[1]
