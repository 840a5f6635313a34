"""Group commit of stream events (services/notification/batching.py), on real PostgreSQL: events
handed over together are recorded in one transaction and each queues its deliveries once; a
poison event among them fails alone; handed over again, none does anything."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit.events import meeting_event
from services.kit.outbox import StreamEntry
from services.kit.timestamps import utcnow
from services.notification.batching import EventBatcher
from services.notification.models import DeliveryRow, ProcessedEvent, RecipientRow, WebhookRow
from services.notification.routing import Router
from services.notification.store import NotificationStore
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.support import start_notify_platform

TYPE = ev.MeetingEvent.DESCRIPTOR.full_name


def _entry(event: ev.MeetingEvent) -> StreamEntry:
    return StreamEntry("s", "0-1", uuid.uuid4().hex, TYPE, event.SerializeToString())


@pytest.mark.parametrize("stores", ["real"], indirect=True)
async def test_events_handed_over_together_share_a_transaction_and_a_poison_one_fails_alone(
    stores: dict[str, str], keys_dir: Path, smtp: tuple[Mailbox, int]
) -> None:
    options = notification_options(smtp[1])
    # The service itself is not fed these events: only its migrated store is used.
    notify = await start_notify_platform(stores, keys_dir, options, services=("notification",))
    try:
        db = notify.runtime.database("notification")
        store = NotificationStore(db)
        host = uuid.uuid4().hex[:12]
        address = f"host-{host}@example.test"
        async with db.transaction() as session:
            session.add(
                RecipientRow(
                    user_id=host,
                    email=address,
                    display_name="H",
                    locale="en",
                    opt_outs="[]",
                    update_time=utcnow(),
                )
            )
            session.add(
                WebhookRow(
                    id=uuid.uuid4().hex,
                    owner_user_id=host,
                    url="http://127.0.0.1:9/hook",
                    event_types=json.dumps(["recording.ready"]),
                    secret="whsec_" + "QUJD" * 8,
                    create_time=utcnow(),
                )
            )

        def recording(i: int) -> StreamEntry:
            event = meeting_event(
                f"m{i}", recording_ready=ev.RecordingReady(recording=f"meetings/m{i}/recordings/r")
            )
            event.host, event.title = host, f"Meeting {i}"
            return _entry(event)

        together = [recording(i) for i in range(8)]
        batcher = EventBatcher(store, Router(options))
        assert await asyncio.gather(*(batcher.handle(e) for e in together)) == [True] * 8

        # PostgreSQL refuses to store a 300-character address: this event fails on every try.
        poison = _entry(
            meeting_event(
                "mp", invitation_created=ev.InvitationCreated(invitation="i", email="x" * 290 + "@e.test")
            )
        )
        beside = [recording(i) for i in range(8, 12)]
        results = await asyncio.gather(
            *(batcher.handle(e) for e in [*beside[:2], poison, *beside[2:]]), return_exceptions=True
        )
        assert results[:2] == [True, True] and results[3:] == [True, True]
        assert isinstance(results[2], Exception)

        good = [*together, *beside]
        keys = [e.key for e in good]
        async with db.reader() as session:
            processed = list(
                (await session.execute(select(ProcessedEvent).where(ProcessedEvent.key.in_(keys)))).scalars()
            )
            assert await session.get(ProcessedEvent, poison.key) is None
            rows = list((await session.execute(select(DeliveryRow))).scalars())
        # The 8 handed over together were recorded in one transaction (one statement, one time).
        assert len(processed) == 12
        assert len({p.create_time for p in processed if p.key in keys[:8]}) == 1
        # Each good event: one email to the host and one webhook, queued once; none for the poison.
        assert sorted((r.key.split(":")[0], r.channel) for r in rows) == sorted(
            (k, c) for k in keys for c in ("email", "webhook")
        )

        # Handed over again (a redelivery): nothing new.
        again = await asyncio.gather(*(batcher.handle(e) for e in good))
        assert again == [False] * 12
        async with db.reader() as session:
            assert len(list((await session.execute(select(DeliveryRow))).scalars())) == len(rows)
        await batcher.close()
    finally:
        await notify.close()
