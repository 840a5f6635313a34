"""A meeting's transcript as plain text or WebVTT (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .models import Segment


def _clock(ms: int, separator: str = ".") -> str:
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _offsets(segments: Sequence[Segment]) -> list[tuple[int, int]]:
    """Start and end of each segment from the first one's start, in milliseconds."""
    if not segments:
        return []
    origin: datetime = segments[0].spoken_at
    result = []
    for s in segments:
        start = int((s.spoken_at - origin).total_seconds() * 1000)
        result.append((start, start + max(s.end_ms - s.start_ms, 1)))
    return result


def to_text(segments: Sequence[Segment]) -> str:
    lines = [
        f"[{_clock(start)[:8]}] {s.participant_id}: {s.text}"
        for s, (start, _end) in zip(segments, _offsets(segments), strict=True)
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def _cue_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(segments: Sequence[Segment]) -> str:
    cues = ["WEBVTT", ""]
    for index, (s, (start, end)) in enumerate(zip(segments, _offsets(segments), strict=True), start=1):
        cues += [
            str(index),
            f"{_clock(start)} --> {_clock(end)}",
            f"<v {_cue_text(s.participant_id)}>{_cue_text(s.text)}",
            "",
        ]
    return "\n".join(cues)
