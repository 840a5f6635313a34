"""Persistence of the notification service: processed events, the delivery queue (which is also
the delivery log and the dead-letter list), recipients and preferences, suppressions, webhooks,
push subscriptions and reminders.

Queue claims: due pending deliveries are taken by pushing their ``next_time`` one lease ahead (on
PostgreSQL under ``FOR UPDATE SKIP LOCKED``, so several workers never take the same row); a worker
that dies leaves its rows to be claimed again when the lease runs out. That lease's end is also the
claim's mark: an attempt's outcome moves the row's state only while ``next_time`` still holds it.
A row redelivered, or claimed again after its lease ran out, while an attempt was under way keeps
its new state; the late outcome is still counted (attempts, last status).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import Database
from services.kit.db import keyset
from services.kit.timestamps import utcnow

from .models import (
    DeliveryRow,
    ProcessedEvent,
    PushSubscriptionRow,
    RecipientRow,
    ReminderRow,
    SuppressionRow,
    WebhookRow,
)

PENDING, SENT, DEAD, CANCELLED = "pending", "sent", "dead", "cancelled"


@dataclass
class Claim:
    """Deliveries claimed together, and the end of their lease (their ``next_time`` while held)."""

    rows: list[DeliveryRow]
    held_until: datetime


def new_id() -> str:
    return uuid.uuid4().hex


def delivery(
    key: str,
    channel: str,
    kind: str,
    address: str,
    payload: dict[str, Any],
    *,
    user_id: str = "",
    locale: str = "",
    due: datetime | None = None,
) -> DeliveryRow:
    now = utcnow()
    return DeliveryRow(
        id=new_id(),
        key=key[:200],
        channel=channel,
        kind=kind,
        address=address,
        user_id=user_id,
        locale=locale,
        payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        state=PENDING,
        attempts=0,
        next_time=due or now,
        last_status=0,
        last_latency_s=0.0,
        last_error="",
        create_time=now,
        update_time=now,
    )


@dataclass
class Lookups:
    """Recipients, suppressions and webhooks of a batch of claimed deliveries."""

    recipients: dict[str, RecipientRow] = field(default_factory=dict)
    by_email: dict[str, RecipientRow] = field(default_factory=dict)
    # address -> [(kind, reason)]
    suppressions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    webhooks: dict[str, WebhookRow] = field(default_factory=dict)

    def suppressed(self, address: str, kind: str) -> str | None:
        """Why ``address`` gets no ``kind`` messages, or None (as ``NotificationStore.suppressed``)."""
        for suppressed_kind, reason in self.suppressions.get(address, []):
            if suppressed_kind in (kind, "*"):
                return reason
        return None


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._statements: dict[str, str] = {}

    def _sql(self, name: str) -> str:
        """The hand-written PostgreSQL statements of the hot paths, in this database's schema."""
        if not self._statements:
            table = f'"{self.db.schema}".deliveries'
            schema = f'"{self.db.schema}"'
            self._statements = {
                # The queue's lookups for a claimed batch.
                "recipients": f"""
                    SELECT user_id, email, display_name, locale, opt_outs, update_time
                    FROM {schema}.recipients
                    WHERE user_id = ANY($1::text[]) OR email = ANY($2::text[])""",  # noqa: S608 (the schema name only)
                "suppressions": f"""
                    SELECT address, kind, reason FROM {schema}.suppressions
                    WHERE address = ANY($1::text[])""",  # noqa: S608 (the schema name only)
                "webhooks": f"""
                    SELECT id, owner_user_id, url, event_types, description, secret, previous_secret,
                        previous_secret_expire_time, owner_is_admin, create_time
                    FROM {schema}.webhooks WHERE id = ANY($1::text[])""",  # noqa: S608 (the schema name only)
                # Due pending rows, oldest first, skipping those another worker holds; their lease
                # moves ahead in the same statement. $1 now, $2 the lease's end, $3 how many.
                "claim": f"""
                    WITH due AS (
                        SELECT id, next_time FROM {table}
                        WHERE state = 'pending' AND next_time <= $1
                        ORDER BY next_time LIMIT $3 FOR UPDATE SKIP LOCKED
                    )
                    UPDATE {table} AS d SET next_time = $2 FROM due WHERE d.id = due.id
                    RETURNING d.id, d.key, d.channel, d.kind, d.address, d.user_id, d.locale,
                        d.payload, d.state, d.attempts, due.next_time AS due_time, d.last_status,
                        d.last_latency_s, d.last_error, d.create_time, d.update_time""",  # noqa: S608 (the schema name only)
                # $1 now, $2 ids, $3 the ends of their claims' leases, $4 status codes, $5 latencies.
                # The state moves only where the claim still holds the row (see the module's doc).
                "finish_sent": f"""
                    UPDATE {table} AS d SET
                        state = CASE WHEN d.next_time = o.held THEN 'sent' ELSE d.state END,
                        update_time = $1, last_error = '', attempts = d.attempts + 1,
                        last_status = o.status, last_latency_s = o.latency
                    FROM unnest($2::text[], $3::timestamptz[], $4::int[], $5::float8[])
                        AS o(id, held, status, latency)
                    WHERE d.id = o.id""",  # noqa: S608 (the schema name only)
            }
        return self._statements[name]

    # -- events: the effect and the processed key in one transaction ----------------------------
    async def consume(self, key: str, effect: Callable[[AsyncSession], Awaitable[None]]) -> bool:
        """Run ``effect`` and record ``key`` in one transaction; False (nothing done) when the key
        was processed before."""
        try:
            async with self.db.transaction() as session:
                session.add(ProcessedEvent(key=key[:64], create_time=utcnow()))
                await session.flush()  # a processed key fails here, before any effect
                await effect(session)
        except IntegrityError:
            if await self.processed(key):
                return False
            raise
        return True

    async def consume_many(
        self, keys: list[str], effect: Callable[[AsyncSession, set[str]], Awaitable[None]]
    ) -> set[str]:
        """Record ``keys`` and run ``effect`` for those not processed before, in one transaction
        (one statement records them all); returns the new keys (as given, at most 64 characters)."""
        insert = sqlite_insert if self.db.sqlite else pg_insert
        now = utcnow()
        unique = list(dict.fromkeys(k[:64] for k in keys))
        async with self.db.transaction() as session:
            statement = (
                insert(ProcessedEvent)
                .values([{"key": k, "create_time": now} for k in unique])
                .on_conflict_do_nothing()
                .returning(ProcessedEvent.key)
            )
            new = set((await session.execute(statement)).scalars())
            if new:
                await effect(session, new)
        return new

    async def processed(self, key: str) -> bool:
        async with self.db.reader() as session:
            return await session.get(ProcessedEvent, key[:64]) is not None

    # -- the queue -------------------------------------------------------------------------------
    async def enqueue(self, row: DeliveryRow) -> DeliveryRow:
        """Queue one delivery; with its key already queued, the existing one."""
        try:
            async with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            existing = await self.by_key(row.key)
            if existing is None:
                raise
            return existing
        return row

    async def by_key(self, key: str) -> DeliveryRow | None:
        async with self.db.reader() as session:
            return (
                await session.execute(select(DeliveryRow).where(DeliveryRow.key == key))
            ).scalar_one_or_none()

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        async with self.db.reader() as session:
            return await session.get(DeliveryRow, delivery_id)

    async def claim(self, limit: int, lease: timedelta) -> Claim:
        """Up to ``limit`` due pending deliveries, held for ``lease``; the rows' ``next_time`` is
        as it was before the claim moved it."""
        now = utcnow()
        held_until = now + lease
        if not self.db.sqlite:
            # One autocommit statement, one round trip (the ORM's took four: BEGIN, SELECT ...
            # FOR UPDATE, UPDATE, COMMIT); the queue runs it after every kick.
            pool = await self.db.pg()
            records = await pool.fetch(self._sql("claim"), now, held_until, limit)
            rows = []
            for record in sorted(records, key=lambda r: r["due_time"]):
                values = dict(record)
                # As the ORM path gives them: next_time as it was before the lease moved it.
                values["next_time"] = values.pop("due_time")
                rows.append(DeliveryRow(**values))
            return Claim(rows, held_until)
        query = (
            select(DeliveryRow)
            .where(DeliveryRow.state == PENDING, DeliveryRow.next_time <= now)
            .order_by(DeliveryRow.next_time)
            .limit(limit)
        )
        async with self.db.transaction() as session:
            rows = list((await session.execute(query)).scalars())
            if rows:  # one statement for the batch
                await session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_([r.id for r in rows]))
                    .values(next_time=held_until)
                    .execution_options(synchronize_session=False)
                )
        return Claim(rows, held_until)

    async def finish(
        self,
        delivery_id: str,
        held_until: datetime,
        *,
        state: str,
        attempted: bool,
        status: int = 0,
        latency_s: float = 0.0,
        error: str = "",
        next_time: datetime | None = None,
    ) -> None:
        """Record the outcome of a delivery claimed until ``held_until``: ``state`` (pending again
        with ``next_time``, sent, dead, cancelled). Where that claim no longer holds the row
        (redelivered meanwhile, or claimed again after the lease ran out), an attempt is still
        counted but the state and ``next_time`` stay, and an outcome without an attempt changes
        nothing."""
        held = DeliveryRow.next_time == held_until
        values: dict[str, Any] = {"update_time": utcnow(), "last_error": error[:500]}
        query = update(DeliveryRow).where(DeliveryRow.id == delivery_id)
        if attempted:
            values.update(attempts=DeliveryRow.attempts + 1, last_status=status, last_latency_s=latency_s)
            values["state"] = case((held, state), else_=DeliveryRow.state)
            if next_time is not None:
                values["next_time"] = case((held, next_time), else_=DeliveryRow.next_time)
        else:
            query = query.where(held)
            values["state"] = state
            if next_time is not None:
                values["next_time"] = next_time
        async with self.db.transaction() as session:
            # Every SET expression reads the row as it was, so ``held`` means the same in each.
            await session.execute(query.values(**values))

    async def finish_sent(self, outcomes: list[tuple[str, datetime, int, float]]) -> None:
        """Record many deliveries sent, in one statement: ``(delivery id, the end of its claim's
        lease, status, latency_s)`` each; as ``finish`` does, a row its claim no longer holds
        counts the attempt and keeps its state."""
        if not self.db.sqlite:  # one autocommit statement over arrays, one round trip
            pool = await self.db.pg()
            ids, held, statuses, latencies = (list(column) for column in zip(*outcomes, strict=True))
            await pool.execute(self._sql("finish_sent"), utcnow(), ids, held, statuses, latencies)
            return
        statement = (
            update(DeliveryRow)
            .where(DeliveryRow.id == bindparam("b_id"))
            .values(
                state=case((DeliveryRow.next_time == bindparam("b_held"), SENT), else_=DeliveryRow.state),
                update_time=bindparam("b_now"),
                last_error="",
                attempts=DeliveryRow.attempts + 1,
                last_status=bindparam("b_status"),
                last_latency_s=bindparam("b_latency"),
            )
        )
        now = utcnow()
        params = [
            {"b_id": i, "b_held": held, "b_now": now, "b_status": s, "b_latency": lat}
            for i, held, s, lat in outcomes
        ]
        async with self.db.transaction() as session:
            await (await session.connection()).execute(statement, params)

    async def lookups(self, rows: list[DeliveryRow]) -> Lookups:
        """What sending ``rows`` needs to know (recipients, suppressions, webhooks), read at once:
        one query for each that any row needs."""
        found = Lookups()
        user_ids = {r.user_id for r in rows if r.user_id and r.channel != "webhook"}
        # An email routed before its user's address was known has none yet (queue.py asks).
        emails = {r.address for r in rows if r.channel == "email" and r.address}
        addresses = {r.address for r in rows if r.channel != "webhook" and r.address}
        hooks = {r.address for r in rows if r.channel == "webhook"}
        if not self.db.sqlite:  # hand-written, on one connection: no ORM on the hot path
            pool = await self.db.pg()
            async with pool.acquire() as conn:
                if user_ids or emails:
                    records = await conn.fetch(self._sql("recipients"), list(user_ids), list(emails))
                    for record in records:
                        recipient = RecipientRow(**dict(record))
                        if recipient.user_id in user_ids:
                            found.recipients[recipient.user_id] = recipient
                        if recipient.email in emails:
                            found.by_email.setdefault(recipient.email, recipient)
                if addresses:
                    for record in await conn.fetch(self._sql("suppressions"), list(addresses)):
                        found.suppressions.setdefault(record["address"], []).append(
                            (record["kind"], record["reason"])
                        )
                if hooks:
                    records = await conn.fetch(self._sql("webhooks"), list(hooks))
                    found.webhooks = {r["id"]: WebhookRow(**dict(r)) for r in records}
            return found
        async with self.db.reader() as session:
            if user_ids or emails:
                query = select(RecipientRow).where(
                    RecipientRow.user_id.in_(user_ids) | RecipientRow.email.in_(emails)
                )
                for recipient in (await session.execute(query)).scalars():
                    if recipient.user_id in user_ids:
                        found.recipients[recipient.user_id] = recipient
                    if recipient.email in emails:
                        found.by_email.setdefault(recipient.email, recipient)
            if addresses:
                suppressions = select(SuppressionRow).where(SuppressionRow.address.in_(addresses))
                for suppression in (await session.execute(suppressions)).scalars():
                    found.suppressions.setdefault(suppression.address, []).append(
                        (suppression.kind, suppression.reason)
                    )
            if hooks:
                webhooks = select(WebhookRow).where(WebhookRow.id.in_(hooks))
                found.webhooks = {w.id: w for w in (await session.execute(webhooks)).scalars()}
        return found

    async def redeliver(self, delivery_id: str) -> DeliveryRow | None:
        async with self.db.transaction() as session:
            row = await session.get(DeliveryRow, delivery_id, with_for_update=not self.db.sqlite)
            if row is not None:
                row.state = PENDING
                row.next_time = utcnow()
                row.update_time = utcnow()
        return row

    async def deliveries_to(
        self, address: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[DeliveryRow]:
        query = keyset(
            select(DeliveryRow).where(DeliveryRow.address == address),
            DeliveryRow.create_time,
            DeliveryRow.id,
            after,
            limit,
            newest_first=True,
        )
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    async def count(self, state: str | None = None) -> int:
        from sqlalchemy import func

        query = select(func.count()).select_from(DeliveryRow)
        if state is not None:
            query = query.where(DeliveryRow.state == state)
        async with self.db.reader() as session:
            return int((await session.execute(query)).scalar() or 0)

    # -- recipients and preferences --------------------------------------------------------------
    async def recipient(self, user_id: str) -> RecipientRow | None:
        async with self.db.reader() as session:
            return await session.get(RecipientRow, user_id)

    async def recipient_by_email(self, email: str) -> RecipientRow | None:
        async with self.db.reader() as session:
            query = select(RecipientRow).where(RecipientRow.email == email).limit(1)
            return (await session.execute(query)).scalar_one_or_none()

    async def save_preferences(self, user_id: str, values: dict[str, Any]) -> RecipientRow:
        try:
            return await self._save_preferences(user_id, values)
        except IntegrityError:  # the user's first event created the row meanwhile
            return await self._save_preferences(user_id, values)

    async def _save_preferences(self, user_id: str, values: dict[str, Any]) -> RecipientRow:
        async with self.db.transaction() as session:
            row = await session.get(RecipientRow, user_id, with_for_update=not self.db.sqlite)
            if row is None:
                row = RecipientRow(user_id=user_id, email="", display_name="", locale="", opt_outs="[]")
                session.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.update_time = utcnow()
        return row

    async def remember(self, user_id: str, email: str, display_name: str) -> RecipientRow:
        """Store what the user directory said of a user not heard of through events yet. What the
        user's events said stays (they are the record; a directory answer only fills gaps)."""
        try:
            return await self._remember(user_id, email, display_name)
        except IntegrityError:  # the user's first event or preferences created the row meanwhile
            return await self._remember(user_id, email, display_name)

    async def _remember(self, user_id: str, email: str, display_name: str) -> RecipientRow:
        async with self.db.transaction() as session:
            row = await session.get(RecipientRow, user_id, with_for_update=not self.db.sqlite)
            if row is None:
                row = RecipientRow(user_id=user_id, email="", display_name="", locale="", opt_outs="[]")
                session.add(row)
            row.email = row.email or email
            row.display_name = row.display_name or display_name
            row.update_time = utcnow()
        return row

    async def set_address(self, delivery_id: str, address: str) -> None:
        """A delivery routed to a user whose address was not known then gets it."""
        async with self.db.transaction() as session:
            await session.execute(
                update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(address=address)
            )

    # -- suppressions ----------------------------------------------------------------------------
    async def suppress(self, address: str, kind: str, reason: str) -> None:
        try:
            async with self.db.transaction() as session:
                session.add(SuppressionRow(address=address, kind=kind, reason=reason, create_time=utcnow()))
        except IntegrityError:
            pass  # already suppressed

    async def suppressions(self, address: str) -> list[tuple[str, str]]:
        """Every (kind, reason) ``address`` is suppressed for."""
        async with self.db.reader() as session:
            query = select(SuppressionRow.kind, SuppressionRow.reason).where(
                SuppressionRow.address == address
            )
            return [(kind, reason) for kind, reason in (await session.execute(query)).all()]

    async def suppressed(self, address: str, kind: str) -> str | None:
        """Why ``address`` gets no ``kind`` messages (``bounce``, ``unsubscribe``), or None."""
        async with self.db.reader() as session:
            query = select(SuppressionRow.reason).where(
                SuppressionRow.address == address, SuppressionRow.kind.in_((kind, "*"))
            )
            return (await session.execute(query.limit(1))).scalar_one_or_none()

    # -- webhooks --------------------------------------------------------------------------------
    async def add_webhook(self, row: WebhookRow) -> WebhookRow:
        async with self.db.transaction() as session:
            session.add(row)
        return row

    async def webhook(self, webhook_id: str) -> WebhookRow | None:
        async with self.db.reader() as session:
            return await session.get(WebhookRow, webhook_id)

    async def webhooks_page(
        self, owner: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[WebhookRow]:
        query = select(WebhookRow)
        if owner is not None:
            query = query.where(WebhookRow.owner_user_id == owner)
        query = keyset(query, WebhookRow.create_time, WebhookRow.id, after, limit, newest_first=True)
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    async def update_webhook(self, webhook_id: str, **values: Any) -> WebhookRow | None:
        async with self.db.transaction() as session:
            row = await session.get(WebhookRow, webhook_id, with_for_update=not self.db.sqlite)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)
        return row

    async def delete_webhook(self, webhook_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.address == webhook_id, DeliveryRow.state == PENDING)
                .values(state=CANCELLED, last_error="webhook deleted", update_time=utcnow())
            )

    # -- push subscriptions ----------------------------------------------------------------------
    async def add_push_subscription(self, user_id: str, endpoint: str, p256dh: str, auth: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(PushSubscriptionRow).where(
                    PushSubscriptionRow.user_id == user_id, PushSubscriptionRow.endpoint == endpoint
                )
            )
            session.add(
                PushSubscriptionRow(
                    id=new_id(),
                    user_id=user_id,
                    endpoint=endpoint,
                    p256dh=p256dh,
                    auth=auth,
                    create_time=utcnow(),
                )
            )

    async def push_subscriptions_of(self, user_id: str) -> list[PushSubscriptionRow]:
        async with self.db.reader() as session:
            query = select(PushSubscriptionRow).where(PushSubscriptionRow.user_id == user_id)
            return list((await session.execute(query)).scalars())

    async def push_subscription(self, subscription_id: str) -> PushSubscriptionRow | None:
        async with self.db.reader() as session:
            return await session.get(PushSubscriptionRow, subscription_id)

    async def drop_push_subscription(self, subscription_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(PushSubscriptionRow).where(PushSubscriptionRow.id == subscription_id)
            )

    # -- reminders -------------------------------------------------------------------------------
    async def due_reminders(self, limit: int) -> list[ReminderRow]:
        async with self.db.reader() as session:
            query = (
                select(ReminderRow)
                .where(ReminderRow.done.is_(False), ReminderRow.due_time <= utcnow())
                .order_by(ReminderRow.due_time)
                .limit(limit)
            )
            return list((await session.execute(query)).scalars())

    async def fire_reminder(self, reminder: ReminderRow, row: DeliveryRow) -> bool:
        """Mark ``reminder`` done and queue ``row``, once: False when another worker did."""
        try:
            async with self.db.transaction() as session:
                done = await session.execute(
                    update(ReminderRow)
                    .where(ReminderRow.key == reminder.key, ReminderRow.done.is_(False))
                    .values(done=True)
                )
                if not done.rowcount:  # type: ignore[attr-defined]
                    return False
                session.add(row)
        except IntegrityError:
            return False
        return True
