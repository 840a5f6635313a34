"""The lobby over signaling and participants' display names: hosts (the ``moderate`` grant) hear
at once who knocks and who leaves the lobby, nobody else does; every participant carries the
display name the meeting service knows, and no name reaches the logs. Real meeting, signaling
and media services on PostgreSQL and Redis, bots over gRPC."""

from __future__ import annotations

import asyncio
import logging

import pytest

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.signaling.v1 import signaling_pb2 as pb
from meetmesh_sdk.room import Room
from services.kit.logs import JsonFormatter, RedactingFilter
from tests.rtc_helpers import Rtc
from tests.signaling.test_moderation import Events, host_room

KNOCKER = "Zephyrine Knockwell"  # distinctive: searched for in the logs


async def test_hosts_hear_the_lobby_and_everyone_carries_a_display_name(
    rtc: Rtc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="meetmesh")  # the services' own loggers
    rtc.meeting = await rtc.host.create_meeting(title="Lobby", lobby_enabled=True)
    host = await host_room(rtc)
    assert host.joined is not None
    assert host.joined.participant.display_name == "Host"  # platform.client("Host")
    host_events = Events(host, "lobby_update", "participant_update")

    # A guest knocks: the host is told at once, with the name; admitted, the guest joins the room.
    guest_client = await rtc.platform.client("Gus Guest")
    joining = asyncio.ensure_future(guest_client.join(rtc.meeting.name, wait_for_admission=True))
    await host.wait_until(lambda: bool(host_events.of("lobby_update")))
    knock = host_events.of("lobby_update")[0].lobby_update
    assert knock.change == pb.LobbyUpdate.CHANGE_WAITING
    assert knock.display_name == "Gus Guest"
    guest_pid = knock.participant
    await rtc.platform.meetings.AdmitParticipant(
        meeting_pb2.AdmitParticipantRequest(name=f"{rtc.meeting.name}/participants/{guest_pid}"),
        metadata=rtc.host.metadata,
    )
    reply = await asyncio.wait_for(joining, 20)
    await host.wait_until(lambda: len(host_events.of("lobby_update")) == 2)
    admitted = host_events.of("lobby_update")[1].lobby_update
    assert (admitted.change, admitted.participant, admitted.display_name) == (
        pb.LobbyUpdate.CHANGE_ADMITTED,
        guest_pid,
        "",
    )
    guest = await Room.connect(rtc.signaling_address, reply.join_token)
    rtc.rooms.append(guest)
    assert guest.participant_id == guest_pid
    assert guest.joined is not None and guest.joined.participant.display_name == "Gus Guest"
    assert {p.id: p.display_name for p in guest.joined.participants}[host.participant_id] == "Host"
    await host.wait_until(lambda: guest_pid in host.participants)
    assert host.participants[guest_pid].display_name == "Gus Guest"
    guest_events = Events(guest, "lobby_update")

    # Someone else knocks and gives up: the host hears both, the guest (no grant) neither.
    knocker = await rtc.platform.client(KNOCKER)
    waiting = await knocker.join(rtc.meeting.name)
    assert waiting.participant.state == meeting_pb2.Participant.STATE_WAITING and not waiting.join_token
    await host.wait_until(lambda: len(host_events.of("lobby_update")) == 3)
    knock = host_events.of("lobby_update")[2].lobby_update
    assert (knock.change, knock.display_name) == (pb.LobbyUpdate.CHANGE_WAITING, KNOCKER)
    await rtc.platform.meetings.LeaveMeeting(
        meeting_pb2.LeaveMeetingRequest(name=rtc.meeting.name), metadata=knocker.metadata
    )
    await host.wait_until(lambda: len(host_events.of("lobby_update")) == 4)
    gone = host_events.of("lobby_update")[3].lobby_update
    assert (gone.change, gone.participant) == (pb.LobbyUpdate.CHANGE_LEFT, knock.participant)
    # Signaling delivers an event to every session in the order it came: the guest, which is told
    # of a host's hand first, has had its chance to receive the lobby events too.
    await host.raise_hand()
    await guest.wait_until(lambda: guest.participants[host.participant_id].hand_raised)
    assert guest_events.of("lobby_update") == []
    # ... and a knocker denied by the host is a lobby event too.
    denied_client = await rtc.platform.client("Dee Nied")
    denied = await denied_client.join(rtc.meeting.name)
    await host.wait_until(lambda: len(host_events.of("lobby_update")) == 5)
    await rtc.platform.meetings.DenyParticipant(
        meeting_pb2.DenyParticipantRequest(
            name=f"{rtc.meeting.name}/participants/{denied.participant.name.split('/')[-1]}"
        ),
        metadata=rtc.host.metadata,
    )
    await host.wait_until(lambda: len(host_events.of("lobby_update")) == 6)
    assert host_events.of("lobby_update")[5].lobby_update.change == pb.LobbyUpdate.CHANGE_DENIED
    for events in (host_events, guest_events):
        events.stop()

    # The log lines as the services write them (JSON through the redacting filter).
    redacting, formatter = RedactingFilter(), JsonFormatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records if redacting.filter(r))
    assert "request message" in logged  # the requests themselves were logged, names masked
    for name in (KNOCKER, "Gus Guest", "Dee Nied"):
        assert name not in logged, f"a display name reached the logs: {name}"
