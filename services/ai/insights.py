"""A meeting's insights from its stored activities and emotion events (pure functions).

Computed in Python from one meeting's documents, the same for both results stores: FerretDB v1,
which plays MongoDB in tests and ``--stack``, lacks ``$min``/``$max`` in ``$group`` and miscounts a
second ``$sum`` in the same stage.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .inference import EMOTIONS
from .models import JOINED, LEFT, SPOKE, TRACK_PUBLISHED, Activity, AnalysisEvent

EMOTION_EVENT = "emotion"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ParticipantTotals:
    participant_id: str
    speaking_ms: int = 0
    utterances: int = 0
    joins: int = 0
    leaves: int = 0
    tracks_published: int = 0
    first_join: datetime | None = None
    last_leave: datetime | None = None


def participant_totals(activities: Iterable[Activity]) -> list[ParticipantTotals]:
    """Totals per participant, most speaking time first (then by participant id)."""
    totals: dict[str, ParticipantTotals] = {}
    for a in activities:
        t = totals.setdefault(a.participant_id, ParticipantTotals(a.participant_id))
        if a.kind == SPOKE:
            t.speaking_ms += max(a.duration_ms, 0)
            t.utterances += 1
        elif a.kind == JOINED:
            t.joins += 1
            t.first_join = a.at if t.first_join is None else min(t.first_join, a.at)
        elif a.kind == LEFT:
            t.leaves += 1
            t.last_leave = a.at if t.last_leave is None else max(t.last_leave, a.at)
        elif a.kind == TRACK_PUBLISHED:
            t.tracks_published += 1
    return sorted(totals.values(), key=lambda t: (-t.speaking_ms, t.participant_id))


def interval_start(when: datetime, interval_s: int) -> datetime:
    """The start of the ``interval_s``-wide interval (aligned to the epoch) that holds ``when``."""
    seconds = int((when - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % interval_s)


def emotion_timeline(events: Iterable[AnalysisEvent], interval_s: int) -> list[tuple[datetime, Counter[str]]]:
    """Faces per emotion in each interval that has any, oldest first. An event is one analysed
    frame (payload ``{"faces": [{"emotion": "happy", ...}, ...]}``); unknown emotions are skipped."""
    buckets: dict[datetime, Counter[str]] = {}
    for event in events:
        if event.kind != EMOTION_EVENT:
            continue
        try:
            faces = json.loads(event.payload).get("faces", [])
        except (ValueError, AttributeError):
            continue
        names = [f.get("emotion") for f in faces if isinstance(f, dict)]
        known = [n for n in names if n in EMOTIONS]
        if known:
            buckets.setdefault(interval_start(event.create_time, interval_s), Counter()).update(known)
    return sorted(buckets.items())
