"""Results of the ai service: domain types and their tables (schema ``ai``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "ai"


@dataclass(frozen=True)
class Segment:
    """A final caption: one utterance of one participant."""

    id: str
    meeting_id: str
    participant_id: str
    spoken_at: datetime  # wall-clock start of the utterance
    start_ms: int  # from the start of the participant's stream
    end_ms: int
    text: str
    synthetic_score: float


@dataclass(frozen=True)
class AnalysisEvent:
    """Any other result worth keeping (emotions of a frame, a synthetic-voice alert)."""

    id: str
    meeting_id: str
    participant_id: str
    kind: str
    payload: str  # JSON
    create_time: datetime


# What an activity records (see ``Activity``).
JOINED = "joined"
LEFT = "left"
TRACK_PUBLISHED = "track_published"
SPOKE = "spoke"
ACTIVITY_KINDS = (JOINED, LEFT, TRACK_PUBLISHED, SPOKE)


@dataclass(frozen=True)
class Activity:
    """One thing a participant did in a meeting, for the meeting's analytics: joined or left the
    room, published a track, or spoke (one utterance, ``duration_ms`` long)."""

    id: str
    meeting_id: str
    participant_id: str
    kind: str  # one of ACTIVITY_KINDS
    at: datetime
    duration_ms: int = 0  # SPOKE: the utterance's length
    detail: str = ""  # TRACK_PUBLISHED: "audio" or "video"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class SegmentRow(Base):
    __tablename__ = "transcript_segments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    spoken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    synthetic_score: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_segments_meeting_spoken", "meeting_id", "spoken_at", "id"),)


class EventRow(Base):
    __tablename__ = "analysis_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_events_meeting_time", "meeting_id", "create_time"),)


class ActivityRow(Base):
    __tablename__ = "meeting_activities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_activities_meeting_at", "meeting_id", "at", "id"),)
