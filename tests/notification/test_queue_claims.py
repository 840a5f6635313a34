"""The delivery queue's claims against the real stores (PostgreSQL and the embedded SQLite): an
attempt's outcome moves a row's state only while its claim still holds the row. A delivery
redelivered, or claimed again after its lease ran out, while an attempt was under way is not
undone when that attempt ends; the attempt is still counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.kit import Database
from services.notification.store import DEAD, PENDING, SENT, NotificationStore, delivery
from services.notification.wiring import MIGRATIONS

LEASE = timedelta(seconds=60)


@pytest.fixture
async def store(stores: dict[str, str]) -> AsyncIterator[NotificationStore]:
    db = Database(stores["database_url"], "notification", schema_prefix=stores["schema_prefix"])
    await db.migrate(MIGRATIONS)
    try:
        yield NotificationStore(db)
    finally:
        if not db.sqlite:
            await db.drop_schema()
        await db.close()


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive UTC times."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _queued(store: NotificationStore, name: str) -> str:
    row = await store.enqueue(delivery(f"test:{name}", "webhook", "webhook.test", "hook-1", {"n": name}))
    return row.id


async def test_a_delivery_redelivered_while_its_attempt_is_under_way_is_sent_again(
    store: NotificationStore,
) -> None:
    delivery_id = await _queued(store, "redeliver")
    first = await store.claim(10, LEASE)
    assert [r.id for r in first.rows] == [delivery_id]
    # The receiver has the message; before the worker records it, its owner redelivers.
    again = await store.redeliver(delivery_id)
    assert again is not None and again.state == PENDING
    await store.finish_sent([(delivery_id, first.held_until, 200, 0.01)])
    row = await store.delivery(delivery_id)
    assert row is not None
    assert (row.state, row.attempts, row.last_status) == (PENDING, 1, 200)  # counted, not undone
    second = await store.claim(10, LEASE)
    assert [r.id for r in second.rows] == [delivery_id]
    assert second.held_until != first.held_until
    await store.finish_sent([(delivery_id, second.held_until, 204, 0.01)])
    row = await store.delivery(delivery_id)
    assert row is not None and (row.state, row.attempts, row.last_status) == (SENT, 2, 204)
    assert (await store.claim(10, LEASE)).rows == []


async def test_a_late_outcome_after_the_lease_ran_out_leaves_the_new_claims_state(
    store: NotificationStore,
) -> None:
    failing, skipped = await _queued(store, "late-failure"), await _queued(store, "late-skip")
    # A lease that has already run out: the rows are due again at once and another claim takes them.
    stale = await store.claim(10, timedelta(0))
    assert {r.id for r in stale.rows} == {failing, skipped}
    fresh = await store.claim(10, LEASE)
    assert {r.id for r in fresh.rows} == {failing, skipped}
    # The first worker's outcomes come late: a failure past its retries, and a skip (no attempt).
    await store.finish(failing, stale.held_until, state=DEAD, attempted=True, status=500, error="HTTP 500")
    await store.finish(skipped, stale.held_until, state="cancelled", attempted=False, error="opted out")
    rows = {r: await store.delivery(r) for r in (failing, skipped)}
    late_failure, late_skip = rows[failing], rows[skipped]
    assert late_failure is not None and late_skip is not None
    assert (late_failure.state, late_failure.attempts, late_failure.last_status) == (PENDING, 1, 500)
    assert _aware(late_failure.next_time) == fresh.held_until  # still held by the fresh claim
    assert (late_skip.state, late_skip.attempts, late_skip.last_error) == (PENDING, 0, "")
    # The fresh claim's own outcomes apply.
    retry_at = fresh.held_until - LEASE + timedelta(seconds=5)
    await store.finish(
        failing, fresh.held_until, state=PENDING, attempted=True, status=503, next_time=retry_at
    )
    await store.finish(skipped, fresh.held_until, state="cancelled", attempted=False, error="opted out")
    rows = {r: await store.delivery(r) for r in (failing, skipped)}
    retried, cancelled = rows[failing], rows[skipped]
    assert retried is not None and cancelled is not None
    assert (retried.state, retried.attempts, retried.last_status) == (PENDING, 2, 503)
    assert _aware(retried.next_time) == retry_at
    assert (cancelled.state, cancelled.last_error) == ("cancelled", "opted out")
