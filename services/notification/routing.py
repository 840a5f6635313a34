"""What is sent for each durable event: the deliveries (and reminders) an event becomes.

Runs inside the transaction that records the event's key as processed, so an event's deliveries
are queued exactly once however often the stream hands it over.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import DecodeError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetmesh.meeting.events.v1 import events_pb2 as meeting_ev
from meetmesh.user.events.v1 import events_pb2 as user_ev
from services.kit.logs import get_logger
from services.kit.outbox import StreamEntry
from services.kit.timestamps import utcnow

from .config import NotificationOptions
from .models import PushSubscriptionRow, RecipientRow, ReminderRow, WebhookRow
from .store import delivery

log = get_logger("meetmesh.notification.routing")

MEETING_EVENT = meeting_ev.MeetingEvent.DESCRIPTOR.full_name
USER_EVENT = user_ev.UserEvent.DESCRIPTOR.full_name

# MeetingEvent's oneof field -> the webhook event type.
WEBHOOK_TYPES = {
    "participant_waiting": "participant.waiting",
    "participant_admitted": "participant.joined",
    "participant_denied": "participant.denied",
    "participant_removed": "participant.removed",
    "participant_left": "participant.left",
    "meeting_ended": "meeting.ended",
    "recording_ready": "recording.ready",
    "invitation_created": "invitation.created",
    "transcript_ready": "transcript.ready",
}
# MeetingEvent's oneof field -> the email template mailed to the meeting's host.
HOST_EMAILS = {"recording_ready": "recording_ready", "transcript_ready": "transcript_ready"}
EVENT_TYPES = frozenset([*WEBHOOK_TYPES.values(), "alert.firing", "alert.resolved", "webhook.test"])


def address_key(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:20]


def when(ts: Any) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def human_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


class Router:
    def __init__(self, options: NotificationOptions) -> None:
        self.options = options

    def join_url(self, meeting: str) -> str:
        return f"{self.options.public_base_url.rstrip('/')}/?meeting={meeting}"

    async def route(self, session: AsyncSession, entry: StreamEntry) -> None:
        try:
            if entry.event_type == MEETING_EVENT:
                await self._meeting(session, entry.key, meeting_ev.MeetingEvent.FromString(entry.data))
            elif entry.event_type == USER_EVENT:
                await self._user(session, entry.key, user_ev.UserEvent.FromString(entry.data))
            else:
                log.warning("event of an unknown type skipped", extra={"type": entry.event_type})
        except DecodeError:
            log.warning("undecodable event skipped", extra={"type": entry.event_type, "key": entry.key})

    # -- meeting events --------------------------------------------------------------------------
    async def _meeting(self, session: AsyncSession, key: str, event: meeting_ev.MeetingEvent) -> None:
        which = event.WhichOneof("event")
        if which is None:
            return
        url = self.join_url(event.meeting)
        if which == "invitation_created":
            await self._invitation(session, key, event, url)
        elif which == "participant_waiting" and event.host:
            params = {"title": event.title, "join_url": url, "meeting": event.meeting}
            query = select(PushSubscriptionRow).where(PushSubscriptionRow.user_id == event.host)
            for sub in (await session.execute(query)).scalars():
                session.add(
                    delivery(
                        f"{key}:push:{sub.id}", "push", "lobby_knock", sub.id, params, user_id=event.host
                    )
                )
        elif which in HOST_EMAILS and event.host:
            host = await session.get(RecipientRow, event.host)
            params = {"title": event.title, "join_url": url}
            if which == "recording_ready":
                params["recording"] = event.recording_ready.recording
            else:
                params["transcript"] = event.transcript_ready.transcript
            # The host's user events not seen yet: no address; the queue asks the user service.
            email = host.email if host is not None else ""
            session.add(
                delivery(
                    f"{key}:email:{address_key(email) if email else 'user'}",
                    "email",
                    HOST_EMAILS[which],
                    email,
                    params,
                    user_id=event.host,
                )
            )
        await self._webhooks(session, key, event, which)

    async def _invitation(
        self, session: AsyncSession, key: str, event: meeting_ev.MeetingEvent, url: str
    ) -> None:
        created = event.invitation_created
        start, end = when(created.start_time), when(created.end_time)
        known = (
            await session.execute(select(RecipientRow).where(RecipientRow.email == created.email).limit(1))
        ).scalar_one_or_none()
        inviter = await session.get(RecipientRow, created.inviter) if created.inviter else None
        params = {
            "title": event.title,
            "description": created.description,
            # Its user events not seen yet: the name the meeting service put in the event.
            "inviter": (inviter.display_name if inviter is not None else "") or created.inviter_name,
            "start": human_time(start),
            "start_iso": start.isoformat() if start else "",
            "end_iso": end.isoformat() if end else "",
            "join_url": url,
            "uid": f"{created.invitation}@meetmesh",
        }
        user_id = known.user_id if known is not None else ""
        address = address_key(created.email)
        session.add(
            delivery(f"{key}:email:{address}", "email", "invitation", created.email, params, user_id=user_id)
        )
        if start is not None and start > utcnow():
            due = max(start - timedelta(seconds=self.options.reminder_lead_s), utcnow())
            session.add(
                ReminderRow(
                    key=f"reminder:{created.invitation}",
                    address=created.email,
                    due_time=due,
                    payload=json.dumps({**params, "user_id": user_id}, ensure_ascii=False),
                    done=False,
                )
            )

    async def _webhooks(
        self, session: AsyncSession, key: str, event: meeting_ev.MeetingEvent, which: str
    ) -> None:
        event_type = WEBHOOK_TYPES.get(which)
        if event_type is None:
            return
        data: dict[str, Any] = {"meeting": f"meetings/{event.meeting}"}
        change = getattr(event, which)
        for field in ("participant", "user", "recording", "invitation", "transcript"):
            value = getattr(change, field, "")
            if value:
                data[field] = (
                    f"meetings/{event.meeting}/participants/{value}"
                    if field == "participant"
                    else f"users/{value}"
                    if field == "user"
                    else value
                )
        body = webhook_body(event_type, event.time.ToDatetime(tzinfo=UTC), data)
        await add_webhook_deliveries(session, key, event_type, body, owner=event.host)

    # -- user events -----------------------------------------------------------------------------
    async def _user(self, session: AsyncSession, key: str, event: user_ev.UserEvent) -> None:
        recipient = await session.get(RecipientRow, event.user)
        if recipient is None:
            recipient = RecipientRow(user_id=event.user, locale="", opt_outs="[]")
            session.add(recipient)
        if event.email:
            recipient.email = event.email
        if event.display_name:
            recipient.display_name = event.display_name
        recipient.update_time = utcnow()
        which = event.WhichOneof("event")
        address = address_key(event.email)
        if which == "password_reset_requested" and event.email:
            requested = event.password_reset_requested
            params = {
                "reset_url": f"{self.options.public_base_url.rstrip('/')}/?reset_token={requested.token}",
                "expires": human_time(when(requested.expire_time)),
            }
            session.add(
                delivery(
                    f"{key}:email:{address}",
                    "email",
                    "password_reset",
                    event.email,
                    params,
                    user_id=event.user,
                )
            )
        elif which in ("refresh_token_reused", "signed_in") and event.email:
            params = {
                "notice": "new_sign_in" if which == "signed_in" else "refresh_reuse",
                "client": event.signed_in.client_address if which == "signed_in" else "",
            }
            session.add(
                delivery(
                    f"{key}:email:{address}",
                    "email",
                    "security_notice",
                    event.email,
                    params,
                    user_id=event.user,
                )
            )


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """A Standard Webhooks payload: ``type``, ``timestamp`` (RFC 3339) and ``data``."""
    return {"type": event_type, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data}


def subscribed(row: WebhookRow, event_type: str) -> bool:
    types = json.loads(row.event_types)
    return "*" in types or event_type in types


async def add_webhook_deliveries(
    session: AsyncSession, key: str, event_type: str, body: dict[str, Any], *, owner: str | None
) -> int:
    """Queue ``body`` for every webhook subscribed to ``event_type``: those of ``owner`` (the
    meeting's host) and every admin's (``owner=None``: admins' only)."""
    # Read once per transaction (a batch of events shares one: batching.py).
    rows: list[WebhookRow] | None = session.info.get("webhooks")
    if rows is None:
        rows = list((await session.execute(select(WebhookRow))).scalars())
        session.info["webhooks"] = rows
    added = 0
    for row in rows:
        if not (row.owner_is_admin or (owner and row.owner_user_id == owner)):
            continue
        if not subscribed(row, event_type):
            continue
        session.add(delivery(f"{key}:webhook:{row.id}", "webhook", event_type, row.id, body))
        added += 1
    return added
