"""Tables of the notification service (schema ``notification``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "notification"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class ProcessedEvent(Base):
    """A stream entry whose effects are committed: its key is never handled twice."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """One message to one recipient on one channel: the queue, the delivery log and the
    dead-letter list (``state``)."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The idempotency key: the event's key plus channel and recipient; unique.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # email | sms | push | webhook
    channel: Mapped[str] = mapped_column(String(16))
    # The template kind (email, sms, push) or the event type (webhook).
    kind: Mapped[str] = mapped_column(String(64))
    # The email address, phone number, push user id or webhook id.
    address: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[str] = mapped_column(String(32), default="")
    locale: Mapped[str] = mapped_column(String(16), default="")
    # JSON: the template's parameters, or the webhook's body.
    payload: Mapped[str] = mapped_column(Text)
    # pending | sent | dead | cancelled
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int] = mapped_column(Integer, default=0)
    last_latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_deliveries_due", "state", "next_time"),
        Index("ix_deliveries_address", "address", "create_time", "id"),
    )


class RecipientRow(Base):
    """What the service knows of a user (from user events) and their preferences."""

    __tablename__ = "recipients"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    display_name: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(16), default="")
    # JSON list of [channel, kind] pairs the user opted out of.
    opt_outs: Mapped[str] = mapped_column(Text, default="[]")
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_recipients_email", "email"),)


class SuppressionRow(Base):
    """An address that gets no more messages of ``kind`` (``*``: any, after a hard bounce)."""

    __tablename__ = "suppressions"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookRow(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_user_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    # JSON list of event types ("*" for all).
    event_types: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="")
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str] = mapped_column(String(128), default="")
    previous_secret_expire_time: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # Admin webhooks also receive platform alerts.
    owner_is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_webhooks_owner", "owner_user_id", "create_time", "id"),)


class PushSubscriptionRow(Base):
    __tablename__ = "push_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(2048))
    p256dh: Mapped[str] = mapped_column(String(256))
    auth: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("user_id", "endpoint", name="uq_push_user_endpoint"),)


class ReminderRow(Base):
    """A reminder due before a scheduled meeting; turned into a delivery once (``key`` unique)."""

    __tablename__ = "reminders"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    due_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # JSON: the reminder template's parameters.
    payload: Mapped[str] = mapped_column(Text)
    done: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_reminders_due", "done", "due_time"),)
