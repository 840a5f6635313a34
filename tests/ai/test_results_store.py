"""The results store, on both implementations: MongoDB (FerretDB, started for the session) as in
production and --stack, and the relational store of the embedded default (SQLite).

Written, queried by meeting a page at a time, exported, and deleted with the meeting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.ai.models import JOINED, SPOKE, TRACK_PUBLISHED, Activity, AnalysisEvent, Segment
from services.ai.store import MongoResultsStore, RelationalResultsStore, ResultsStore
from services.ai.transcript import to_text, to_webvtt
from services.ai.wiring import MIGRATIONS
from services.kit import Database, InvalidArgument

ORIGIN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["mongodb", "relational"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, mongo_database: str
) -> AsyncIterator[ResultsStore]:
    results: ResultsStore
    db: Database | None = None
    if request.param == "mongodb":
        results = MongoResultsStore(mongo_url, mongo_database)
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/ai.db", "ai")
        results = RelationalResultsStore(db, MIGRATIONS)
    await results.start()
    await results.start()  # idempotent: a restarted service prepares the store again
    try:
        yield results
    finally:
        await results.close()
        if db is not None:
            await db.close()


def segment(meeting: str, second: int, text: str, participant: str = "p1") -> Segment:
    return Segment(
        uuid.uuid4().hex,
        meeting,
        participant,
        ORIGIN + timedelta(seconds=second),
        second * 1000,
        second * 1000 + 1500,
        text,
        0.1,
    )


async def test_segments_are_paged_by_meeting_in_spoken_order_and_export(store: ResultsStore) -> None:
    meeting, other = uuid.uuid4().hex, uuid.uuid4().hex
    texts = ["first", "second", "third", "fourth", "fifth"]
    # written out of order, and with another meeting's segment in between
    for second, text in [(4, "fifth"), (0, "first"), (2, "third"), (1, "second"), (3, "fourth")]:
        await store.add_segment(segment(meeting, second, text))
    await store.add_segment(segment(other, 2, "elsewhere"))

    seen: list[Segment] = []
    token = ""
    pages = 0
    while True:
        page, token = await store.list_segments(meeting, 2, token)
        seen += page
        pages += 1
        if not token:
            break
    assert pages == 3
    assert [s.text for s in seen] == texts
    # What transcript completion counts (completion.py): this meeting's segments only.
    assert await store.count_segments(meeting) == 5
    assert await store.count_segments(uuid.uuid4().hex) == 0
    assert all(s.spoken_at.tzinfo is not None for s in seen)
    assert seen[0].spoken_at == ORIGIN

    assert to_text(seen).splitlines()[1] == "[00:00:01] p1: second"
    vtt = to_webvtt(seen)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\n<v p1>first\n")
    assert vtt.count(" --> ") == 5

    with pytest.raises(InvalidArgument):
        await store.list_segments(meeting, 2, "not-a-token")
    _first, token = await store.list_segments(meeting, 2, "")
    with pytest.raises(InvalidArgument):  # a token of one meeting is no good for another
        await store.list_segments(other, 2, token)

    await store.delete_meeting(meeting)
    assert await store.list_segments(meeting, 10, "") == ([], "")
    assert await store.count_segments(meeting) == 0 and await store.count_segments(other) == 1
    assert [s.text for s in (await store.list_segments(other, 10, ""))[0]] == ["elsewhere"]


async def test_events_are_listed_by_kind(store: ResultsStore) -> None:
    meeting = uuid.uuid4().hex
    for second, kind in [(3, "emotion"), (1, "emotion"), (2, "synthetic_voice_alert")]:
        await store.add_event(
            AnalysisEvent(
                uuid.uuid4().hex,
                meeting,
                "p1",
                kind,
                f'{{"n": {second}}}',
                ORIGIN + timedelta(seconds=second),
            )
        )
    emotions = await store.list_events(meeting, "emotion")
    assert [e.payload for e in emotions] == ['{"n": 1}', '{"n": 3}']
    assert [e.kind for e in await store.list_events(meeting, "synthetic_voice_alert")] == [
        "synthetic_voice_alert"
    ]


async def test_activities_are_paged_and_a_redelivered_one_counts_once(store: ResultsStore) -> None:
    meeting = uuid.uuid4().hex
    joined = Activity(uuid.uuid4().hex, meeting, "p1", JOINED, ORIGIN)
    activities = [
        joined,
        Activity(
            uuid.uuid4().hex, meeting, "p1", TRACK_PUBLISHED, ORIGIN + timedelta(seconds=1), detail="audio"
        ),
        Activity(uuid.uuid4().hex, meeting, "p1", SPOKE, ORIGIN + timedelta(seconds=2), duration_ms=1200),
    ]
    for activity in reversed(activities):
        await store.add_activity(activity)
    await store.add_activity(joined)  # the same event again

    first, token = await store.list_activities(meeting, 2, "")
    rest, last = await store.list_activities(meeting, 2, token)
    assert last == ""
    assert [a.kind for a in first + rest] == [JOINED, TRACK_PUBLISHED, SPOKE]
    assert first[0] == joined
    assert rest[0].duration_ms == 1200
    assert [a.id async for a in store.activities(meeting)] == [a.id for a in activities]


async def test_mongodb_indexes_are_created_once(mongo_url: str, mongo_database: str) -> None:
    store = MongoResultsStore(mongo_url, mongo_database)
    try:
        await store.start()
        await store.start()
        indexes = await store.index_names()
    finally:
        await store.close()
    assert indexes == {
        "transcript_segments": {"_id_", "meeting_spoken"},
        "analysis_events": {"_id_", "meeting_kind_time"},
        "meeting_activities": {"_id_", "meeting_time"},
    }
