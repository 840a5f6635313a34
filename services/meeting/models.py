"""Tables of the meeting service (schema ``meeting``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.outbox import outbox_table

SCHEMA = "meeting"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class MeetingRow(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_user_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    passcode_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lobby_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    capacity: Mapped[int] = mapped_column(Integer)
    # Admitted participants now; changed only by conditional updates (never above capacity).
    admitted_count: Mapped[int] = mapped_column(Integer, default=0)
    recording_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    ai_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    live_emotions: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON: {"ROLE_CO_HOST": {"publish": true, ...}, ...}
    role_grants: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("host_user_id", "request_id", name="uq_meetings_host_request"),
        Index("ix_meetings_host", "host_user_id", "create_time"),
    )


class ParticipantRow(Base):
    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    admit_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("meeting_id", "user_id", name="uq_participants_meeting_user"),
        Index("ix_participants_user", "user_id"),
        Index("ix_participants_meeting_order", "meeting_id", "create_time", "id"),
    )


class InvitationRow(Base):
    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    inviter_user_id: Mapped[str] = mapped_column(String(32))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("meeting_id", "email", name="uq_invitations_meeting_email"),
        Index("ix_invitations_email", "email"),
    )


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id", ondelete="CASCADE"))
    object_key: Mapped[str] = mapped_column(String(1024))
    media_type: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    download_uri: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The transcode job that makes the renditions ("" when transcoding is off).
    transcode_job: Mapped[str] = mapped_column(String(64), default="")
    # JSON: a list of RecordingRendition messages in proto3 JSON (their `uri` never stored).
    renditions: Mapped[str] = mapped_column(Text, default="[]")

    __table_args__ = (Index("ix_recordings_meeting", "meeting_id", "create_time"),)


class TranscriptRow(Base):
    """A meeting's transcript recorded complete by the ai service (``CompleteTranscript``): the
    row exists once per meeting, so its ``transcript_ready`` event is written once."""

    __tablename__ = "transcripts"

    meeting_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    segment_count: Mapped[int] = mapped_column(Integer)
    ready_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AttachmentRow(Base):
    """A file shared in a meeting; its bytes are in the object store under ``object_key``."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id", ondelete="CASCADE"))
    uploader_user_id: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(512))
    # "pending" until the upload is committed, then "ready".
    state: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_attachments_meeting", "meeting_id", "create_time", "id"),)


# Meeting events, written in the same transaction as the change (kit/outbox.py).
OUTBOX = outbox_table(Base.metadata, "meeting_outbox")
