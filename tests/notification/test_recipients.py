"""Recipients the service has not heard of yet (their user events are on another stream, late or
withheld): it asks the user service's internal directory, and waits while that is unreachable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy import select

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.notification.v1 import notification_pb2 as pb
from meetmesh.user.events.v1 import events_pb2 as user_ev
from meetmesh.user.internal.v1 import directory_grpc, directory_pb2
from services.kit.outbox import stream_of
from services.notification.models import DeliveryRow, RecipientRow
from services.notification.wiring import GROUP
from tests.notification.conftest import Mailbox
from tests.notification.support import NotifyPlatform
from tests.support import Client, wait_until


async def _withhold_user_events(notify: NotifyPlatform, *users: Client) -> None:
    """Once the relay has published ``users``' events, move the notification service's consumer
    group past them: the service (stopped meanwhile) never sees them."""
    stream = stream_of(user_ev.UserEvent, notify.settings.redis_prefix)
    wanted = {u.user.name.removeprefix("users/") for u in users}

    async def published() -> bool:
        seen = set()
        for _, fields in await notify.redis.xrange(stream):
            data = fields.get(b"data") or fields.get("data")
            if isinstance(data, str):
                data = data.encode()
            try:
                event = user_ev.UserEvent.FromString(data)
            except DecodeError:
                continue
            if event.WhichOneof("event") == "signed_in":  # each client's last event: its login
                seen.add(event.user)
        return wanted <= seen

    await wait_until(published, within_s=15)
    await notify.redis.xgroup_setid(stream, GROUP, "$")


async def _recipient(notify: NotifyPlatform, user_id: str) -> RecipientRow | None:
    db = notify.runtime.database("notification")
    async with db.reader() as session:
        return await session.get(RecipientRow, user_id)


async def _host_deliveries(notify: NotifyPlatform, user_id: str) -> list[DeliveryRow]:
    db = notify.runtime.database("notification")
    async with db.reader() as session:
        query = select(DeliveryRow).where(DeliveryRow.user_id == user_id, DeliveryRow.channel == "email")
        return list((await session.execute(query)).scalars())


async def _record(notify: NotifyPlatform, meeting: meeting_pb2.Meeting) -> None:
    registry = recordings_grpc.RecordingRegistryServiceStub(notify.channel("meeting"))
    await registry.CreateRecording(
        recordings_pb2.CreateRecordingRequest(
            parent=meeting.name,
            recording=meeting_pb2.Recording(
                object_key=f"{meeting.name}/recordings/r1.webm", media_type="video/webm", size_bytes=10
            ),
        ),
        metadata={"authorization": notify.runtime.identity("media").authorization()},
    )


@pytest.fixture
async def unheard(notify: NotifyPlatform) -> tuple[Client, Client]:
    """A host and a member whose user events the notification service never received; the member
    chose Simplified Chinese (preferences reach the service directly, not through events)."""
    await notify.stop("notification")
    host, member = await notify.client("Hana Host"), await notify.client("Mei Member")
    await _withhold_user_events(notify, host, member)
    await notify.start("notification")
    await notify.notifications.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            preferences=pb.Preferences(name="users/me/preferences", locale="zh-Hans"),
            update_mask={"paths": ["locale"]},
        ),
        metadata=member.metadata,
    )
    return host, member


async def test_recording_ready_reaches_a_host_whose_user_events_were_withheld(
    notify: NotifyPlatform, mailbox: Mailbox, unheard: tuple[Client, Client]
) -> None:
    host, _ = unheard
    host_id = host.user.name.removeprefix("users/")
    assert await _recipient(notify, host_id) is None  # nothing known of the host
    meeting = await host.create_meeting(title="Withheld review")
    await _record(notify, meeting)

    async def mailed() -> bool:
        return any(m["Subject"] == "Recording ready: Withheld review" for m in mailbox.to(host.email))

    await wait_until(mailed, within_s=15)
    # What the directory said is kept, as what user events say is.
    known = await _recipient(notify, host_id)
    assert known is not None and known.email == host.email and known.display_name == "Hana Host"

    async def recorded() -> bool:  # recorded as sent just after it reached the server
        return [(r.address, r.state) for r in await _host_deliveries(notify, host_id)] == [
            (host.email, "sent")
        ]

    await wait_until(recorded, within_s=5)


async def test_an_invitation_to_a_user_not_heard_of_uses_their_locale(
    notify: NotifyPlatform, mailbox: Mailbox, unheard: tuple[Client, Client]
) -> None:
    host, member = unheard
    meeting = await host.create_meeting(title="Planning")
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=member.email)
        ),
        metadata=host.metadata,
    )

    async def mailed() -> bool:
        return bool(mailbox.to(member.email))

    await wait_until(mailed, within_s=15)
    [message] = mailbox.to(member.email)
    assert message["Subject"] == "会议邀请：Planning"  # noqa: RUF001 (the template's full-width colon)


async def test_while_the_user_service_is_down_the_message_waits_and_is_sent_when_it_returns(
    notify: NotifyPlatform, mailbox: Mailbox, unheard: tuple[Client, Client]
) -> None:
    host, _ = unheard
    host_id = host.user.name.removeprefix("users/")
    meeting = await host.create_meeting(title="Outage review")
    await notify.stop("user")
    await _record(notify, meeting)

    async def tried() -> bool:
        rows = await _host_deliveries(notify, host_id)
        return bool(rows) and rows[0].update_time > rows[0].create_time

    await wait_until(tried, within_s=15)
    [waiting] = await _host_deliveries(notify, host_id)
    # Put back without an attempt and without an address; not dead.
    assert (waiting.state, waiting.attempts, waiting.address) == ("pending", 0, "")
    assert mailbox.to(host.email) == []

    await notify.start("user")  # on another port: the service finds it through the settings

    async def mailed() -> bool:
        return any(m["Subject"] == "Recording ready: Outage review" for m in mailbox.to(host.email))

    await wait_until(mailed, within_s=20)


async def test_the_directory_is_for_services_only_and_answers_not_found(notify: NotifyPlatform) -> None:
    directory = directory_grpc.UserDirectoryServiceStub(notify.channel("user"))
    someone = await notify.client("Sam Someone")
    with pytest.raises(GRPCError) as err:  # a user's token is not a service's
        await directory.LookupUser(
            directory_pb2.LookupUserRequest(email=someone.email), metadata=someone.metadata
        )
    assert err.value.status in (Status.PERMISSION_DENIED, Status.UNAUTHENTICATED)
    as_meeting = {"authorization": notify.runtime.identity("meeting").authorization()}
    with pytest.raises(GRPCError) as err:  # a service the contract does not name
        await directory.LookupUser(directory_pb2.LookupUserRequest(email=someone.email), metadata=as_meeting)
    assert err.value.status == Status.PERMISSION_DENIED
    service: dict[str, Any] = {"authorization": notify.runtime.identity("notification").authorization()}
    found = await directory.LookupUser(
        directory_pb2.LookupUserRequest(email=someone.email.upper()), metadata=service
    )
    assert (found.user, found.email, found.display_name) == (
        someone.user.name.removeprefix("users/"),
        someone.email,
        "Sam Someone",
    )
    by_id = await directory.LookupUser(directory_pb2.LookupUserRequest(user=found.user), metadata=service)
    assert by_id.email == someone.email
    with pytest.raises(GRPCError) as err:
        await directory.LookupUser(
            directory_pb2.LookupUserRequest(email=f"nobody-{uuid.uuid4().hex[:6]}@example.test"),
            metadata=service,
        )
    assert err.value.status == Status.NOT_FOUND
    with pytest.raises(GRPCError) as err:
        await directory.LookupUser(directory_pb2.LookupUserRequest(), metadata=service)
    assert err.value.status == Status.INVALID_ARGUMENT
