"""Fixtures for the notification tests: a real SMTP server (aiosmtpd), a real HTTP receiver
that records what it gets, and the user, meeting and notification services over ``stores``."""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.kit import service_block
from services.notification.config import NotificationOptions
from services.stack.servers import free_port
from tests.notification.receiver import Receiver
from tests.notification.support import NotifyPlatform, start_notify_platform


@dataclass
class Mailbox:
    """Messages aiosmtpd accepted, and the SMTP code to answer for some recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    # the client address (host, port) each message came over, in the same order
    senders: list[tuple[str, int]] = field(default_factory=list)
    # recipient -> SMTP status line to answer at RCPT (e.g. "550 no such user")
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        answer = self.refuse.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.senders.append((session.peer[0], session.peer[1]))
        return "250 Message accepted"

    def peers(self) -> set[tuple[str, int]]:
        """The connections (client address and port) messages came over."""
        with self.lock:
            return set(self.senders)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """One real SMTP server for the session; tests address their own recipients."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def notification_options(smtp_port: int, **overrides: Any) -> NotificationOptions:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "allow_loopback": True,
        "poll_s": 0.05,
        "claim_idle_s": 1.0,
        "lease_s": 5.0,
        "retry_base_s": 0.2,
        "retry_max_s": 1.0,
        "max_attempts": 3,
        "webhook_retry_schedule_s": [0.2, 0.4],
        "webhook_timeout_s": 1.0,
        "public_base_url": "https://meet.example.test",
        "admin_emails": [f"admin-{uuid.uuid4().hex[:8]}@example.test"],
    }
    values.update(overrides)
    return service_block(NotificationOptions, "notification", **values)


@pytest.fixture
async def notify(
    stores: dict[str, str], keys_dir: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[NotifyPlatform]:
    """User, meeting and notification services over ``stores`` (real and embedded)."""
    plat = await start_notify_platform(stores, keys_dir, notification_options(smtp[1]))
    try:
        yield plat
    finally:
        await plat.close()


@pytest.fixture
def mailbox(smtp: tuple[Mailbox, int]) -> Mailbox:
    return smtp[0]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on a loopback port."""
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
