"""Meeting analytics: room events from signaling and utterances become activities in MongoDB
(FerretDB), summed up as insights (speaking time, presence, emotions over time); plus the pure
pieces."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from google.protobuf import duration_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.ai.v1 import ai_grpc, ai_pb2
from meetmesh.signaling.events.v1.events_pb2 import RoomMessage
from meetmesh.signaling.v1 import signaling_pb2 as sig
from meetmesh_sdk.sources import ColorVideoTrack
from services.ai.activity import ActivityRecorder
from services.ai.config import AiServiceOptions
from services.ai.insights import emotion_timeline, interval_start, participant_totals
from services.ai.models import JOINED, LEFT, SPOKE, TRACK_PUBLISHED, Activity, AnalysisEvent
from services.ai.store import MongoResultsStore
from services.kit import Runtime, create_redis, events
from services.stack import free_port
from tests.ai.conftest import AiTestSettings
from tests.rtc_helpers import Rtc, start_rtc
from tests.support import Platform, make_settings, wait_until

T0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
Kind = ai_pb2.MeetingActivity


def activity(pid: str, kind: str, second: int, duration_ms: int = 0) -> Activity:
    return Activity(uuid.uuid4().hex, "m", pid, kind, T0 + timedelta(seconds=second), duration_ms)


def test_participant_totals() -> None:
    totals = participant_totals(
        [
            activity("a", JOINED, 0),
            activity("b", JOINED, 1),
            activity("a", SPOKE, 2, 1500),
            activity("b", SPOKE, 3, 4000),
            activity("a", SPOKE, 5, 500),
            activity("a", TRACK_PUBLISHED, 6),
            activity("a", LEFT, 7),
            activity("a", JOINED, 8),
            activity("a", LEFT, 9),
        ]
    )
    assert [t.participant_id for t in totals] == ["b", "a"]  # most speaking time first
    b, a = totals
    assert (b.speaking_ms, b.utterances, b.joins, b.leaves, b.last_leave) == (4000, 1, 1, 0, None)
    assert (a.speaking_ms, a.utterances, a.joins, a.leaves, a.tracks_published) == (2000, 2, 2, 2, 1)
    assert a.first_join == T0
    assert a.last_leave == T0 + timedelta(seconds=9)


def emotion_event(second: int, *emotions: str) -> AnalysisEvent:
    payload = json.dumps({"offset_ms": 0, "faces": [{"box": [0, 0, 9, 9], "emotion": e} for e in emotions]})
    return AnalysisEvent(uuid.uuid4().hex, "m", "p", "emotion", payload, T0 + timedelta(seconds=second))


def test_emotion_timeline() -> None:
    events = [
        emotion_event(0, "happy", "neutral"),
        emotion_event(20, "happy"),
        emotion_event(70, "sad", "made-up"),
        AnalysisEvent("x", "m", "p", "emotion", "not json", T0),
    ]
    timeline = emotion_timeline(events, 60)
    assert timeline == [
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), Counter({"happy": 2, "neutral": 1})),
        (datetime(2026, 3, 2, 9, 1, tzinfo=UTC), Counter({"sad": 1})),
    ]
    assert interval_start(T0, 1) == T0
    assert interval_start(T0, 3600) == datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
async def room(
    rtc_platform_ai: Platform,
) -> AsyncIterator[Rtc]:
    env = await start_rtc(rtc_platform_ai)
    try:
        yield env
    finally:
        await env.close()


@pytest.fixture
async def rtc_platform_ai(
    keys_dir: Path, run_id: str, postgres_url: str, redis_url: str, mongo_url: str, mongo_database: str
) -> AsyncIterator[Platform]:
    """User, meeting and ai services (results on FerretDB; no inference: no Triton listens at its
    address); the test adds media and signaling."""
    stores = {
        "kind": "real",
        "database_url": postgres_url,
        "redis_url": redis_url,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    base = make_settings(stores, keys_dir).model_dump()
    base["mongo_url"] = mongo_url
    base["ai"] = AiServiceOptions(
        **base["ai"],
        manage_triton=False,
        triton_url=f"127.0.0.1:{free_port()}",
        mongo_database=mongo_database,
    )
    settings = AiTestSettings(**base)
    platform = Platform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))
    try:
        for service in ("user", "meeting", "ai"):
            await platform.start(service)
        yield platform
    finally:
        await platform.close()


async def test_room_events_and_results_become_meeting_insights(
    room: Rtc, mongo_url: str, mongo_database: str
) -> None:
    platform = room.platform
    stub = ai_grpc.AnalysisServiceStub(platform.channel("ai"))
    host = room.host
    meeting_id = room.meeting.name.split("/")[1]

    publisher = await room.bot()
    await publisher.publish(ColorVideoTrack((30, 200, 30)))
    viewer = await room.bot()
    await viewer.wait_for_track(lambda remote: True)
    await viewer.leave()

    async def timeline() -> list[ai_pb2.MeetingActivity]:
        found: list[ai_pb2.MeetingActivity] = []
        token = ""
        while True:
            page = await stub.ListMeetingActivities(
                ai_pb2.ListMeetingActivitiesRequest(parent=room.meeting.name, page_size=2, page_token=token),
                metadata=host.metadata,
            )
            found += page.meeting_activities
            token = page.next_page_token
            if not token:
                return found

    async def recorded() -> bool:
        kinds = Counter(a.kind for a in await timeline())
        return (
            kinds[Kind.KIND_JOINED] == 2
            and kinds[Kind.KIND_LEFT] == 1
            and kinds[Kind.KIND_TRACK_PUBLISHED] >= 1
        )

    try:
        await wait_until(recorded, within_s=15.0, every_s=0.2)
    except TimeoutError:
        raise AssertionError(f"recorded: {[(a.kind, a.participant) for a in await timeline()]}") from None
    activities = await timeline()
    assert [a.time.ToDatetime() for a in activities] == sorted(a.time.ToDatetime() for a in activities)
    by_kind = {a.kind: a for a in activities}
    publisher_name = by_kind[Kind.KIND_TRACK_PUBLISHED].participant
    assert by_kind[Kind.KIND_TRACK_PUBLISHED].track_kind == "video"
    viewer_name = by_kind[Kind.KIND_LEFT].participant
    assert viewer_name != publisher_name
    assert {a.participant for a in activities if a.kind == Kind.KIND_JOINED} == {publisher_name, viewer_name}
    assert all(a.name.startswith(f"{room.meeting.name}/activities/") for a in activities)

    # Utterances and emotions, as the live analysis writes them (no inference runs here).
    publisher_id = publisher_name.rsplit("/", 1)[1]
    results = MongoResultsStore(mongo_url, mongo_database)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # one emotion interval
    try:
        for second, ms in [(0, 1500), (4, 2500)]:
            await results.add_activity(
                Activity(
                    uuid.uuid4().hex, meeting_id, publisher_id, SPOKE, start + timedelta(seconds=second), ms
                )
            )
        for second, faces in [(0, ["happy", "happy"]), (1, ["neutral"])]:  # one interval
            payload = json.dumps(
                {"offset_ms": 0, "faces": [{"box": [0, 0, 1, 1], "emotion": f} for f in faces]}
            )
            await results.add_event(
                AnalysisEvent(
                    uuid.uuid4().hex,
                    meeting_id,
                    publisher_id,
                    "emotion",
                    payload,
                    start + timedelta(seconds=second),
                )
            )
    finally:
        await results.close()

    reply = await stub.GetMeetingInsights(
        ai_pb2.GetMeetingInsightsRequest(
            name=f"{room.meeting.name}/insights", emotion_interval=duration_pb2.Duration(seconds=3600)
        ),
        metadata=host.metadata,
    )
    insights = reply.insights
    assert insights.name == f"{room.meeting.name}/insights"
    assert [p.participant for p in insights.participants] == [publisher_name, viewer_name]
    talker, watcher = insights.participants
    assert talker.speaking_time.ToMilliseconds() == 4000
    assert (talker.utterance_count, talker.join_count, talker.published_track_count) == (2, 1, 1)
    assert talker.HasField("first_join_time")
    assert not talker.HasField("last_leave_time")
    assert (watcher.speaking_time.ToMilliseconds(), watcher.join_count, watcher.leave_count) == (0, 1, 1)
    assert watcher.last_leave_time.ToDatetime() >= watcher.first_join_time.ToDatetime()
    assert insights.emotion_interval.seconds == 3600
    assert len(insights.emotion_timeline) == 1
    counts = {c.emotion: c.count for c in insights.emotion_timeline[0].counts}
    assert counts == {ai_pb2.EMOTION_HAPPY: 2, ai_pb2.EMOTION_NEUTRAL: 1}

    # Bad input, and visibility: exactly like the meeting's.
    stranger = await platform.client("Stranger")
    with pytest.raises(GRPCError) as caught:
        await stub.GetMeetingInsights(
            ai_pb2.GetMeetingInsightsRequest(name=f"{room.meeting.name}/insights"), metadata=stranger.metadata
        )
    assert caught.value.status == Status.NOT_FOUND
    for bad in (
        ai_pb2.GetMeetingInsightsRequest(name=room.meeting.name),
        ai_pb2.GetMeetingInsightsRequest(
            name=f"{room.meeting.name}/insights", emotion_interval=duration_pb2.Duration(nanos=500_000_000)
        ),
        ai_pb2.GetMeetingInsightsRequest(
            name=f"{room.meeting.name}/insights", emotion_interval=duration_pb2.Duration(seconds=7200)
        ),
    ):
        with pytest.raises(GRPCError) as caught:
            await stub.GetMeetingInsights(bad, metadata=host.metadata)
        assert caught.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(GRPCError) as caught:
        await stub.ListMeetingActivities(
            ai_pb2.ListMeetingActivitiesRequest(parent=room.meeting.name, page_token="x"),
            metadata=host.metadata,
        )
    assert caught.value.status == Status.INVALID_ARGUMENT


async def test_several_ai_instances_record_a_room_event_once(
    redis_url: str, mongo_url: str, mongo_database: str
) -> None:
    prefix = f"mmtest:{uuid.uuid4().hex[:8]}"
    meeting = uuid.uuid4().hex
    store = MongoResultsStore(mongo_url, mongo_database)
    await store.start()
    clients = [create_redis(redis_url) for _ in range(3)]
    recorders = [ActivityRecorder(client, prefix, store) for client in clients[:2]]
    try:
        for recorder in recorders:
            await recorder.start()
        await wait_until(lambda: _all_listening(recorders), within_s=10)

        async def publish(change: int) -> None:
            update = sig.ParticipantUpdate(
                change=cast(sig.ParticipantUpdate.Change, change), participant=sig.Participant(id="p1")
            )
            message = RoomMessage(
                meeting=meeting, event=sig.SignalResponse(participant_update=update), skip="p1"
            )
            await clients[2].publish(events.channel_of(message, prefix), events.encode(message))

        await publish(sig.ParticipantUpdate.CHANGE_JOINED)
        await publish(sig.ParticipantUpdate.CHANGE_LEFT)

        async def both() -> bool:
            return len((await store.list_activities(meeting, 10, ""))[0]) >= 2

        await wait_until(both, within_s=10, every_s=0.1)
        activities, _ = await store.list_activities(meeting, 10, "")
        assert sorted(a.kind for a in activities) == [JOINED, LEFT]
        assert {a.participant_id for a in activities} == {"p1"}
    finally:
        for recorder in recorders:
            await recorder.stop()
        for client in clients:
            await client.aclose()
        await store.close()


async def _all_listening(recorders: list[ActivityRecorder]) -> bool:
    return all(r.listening for r in recorders)
