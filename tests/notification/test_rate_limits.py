"""Per-recipient rate limits (real Redis, real SMTP): over the limit a recipient's messages wait
(they stay pending without spending an attempt, and are sent when the bucket refills; none is
dropped), while other recipients' messages flow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meetmesh.notification.internal.v1 import send_grpc, send_pb2
from services.kit.timestamps import utcnow
from tests.conftest import PG_URL, REDIS_URL
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.support import NotifyPlatform, deliveries_to, start_notify_platform
from tests.support import wait_until

# One message every 10 s after a burst of two.
RATE_PER_HOUR, BURST = 360.0, 2.0


@pytest.fixture
async def limited(keys_dir: Path, run_id: str, smtp: tuple[Mailbox, int]) -> AsyncIterator[NotifyPlatform]:
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    options = notification_options(smtp[1], rate_per_hour=RATE_PER_HOUR, rate_burst=BURST)
    plat = await start_notify_platform(stores, keys_dir, options, services=("notification",))
    try:
        yield plat
    finally:
        await plat.close()


async def test_a_recipient_over_the_limit_waits_and_others_flow(
    limited: NotifyPlatform, mailbox: Mailbox
) -> None:
    stub = send_grpc.NotificationSenderServiceStub(limited.channel("notification"))
    auth = {"authorization": limited.runtime.identity("meeting").authorization()}
    busy, other = (f"{who}-{uuid.uuid4().hex[:8]}@example.test" for who in ("busy", "other"))

    async def send(address: str, n: int) -> None:
        params = {"subject": f"Note {n}", "text": f"Message number {n}"}
        await stub.Send(send_pb2.SendRequest(email=address, kind="message", params=params), metadata=auth)

    for n in range(3):
        await send(busy, n)
    for n in range(2):
        await send(other, n)

    async def others_sent() -> bool:
        sent_other = [r.state for r in await deliveries_to(limited, other)] == ["sent", "sent"]
        return sent_other and [r.state for r in await deliveries_to(limited, busy)].count("sent") >= 2

    await wait_until(others_sent, within_s=20)
    # The busy recipient got its burst; the third message waits for a token: pending, no attempt
    # spent, due later. The other recipient's bucket is its own: both of its messages went.
    assert len(mailbox.to(busy)) == 2 and len(mailbox.to(other)) == 2
    rows = await deliveries_to(limited, busy)
    waiting = [r for r in rows if r.state == "pending"]
    assert sorted(r.state for r in rows) == ["pending", "sent", "sent"]
    assert waiting[0].attempts == 0 and waiting[0].next_time > utcnow()

    # When the bucket refills it is sent, once: nothing was dropped or repeated.
    async def all_sent() -> bool:
        return [r.state for r in await deliveries_to(limited, busy)] == ["sent"] * 3

    await wait_until(all_sent, within_s=40)
    assert sorted(m["Subject"] for m in mailbox.to(busy)) == ["Note 0", "Note 1", "Note 2"]
    # The wait spent no attempt: each message was sent at its first attempt.
    assert [r.attempts for r in await deliveries_to(limited, busy)] == [1, 1, 1]
