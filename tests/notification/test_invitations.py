"""Invitations: the meeting service's outbox -> Redis stream -> notification service -> real SMTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import icalendar
from google.protobuf.timestamp_pb2 import Timestamp

from meetmesh.meeting.v1 import meeting_pb2
from tests.notification.conftest import Mailbox
from tests.notification.support import NotifyPlatform
from tests.support import wait_until


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


async def _arrived(mailbox: Mailbox, address: str, count: int = 1) -> None:
    async def arrived() -> bool:
        return len(mailbox.to(address)) >= count

    await wait_until(arrived, within_s=15)


async def test_an_invitation_arrives_with_a_valid_calendar_and_join_link(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    host = await notify.client("Hana Host")
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    meeting = await host.create_meeting(
        title="Quarterly planning; budget, roadmap",
        description="Bring numbers.\nAnd ideas.",
        start_time=_ts(start),
        end_time=_ts(start + timedelta(minutes=45)),
    )
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=guest)
        ),
        metadata=host.metadata,
    )
    await _arrived(mailbox, guest)
    [message] = mailbox.to(guest)
    assert message["Subject"] == "Invitation: Quarterly planning; budget, roadmap"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http")
    meeting_id = meeting.name.removeprefix("meetings/")
    join_url = f"https://meet.example.test/?meeting={meeting_id}"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert join_url in text.get_content() and "Hana Host" in text.get_content()
    assert f'href="{join_url}"' in html.get_content()
    [ics] = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(ics.get_payload(decode=True))
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Quarterly planning; budget, roadmap"
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == start + timedelta(minutes=45)
    assert str(event["DESCRIPTION"]).startswith("Bring numbers.\nAnd ideas.")
    assert str(event["URL"]) == join_url
    assert str(event["UID"]).endswith("@meetmesh")


async def test_the_same_invitation_twice_sends_one_email(notify: NotifyPlatform, mailbox: Mailbox) -> None:
    host = await notify.client()
    meeting = await host.create_meeting(title="Standup")
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    request = meeting_pb2.CreateInvitationRequest(
        parent=meeting.name, invitation=meeting_pb2.Invitation(email=guest)
    )
    await notify.meetings.CreateInvitation(request, metadata=host.metadata)
    await notify.meetings.CreateInvitation(request, metadata=host.metadata)
    # A second invitation to another address marks the point after which the first has had its chance.
    other = f"other-{uuid.uuid4().hex[:8]}@example.test"
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=other)
        ),
        metadata=host.metadata,
    )
    await _arrived(mailbox, other)
    await _arrived(mailbox, guest)
    assert len(mailbox.to(guest)) == 1
    [message] = mailbox.to(guest)
    assert not [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]


async def test_markup_and_header_injection_in_fields_send_a_harmless_message(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    host = await notify.client("<img src=x onerror=alert(1)>\r\nBcc: victim@example.test")
    # The service learns the host's display name from the user service's events (the sign-in
    # notice is mailed in the same transaction); an invitation routed before that says "Someone".
    await _arrived(mailbox, host.email)
    meeting = await host.create_meeting(title="Hi\u2028Bcc: victim@example.test <b>bold</b>")
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=guest)
        ),
        metadata=host.metadata,
    )
    await _arrived(mailbox, guest)
    [message] = mailbox.to(guest)
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<b>bold</b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body
    assert mailbox.to("victim@example.test") == []


async def test_an_inviter_the_service_has_not_heard_of_yet_is_named(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    """The inviter registered and invited while the notification service was down: on restart it
    reads the meeting stream's invitation before the user stream's registration (the consumer
    reads both, the meeting stream first), and names the inviter from the event all the same."""
    await notify.stop("notification")
    host = await notify.client("Ines Inviter")
    meeting = await host.create_meeting(title="Kickoff")
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=guest)
        ),
        metadata=host.metadata,
    )
    await notify.start("notification")
    await _arrived(mailbox, guest)
    [message] = mailbox.to(guest)
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert 'Ines Inviter invited you to "Kickoff".' in text.get_content()
