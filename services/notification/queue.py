"""The one queue every message goes through: claims due deliveries, sends each on its channel,
retries with backoff and moves what keeps failing to the dead-letter list (state ``dead``).

* Email, SMS and push: exponential backoff (``retry_base_s * 2**attempt``, capped at
  ``retry_max_s``) for ``max_attempts``; a permanent failure (an SMTP 5xx bounce) is dead at once
  and the address is suppressed.
* Webhooks: ``webhook_retry_schedule_s`` (about a day), then dead.
* At most ``concurrency`` deliveries in flight and ``per_endpoint_concurrency`` per webhook, each
  bounded by its timeout, so a slow or silent endpoint never holds up the others.
* Per-recipient rate limits delay messages (they are not dropped); opt-outs, unsubscribes and
  bounces cancel them (never for security notices and password resets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from services.kit import TokenBucket
from services.kit.logs import get_logger
from services.kit.timestamps import utcnow

from . import unsubscribe
from .batching import GroupCommit
from .calendar import invitation_ics
from .channels import DeliveryError, Permanent
from .channels import webhooks as wh
from .channels.email import Attachment, Email, SmtpSender
from .channels.http import HttpClient
from .channels.push import PushSender
from .channels.sms import SmsProvider
from .config import NotificationOptions
from .directory import Contact, Unreachable, UserDirectory
from .models import DeliveryRow, RecipientRow
from .routing import address_key
from .store import CANCELLED, DEAD, PENDING, Lookups, NotificationStore, delivery
from .templates import MANDATORY, pick_locale, render

log = get_logger("meetmesh.notification.queue")


class Skip(Exception):
    """Not sent, on purpose (opted out, unsubscribed, bounced before, webhook gone)."""


class Later(Exception):
    """Not sent yet (rate limit): try again after ``delay_s`` without counting an attempt."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"rate limited for {delay_s:.1f}s")
        self.delay_s = delay_s


class DeliveryQueue:
    def __init__(
        self,
        store: NotificationStore,
        options: NotificationOptions,
        *,
        email: SmtpSender,
        sms: SmsProvider,
        push: PushSender,
        webhooks: HttpClient,
        limiter: TokenBucket,
        unsubscribe_key: bytes,
        directory: UserDirectory | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.email = email
        self.sms = sms
        self.push = push
        self.webhooks = webhooks
        self.limiter = limiter
        self.unsubscribe_key = unsubscribe_key
        self.directory = directory
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_endpoint: dict[str, int] = defaultdict(int)
        self._loop_task: asyncio.Task[None] | None = None
        # Deliveries sent at about the same time are recorded in one transaction.
        self._sent: GroupCommit[tuple[str, datetime, int, float]] = GroupCommit(store.finish_sent)
        self._reminder_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="notification-queue")
        self._reminder_task = asyncio.create_task(self._reminders(), name="notification-reminders")

    async def stop(self) -> None:
        for task in (self._loop_task, self._reminder_task, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._loop_task, self._reminder_task, *list(self._tasks)):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._reminder_task = None
        await self._sent.close()

    def kick(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        lease = timedelta(seconds=self.options.lease_s)
        while True:
            claimed = 0
            try:
                free = self.options.concurrency - len(self._tasks)
                if free > 0:
                    claim = await self.store.claim(free, lease)
                    claimed = len(claim.rows)
                    lookups = await self.store.lookups(claim.rows) if claim.rows else Lookups()
                    for row in claim.rows:
                        task = asyncio.create_task(self._deliver(row, claim.held_until, lookups))
                        self._tasks.add(task)
                        task.add_done_callback(self._done)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("queue claim failed", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
            if claimed == 0 or len(self._tasks) >= self.options.concurrency:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_s)

    def _done(self, task: asyncio.Task[None]) -> None:
        full = len(self._tasks) >= self.options.concurrency
        self._tasks.discard(task)
        if full:
            self._wake.set()  # a slot is free (otherwise the loop claims on a kick or its poll)

    async def _reminders(self) -> None:
        """Turn due reminders into deliveries, once each (survives restarts: the rows are the schedule)."""
        while True:
            try:
                for reminder in await self.store.due_reminders(100):
                    params: dict[str, Any] = json.loads(reminder.payload)
                    user_id = params.pop("user_id", "")
                    row = delivery(
                        f"{reminder.key}:email:{address_key(reminder.address)}",
                        "email",
                        "reminder",
                        reminder.address,
                        params,
                        user_id=user_id,
                    )
                    if await self.store.fire_reminder(reminder, row):
                        self.kick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reminder scan failed", extra={"error": repr(exc)})
            await asyncio.sleep(max(self.options.poll_s * 5, 0.5))

    # -- one delivery ----------------------------------------------------------------------------
    def backoff_s(self, row: DeliveryRow) -> float | None:
        """Seconds until the next attempt after ``row.attempts + 1`` failures; None: no more."""
        attempt = row.attempts + 1
        if row.channel == "webhook":
            schedule = self.options.webhook_retry_schedule_s
            return schedule[attempt - 1] if attempt <= len(schedule) else None
        if attempt >= self.options.max_attempts:
            return None
        return float(min(self.options.retry_base_s * 2 ** (attempt - 1), self.options.retry_max_s))

    async def _deliver(self, row: DeliveryRow, held_until: datetime, lookups: Lookups) -> None:
        endpoint = row.address if row.channel == "webhook" else ""
        if endpoint and self._per_endpoint[endpoint] >= self.options.per_endpoint_concurrency:
            # That endpoint is busy: put this one back for a moment, without an attempt.
            await self.store.finish(row.id, held_until, state=PENDING, attempted=False, next_time=_after(0.2))
            return
        if endpoint:
            self._per_endpoint[endpoint] += 1
        started = time.perf_counter()
        try:
            status = await self._send(row, lookups)
        except Skip as exc:
            await self.store.finish(row.id, held_until, state=CANCELLED, attempted=False, error=str(exc))
        except Later as exc:
            await self.store.finish(
                row.id, held_until, state=PENDING, attempted=False, next_time=_after(exc.delay_s)
            )
        except DeliveryError as exc:
            latency = time.perf_counter() - started
            delay = None if isinstance(exc, Permanent) else self.backoff_s(row)
            if isinstance(exc, Permanent) and row.channel == "email" and exc.status:
                # A bounce (the server's 5xx); not a message we refused to build (status 0).
                await self.store.suppress(row.address, "*", "bounce")
            if isinstance(exc, Permanent) and row.channel == "push":
                await self.store.drop_push_subscription(row.address)
            await self.store.finish(
                row.id,
                held_until,
                state=DEAD if delay is None else PENDING,
                attempted=True,
                status=exc.status,
                latency_s=latency,
                error=str(exc),
                next_time=None if delay is None else _after(delay),
            )
            log.info(
                "delivery failed",
                extra={"delivery": row.id, "channel": row.channel, "dead": delay is None, "error": str(exc)},
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a store outage: retry like a transient failure
            log.exception("delivery crashed", extra={"delivery": row.id})
            delay = self.backoff_s(row)
            with contextlib.suppress(Exception):
                await self.store.finish(
                    row.id,
                    held_until,
                    state=DEAD if delay is None else PENDING,
                    attempted=True,
                    error=type(exc).__name__,
                    next_time=None if delay is None else _after(delay),
                )
        else:
            await self._sent.record((row.id, held_until, status, time.perf_counter() - started))
        finally:
            if endpoint:
                self._per_endpoint[endpoint] -= 1

    async def _send(self, row: DeliveryRow, lookups: Lookups) -> int:
        payload: dict[str, Any] = json.loads(row.payload)
        if row.channel == "webhook":
            return await self._webhook(row, payload, lookups)
        mandatory = row.kind in MANDATORY
        recipient = await self._recipient(row, lookups)
        if not mandatory:
            if recipient is not None and _opted_out(recipient.opt_outs, row.channel, row.kind):
                raise Skip("opted out")
            reason = lookups.suppressed(row.address, row.kind)
            if reason is not None:
                raise Skip(reason)
        elif row.channel == "email" and lookups.suppressed(row.address, "*") == "bounce":
            raise Skip("bounce")
        allowed, wait_s = await self.limiter.take(address_key(row.address))
        if not allowed:
            raise Later(max(wait_s, 0.05))
        locale = pick_locale(row.locale, recipient.locale if recipient is not None else "")
        if row.channel == "email":
            await self._email(row, payload, locale, mandatory)
            return 250
        rendered = render(row.kind, locale, payload)
        if row.channel == "sms":
            await self.sms.send(row.address, f"{rendered.subject}\n{rendered.text}".strip(), row.id)
            return 201
        if row.channel == "push":
            sub = await self.store.push_subscription(row.address)
            if sub is None:
                raise Skip("push subscription gone")
            data = json.dumps(
                {
                    "title": rendered.subject,
                    "body": rendered.text.strip(),
                    "url": payload.get("join_url", ""),
                },
                ensure_ascii=False,
            )
            await self.push.send(sub.endpoint, sub.p256dh, sub.auth, data)
            return 201
        raise Permanent(f"unknown channel {row.channel!r}")

    async def _recipient(self, row: DeliveryRow, lookups: Lookups) -> RecipientRow | None:
        """Who ``row`` goes to, as far as the service knows; for an email whose user it has not
        heard of through events, asked of the user service (directory.py) and remembered."""
        recipient = lookups.recipients.get(row.user_id) if row.user_id else None
        if recipient is None and row.channel == "email" and row.address:
            # An address that became a known user's after the event was routed.
            recipient = lookups.by_email.get(row.address)
        if row.channel != "email":
            return recipient
        if not row.address:  # routed to a user (a meeting's host) whose address was not known
            if recipient is None or not recipient.email:
                if self.directory is None:
                    raise Skip("the recipient's address is unknown")
                contact = await self._ask(self.directory.by_id(row.user_id))
                if contact is None or not contact.email:
                    raise Skip("no such user")
                recipient = await self.store.remember(contact.user_id, contact.email, contact.display_name)
            row.address = recipient.email
            await self.store.set_address(row.id, row.address)
            # The batch's suppressions were read without this address.
            lookups.suppressions[row.address] = await self.store.suppressions(row.address)
        elif recipient is None and row.kind in ("invitation", "reminder") and self.directory is not None:
            # Perhaps a user whose events have not arrived: their locale and opt-outs apply. The
            # address is known, so an unreachable user service does not hold the message up.
            try:
                contact = await self.directory.by_email(row.address)
            except Unreachable:
                contact = None
            if contact is not None:
                recipient = await self.store.remember(contact.user_id, contact.email, contact.display_name)
        return recipient

    async def _ask(self, lookup: Awaitable[Contact | None]) -> Contact | None:
        try:
            return await lookup
        except Unreachable as exc:
            log.warning("user service unreachable; message waits", extra={"error": str(exc)})
            # Not an attempt: the message is fine, the user service is not; it waits, never dies.
            raise Later(min(self.options.retry_base_s * 4, self.options.retry_max_s)) from None

    async def _email(self, row: DeliveryRow, payload: dict[str, Any], locale: str, mandatory: bool) -> None:
        unsubscribe_url = ""
        if not mandatory:
            token = unsubscribe.make_token(self.unsubscribe_key, row.address, row.kind)
            unsubscribe_url = f"{self.options.unsubscribe_base_url.rstrip('/')}/unsubscribe?token={token}"
        rendered = render(row.kind, locale, {**payload, "unsubscribe_url": unsubscribe_url})
        attachments: list[Attachment] = []
        if row.kind in ("invitation", "reminder") and payload.get("start_iso"):
            from datetime import datetime

            end_iso = payload.get("end_iso") or ""
            ics = invitation_ics(
                uid=str(payload.get("uid") or f"{row.id}@meetmesh"),
                title=str(payload.get("title", "")),
                description=str(payload.get("description", "")),
                url=str(payload.get("join_url", "")),
                start=datetime.fromisoformat(payload["start_iso"]),
                end=datetime.fromisoformat(end_iso) if end_iso else None,
                attendee_email=row.address,
            )
            attachments.append(Attachment("invite.ics", "text/calendar", ics, {"method": "REQUEST"}))
        await self.email.send(
            Email(
                to=row.address,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=f"<{row.id}@meetmesh>",
                attachments=attachments,
                unsubscribe_url=unsubscribe_url,
            )
        )

    async def _webhook(self, row: DeliveryRow, payload: dict[str, Any], lookups: Lookups) -> int:
        hook = lookups.webhooks.get(row.address)
        if hook is None:
            raise Skip("webhook deleted")
        signing = [hook.secret]
        expire = hook.previous_secret_expire_time
        if hook.previous_secret and expire is not None and _aware(expire) > utcnow():
            signing.append(hook.previous_secret)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return await wh.post(self.webhooks, hook.url, body, signing, f"msg_{row.id}")


def _opted_out(opt_outs: str, channel: str, kind: str) -> bool:
    for entry_channel, entry_kind in json.loads(opt_outs or "[]"):
        if entry_channel == channel and entry_kind in (kind, "*"):
            return True
    return False


def _after(seconds: float) -> Any:
    return utcnow() + timedelta(seconds=seconds)


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
