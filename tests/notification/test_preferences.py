"""Preferences (locale, opt-outs), one-click unsubscribe (RFC 8058) and bounces."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.notification.v1 import notification_pb2 as pb
from tests.notification.conftest import Mailbox
from tests.notification.support import NotifyPlatform, deliveries_to
from tests.support import Client, wait_until


async def _invite(notify: NotifyPlatform, host: Client, meeting: meeting_pb2.Meeting, address: str) -> None:
    await notify.meetings.CreateInvitation(
        meeting_pb2.CreateInvitationRequest(
            parent=meeting.name, invitation=meeting_pb2.Invitation(email=address)
        ),
        metadata=host.metadata,
    )


async def _subjects(mailbox: Mailbox, address: str, count: int) -> list[str]:
    async def arrived() -> bool:
        return len(mailbox.to(address)) >= count

    await wait_until(arrived, within_s=15)
    return [str(m["Subject"]) for m in mailbox.to(address)]


async def test_locale_and_opt_outs_are_honoured(notify: NotifyPlatform, mailbox: Mailbox) -> None:
    host = await notify.client("Host")
    invitee = await notify.client("Invitee")
    reply = await notify.notifications.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            preferences=pb.Preferences(name="users/me/preferences", locale="zh-Hans"),
            update_mask={"paths": ["locale"]},
        ),
        metadata=invitee.metadata,
    )
    assert reply.preferences.locale == "zh-Hans"
    # The service learns the invitee's address from the user service's events (their sign-in
    # notice is mailed in the same transaction): until then an invitation to that address has no
    # known recipient, hence no preferences, and goes out in English. Wait for it.
    await _subjects(mailbox, invitee.email, 1)
    first = await host.create_meeting(title="周会")
    await _invite(notify, host, first, invitee.email)
    subjects = await _subjects(mailbox, invitee.email, 2)  # the sign-in notice and the invitation
    assert "会议邀请：周会" in subjects  # noqa: RUF001
    await notify.notifications.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            preferences=pb.Preferences(
                name="users/me/preferences",
                opt_outs=[pb.OptOut(channel=pb.CHANNEL_EMAIL, kind="invitation")],
            ),
            update_mask={"paths": ["opt_outs"]},
        ),
        metadata=invitee.metadata,
    )
    got = await notify.notifications.GetPreferences(
        pb.GetPreferencesRequest(name="users/me/preferences"), metadata=invitee.metadata
    )
    assert got.preferences.locale == "zh-Hans" and len(got.preferences.opt_outs) == 1
    second = await host.create_meeting(title="Skipped")
    await _invite(notify, host, second, invitee.email)
    marker = f"marker-{uuid.uuid4().hex[:8]}@example.test"
    await _invite(notify, host, second, marker)
    await _subjects(mailbox, marker, 1)
    assert not any("Skipped" in s for s in await _subjects(mailbox, invitee.email, 2))
    # Security notices cannot be opted out of; someone else's preferences cannot be touched.
    with pytest.raises(GRPCError) as err:
        await notify.notifications.UpdatePreferences(
            pb.UpdatePreferencesRequest(
                preferences=pb.Preferences(
                    name="users/me/preferences",
                    opt_outs=[pb.OptOut(channel=pb.CHANNEL_EMAIL, kind="security_notice")],
                )
            ),
            metadata=invitee.metadata,
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(GRPCError) as err:
        await notify.notifications.GetPreferences(
            pb.GetPreferencesRequest(name=f"{host.user.name}/preferences"), metadata=invitee.metadata
        )
    assert err.value.status == Status.PERMISSION_DENIED


async def test_one_click_unsubscribe_and_bounces_stop_mail(notify: NotifyPlatform, mailbox: Mailbox) -> None:
    host = await notify.client()
    meeting = await host.create_meeting(title="First")
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    await _invite(notify, host, meeting, guest)
    await _subjects(mailbox, guest, 1)
    [message] = mailbox.to(guest)
    link = str(message["List-Unsubscribe"]).strip("<>")
    http_port = notify.hosts["notification"].http_port
    parts = urlsplit(link)
    token = parse_qs(parts.query)["token"][0]
    local = f"http://127.0.0.1:{http_port}/unsubscribe"
    async with httpx.AsyncClient() as client:
        page = await client.get(local, params={"token": token})
        assert page.status_code == 200 and "<form" in page.text  # GET only asks
        forged = await client.post(
            local, params={"token": token[:-2] + "AA"}, content=b"List-Unsubscribe=One-Click"
        )
        assert forged.status_code == 400
        done = await client.post(
            local,
            params={"token": token},
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200
    # A bounce (SMTP 550 at RCPT) is not retried and suppresses the address.
    bouncing = f"bounce-{uuid.uuid4().hex[:8]}@example.test"
    mailbox.refuse[bouncing] = "550 5.1.1 no such user"
    other = await host.create_meeting(title="Second")
    await _invite(notify, host, other, guest)
    await _invite(notify, host, other, bouncing)
    marker = f"marker-{uuid.uuid4().hex[:8]}@example.test"
    await _invite(notify, host, other, marker)
    await _subjects(mailbox, marker, 1)
    assert len(mailbox.to(guest)) == 1  # unsubscribed from invitations
    assert mailbox.to(bouncing) == []

    async def dead() -> bool:
        rows = await deliveries_to(notify, bouncing)
        return len(rows) == 1 and rows[0].state == "dead"

    await wait_until(dead, within_s=10)
    [row] = await deliveries_to(notify, bouncing)
    assert row.attempts == 1 and row.last_status == 550
