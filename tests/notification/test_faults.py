"""Bad input and faults: invalid addresses and numbers on the internal Send, SMTP 4xx retried,
malformed Alertmanager payloads, and alerts reaching admins."""

from __future__ import annotations

import uuid

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.notification.internal.v1 import send_grpc, send_pb2
from tests.notification.conftest import Mailbox
from tests.notification.support import NotifyPlatform, deliveries_to
from tests.support import field_violations, wait_until


def _sender(
    notify: NotifyPlatform, service: str = "meeting"
) -> tuple[send_grpc.NotificationSenderServiceStub, dict[str, str]]:
    stub = send_grpc.NotificationSenderServiceStub(notify.channel("notification"))
    return stub, {"authorization": notify.runtime.identity(service).authorization()}


async def test_send_refuses_bad_addresses_numbers_and_callers(notify: NotifyPlatform) -> None:
    stub, auth = _sender(notify)
    for request, field in (
        (send_pb2.SendRequest(email="not an address", kind="message"), "email"),
        (send_pb2.SendRequest(email="a@b.test\r\nBcc: x@y.test", kind="message"), "email"),
        (send_pb2.SendRequest(phone="+12", kind="message"), "phone"),
        (send_pb2.SendRequest(phone="5551234567", kind="message"), "phone"),
        (send_pb2.SendRequest(email="ok@example.test", kind="no_such_template"), "kind"),
    ):
        with pytest.raises(GRPCError) as err:
            await stub.Send(request, metadata=auth)
        assert err.value.status == Status.INVALID_ARGUMENT, request
        assert field in field_violations(err.value), request
    person = await notify.client()
    with pytest.raises(GRPCError) as err:
        await stub.Send(
            send_pb2.SendRequest(email="ok@example.test", kind="message"), metadata=person.metadata
        )
    assert err.value.status == Status.PERMISSION_DENIED


async def test_an_smtp_4xx_is_retried_and_send_is_idempotent(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    stub, auth = _sender(notify)
    address = f"later-{uuid.uuid4().hex[:8]}@example.test"
    mailbox.refuse[address] = "451 4.3.0 try again later"
    request = send_pb2.SendRequest(
        email=address, kind="message", params={"subject": "Hello", "text": "<b>hi</b>"}, idempotency_key="k1"
    )
    first = await stub.Send(request, metadata=auth)
    assert (await stub.Send(request, metadata=auth)).delivery == first.delivery

    async def failed_once() -> bool:
        rows = await deliveries_to(notify, address)
        return bool(rows) and rows[0].attempts >= 1

    await wait_until(failed_once, within_s=10)
    [row] = await deliveries_to(notify, address)
    assert row.state == "pending" and row.last_status == 451
    del mailbox.refuse[address]

    async def arrived() -> bool:
        return len(mailbox.to(address)) == 1

    await wait_until(arrived, within_s=10)
    [message] = mailbox.to(address)
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "&lt;b&gt;hi&lt;/b&gt;" in html.get_content()


ALERT = {
    "version": "4",
    "status": "firing",
    "receiver": "meetmesh-admins",
    "groupKey": '{}:{alertname="MeetingServiceDown"}',
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "MeetingServiceDown", "severity": "page"},
            "annotations": {"summary": "meeting has been down for 5 minutes"},
            "startsAt": "2026-12-01T15:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc123",
        }
    ],
}


async def test_alertmanager_alerts_reach_admins_and_malformed_payloads_get_400(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    port = notify.hosts["notification"].http_port
    url = f"http://127.0.0.1:{port}/alertmanager"
    async with httpx.AsyncClient() as client:
        for body in (
            b"not json",
            b"[]",
            b'{"version": "3", "alerts": []}',
            b'{"version": "4", "alerts": [{"status": "odd"}]}',
        ):
            reply = await client.post(url, content=body)
            assert reply.status_code == 400, body
            assert "error" in reply.json()
        first = await client.post(url, json=ALERT)
        again = await client.post(url, json=ALERT)  # Alertmanager repeats itself
    assert first.status_code == 200 and first.json() == {"alerts": 1, "new": 1}
    assert again.json() == {"alerts": 1, "new": 0}
    admin = notify.settings.notification.admin_emails[0]

    async def arrived() -> bool:
        return any(m["Subject"] == "[FIRING] MeetingServiceDown" for m in mailbox.to(admin))

    await wait_until(arrived, within_s=10)
    assert len([m for m in mailbox.to(admin) if m["Subject"] == "[FIRING] MeetingServiceDown"]) == 1
