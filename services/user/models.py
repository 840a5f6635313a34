"""Tables of the user service (schema ``user``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.outbox import outbox_table

SCHEMA = "user"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Lower-cased; unique.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    avatar_uri: Mapped[str] = mapped_column(String(2048), default="")
    # The object-store prefix of an uploaded avatar's thumbnails (``avatars/{user}/{id}/``), or "".
    avatar_key: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16), default="member")
    state: Mapped[str] = mapped_column(String(16), default="active")
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_users_create_time_id", "create_time", "id"),)


class PasswordResetRow(Base):
    """A password reset token, stored only as its SHA-256; spent once, expires."""

    __tablename__ = "password_resets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    expire_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Account events, written in the same transaction as the change (kit/outbox.py).
OUTBOX = outbox_table(Base.metadata, "user_outbox")
