"""Conversions between the ai service's domain types and its protos (pure functions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from google.protobuf import duration_pb2, timestamp_pb2

from meetmesh.ai.v1 import ai_pb2

from . import insights
from .model_admin import VersionState
from .models import JOINED, LEFT, SPOKE, TRACK_PUBLISHED, Activity, Segment

_STATES = {
    "READY": ai_pb2.MODEL_VERSION_STATE_READY,
    "LOADING": ai_pb2.MODEL_VERSION_STATE_LOADING,
    "UNLOADING": ai_pb2.MODEL_VERSION_STATE_UNLOADING,
    "UNAVAILABLE": ai_pb2.MODEL_VERSION_STATE_UNAVAILABLE,
}


def duration(ms: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def segment_message(s: Segment) -> ai_pb2.TranscriptSegment:
    return ai_pb2.TranscriptSegment(
        name=f"meetings/{s.meeting_id}/transcriptSegments/{s.id}",
        speaker=f"meetings/{s.meeting_id}/participants/{s.participant_id}",
        start_offset=duration(s.start_ms),
        end_offset=duration(s.end_ms),
        text=s.text,
        synthetic_score=s.synthetic_score,
    )


_ACTIVITY_KINDS = {
    JOINED: ai_pb2.MeetingActivity.KIND_JOINED,
    LEFT: ai_pb2.MeetingActivity.KIND_LEFT,
    TRACK_PUBLISHED: ai_pb2.MeetingActivity.KIND_TRACK_PUBLISHED,
    SPOKE: ai_pb2.MeetingActivity.KIND_SPOKE,
}


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def emotion(name: str) -> ai_pb2.Emotion:
    return cast(ai_pb2.Emotion, ai_pb2.Emotion.Value(f"EMOTION_{name.upper()}"))


def activity_message(a: Activity) -> ai_pb2.MeetingActivity:
    return ai_pb2.MeetingActivity(
        name=f"meetings/{a.meeting_id}/activities/{a.id}",
        participant=f"meetings/{a.meeting_id}/participants/{a.participant_id}",
        kind=_ACTIVITY_KINDS.get(a.kind, ai_pb2.MeetingActivity.KIND_UNSPECIFIED),
        time=timestamp(a.at),
        duration=duration(a.duration_ms) if a.kind == SPOKE else None,
        track_kind=a.detail if a.kind == TRACK_PUBLISHED else "",
    )


def participant_insights(meeting_id: str, t: insights.ParticipantTotals) -> ai_pb2.ParticipantInsights:
    return ai_pb2.ParticipantInsights(
        participant=f"meetings/{meeting_id}/participants/{t.participant_id}",
        speaking_time=duration(t.speaking_ms),
        utterance_count=t.utterances,
        join_count=t.joins,
        leave_count=t.leaves,
        published_track_count=t.tracks_published,
        first_join_time=timestamp(t.first_join) if t.first_join else None,
        last_leave_time=timestamp(t.last_leave) if t.last_leave else None,
    )


def model_message(name: str, versions: list[VersionState]) -> ai_pb2.Model:
    return ai_pb2.Model(
        name=f"models/{name}",
        versions=[
            ai_pb2.ModelVersion(
                name=f"models/{name}/versions/{v.version}",
                state=_STATES.get(v.state, ai_pb2.MODEL_VERSION_STATE_UNSPECIFIED),
                reason=v.reason,
            )
            for v in versions
        ],
    )


def mean_duration(stat: dict[str, Any], count: int) -> duration_pb2.Duration:
    ns = int(stat.get("ns", 0)) // max(count, 1)
    return duration_pb2.Duration(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)
