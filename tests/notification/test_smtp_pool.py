"""The SMTP sender's connection pool against a real SMTP server (aiosmtpd): connections are reused,
a bounce leaves the connection in use, a 4xx or a dropped connection makes a new one, and a message
whose header would be split by CR/LF is refused before it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notification.channels import Permanent, Transient
from services.notification.channels.email import Attachment, Email, SmtpSender
from services.stack.servers import free_port
from tests.notification.conftest import Mailbox, notification_options
from tests.support import wait_until


def _email(to: str, subject: str = "Hello") -> Email:
    return Email(
        to=to,
        subject=subject,
        text="plain ünïcode\n",
        html="<p>html</p>",
        message_id=f"<{uuid.uuid4().hex}@meetmesh>",
        attachments=[
            Attachment("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n", {"method": "REQUEST"})
        ],
        unsubscribe_url="https://meet.example.test/unsubscribe?token=t",
    )


@pytest.fixture
def server() -> Any:
    state = Mailbox()
    port = free_port()
    controller = Controller(state, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield state, port, controller
    finally:
        controller.stop()


async def test_connections_are_reused_and_bounded_by_the_pool(server: Any) -> None:
    state, port, _ = server
    sender = SmtpSender(notification_options(port, smtp_pool_size=2))
    try:
        await asyncio.gather(*(sender.send(_email(f"r{i}@example.test")) for i in range(30)))
        assert len(state.messages) == 30
        # 30 messages over at most two connections (one per message before the pool: 30).
        assert 1 <= len(state.peers()) <= 2
        message = state.messages[0]
        assert message.get_body(preferencelist=("plain",)).get_content() == "plain ünïcode\n"
        [ics] = list(message.iter_attachments())
        assert ics.get_content_type() == "text/calendar" and ics.get_param("method") == "REQUEST"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    finally:
        sender.close()


async def test_a_bounce_keeps_the_connection_and_a_4xx_drops_it(server: Any) -> None:
    state, port, _ = server
    sender = SmtpSender(notification_options(port, smtp_pool_size=1))
    try:
        await sender.send(_email("first@example.test"))
        [first_peer] = state.peers()
        state.refuse["gone@example.test"] = "550 5.1.1 no such user"
        with pytest.raises(Permanent) as bounce:
            await sender.send(_email("gone@example.test"))
        assert bounce.value.status == 550
        await sender.send(_email("second@example.test"))
        assert state.peers() == {first_peer}  # RSET after the bounce, the same connection

        state.refuse["busy@example.test"] = "451 4.3.0 try again later"
        with pytest.raises(Transient) as later:
            await sender.send(_email("busy@example.test"))
        assert later.value.status == 451
        await sender.send(_email("third@example.test"))
        assert len(state.peers()) == 2  # after the 4xx, a new connection
        assert [m["To"] for m in state.messages] == [
            "first@example.test",
            "second@example.test",
            "third@example.test",
        ]
    finally:
        sender.close()


async def test_a_connection_the_server_dropped_is_replaced_without_losing_the_message() -> None:
    state = Mailbox()
    port = free_port()
    controller = Controller(state, hostname="127.0.0.1", port=port)
    controller.start()
    sender = SmtpSender(notification_options(port, smtp_pool_size=1))
    try:
        await sender.send(_email("before@example.test"))
        controller.stop()  # closes the pooled connection's other end
        controller = Controller(state, hostname="127.0.0.1", port=port)
        controller.start()
        await sender.send(_email("after@example.test"))
        assert [m["To"] for m in state.messages] == ["before@example.test", "after@example.test"]
        assert len(state.peers()) == 2
    finally:
        sender.close()
        controller.stop()


async def test_an_unreachable_server_is_transient(server: Any) -> None:
    sender = SmtpSender(notification_options(free_port(), smtp_timeout_s=2.0))
    with pytest.raises(Transient):
        await sender.send(_email("nobody@example.test"))


async def test_a_header_with_a_line_break_is_refused_before_sending(server: Any) -> None:
    state, port, _ = server
    sender = SmtpSender(notification_options(port))
    try:
        with pytest.raises(Permanent) as refused:
            await sender.send(_email("x@example.test", subject="Hi\r\nBcc: victim@example.test"))
        assert refused.value.status == 0  # not a bounce: the address is not suppressed
        assert state.messages == []
        await sender.send(_email("y@example.test", subject="会议邀请 Kickoff"))
        [message] = state.messages
        assert message["Subject"] == "会议邀请 Kickoff" and message["Bcc"] is None
    finally:
        sender.close()


async def test_auth_happens_once_per_connection() -> None:
    state = Mailbox()
    logins: list[tuple[bytes, bool]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"s3cret")
        logins.append((data.login if isinstance(data, LoginPassword) else b"", ok))
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        state, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        sender = SmtpSender(
            notification_options(port, smtp_pool_size=1, smtp_username="mailer", smtp_password="s3cret")
        )
        for i in range(5):
            await sender.send(_email(f"auth{i}@example.test"))
        sender.close()
        assert len(state.messages) == 5 and logins == [(b"mailer", True)]
    finally:
        controller.stop()


class _HeldAtData(Mailbox):
    """Holds each DATA until ``go`` is set; records the QUITs it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.in_data = threading.Event()
        self.quits = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_data.set()
        await asyncio.to_thread(self.go.wait, 15)
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"


async def test_a_connection_in_use_when_the_sender_closes_is_closed_when_its_send_ends() -> None:
    # The service's stop cancels its workers, but a send goes on in its thread; the connection it
    # hands back afterwards must not be pooled in a closed pool (its socket was left to the GC).
    state = _HeldAtData()
    port = free_port()
    controller = Controller(state, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = SmtpSender(notification_options(port, smtp_pool_size=1))
        send = asyncio.create_task(sender.send(_email("late@example.test")))

        async def in_data() -> bool:
            return state.in_data.is_set()

        await wait_until(in_data)
        send.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await send
        sender.close()  # nothing idle yet: the connection is still in the sending thread
        state.go.set()

        async def quit_said() -> bool:
            return state.quits == 1

        await wait_until(quit_said)
        assert [m["To"] for m in state.messages] == ["late@example.test"]
    finally:
        controller.stop()
