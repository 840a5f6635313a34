"""RPC methods of the ai service: the public AnalysisService and the internal stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, cast

from google.protobuf import duration_pb2, timestamp_pb2
from grpclib.server import Stream

from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.internal.v1 import analysis_stream_pb2 as stream_pb2
from meetmesh.ai.v1 import ai_grpc, ai_pb2
from services.kit import InvalidArgument, PermissionDenied, current_principal
from services.kit.pagination import page_size

from . import insights, transcript
from .access import MeetingAccess
from .audio import SAMPLE_RATE, decode_file
from .inference import EMOTIONS, InferenceClient
from .live import LiveAnalysis, emotion_proto
from .model_admin import ModelAdmin, VersionState, parse_version_name
from .models import JOINED, LEFT, SPOKE, TRACK_PUBLISHED, Activity, Segment
from .offline import analyze_audio
from .store import ResultsStore
from .vision import analyze_faces, decode_image

_STATES = {
    "READY": ai_pb2.MODEL_VERSION_STATE_READY,
    "LOADING": ai_pb2.MODEL_VERSION_STATE_LOADING,
    "UNLOADING": ai_pb2.MODEL_VERSION_STATE_UNLOADING,
    "UNAVAILABLE": ai_pb2.MODEL_VERSION_STATE_UNAVAILABLE,
}


def _duration(ms: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def segment_message(s: Segment) -> ai_pb2.TranscriptSegment:
    return ai_pb2.TranscriptSegment(
        name=f"meetings/{s.meeting_id}/transcriptSegments/{s.id}",
        speaker=f"meetings/{s.meeting_id}/participants/{s.participant_id}",
        start_offset=_duration(s.start_ms),
        end_offset=_duration(s.end_ms),
        text=s.text,
        synthetic_score=s.synthetic_score,
    )


_ACTIVITY_KINDS = {
    JOINED: ai_pb2.MeetingActivity.KIND_JOINED,
    LEFT: ai_pb2.MeetingActivity.KIND_LEFT,
    TRACK_PUBLISHED: ai_pb2.MeetingActivity.KIND_TRACK_PUBLISHED,
    SPOKE: ai_pb2.MeetingActivity.KIND_SPOKE,
}


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _emotion(name: str) -> ai_pb2.Emotion:
    return cast(ai_pb2.Emotion, ai_pb2.Emotion.Value(f"EMOTION_{name.upper()}"))


def activity_message(a: Activity) -> ai_pb2.MeetingActivity:
    return ai_pb2.MeetingActivity(
        name=f"meetings/{a.meeting_id}/activities/{a.id}",
        participant=f"meetings/{a.meeting_id}/participants/{a.participant_id}",
        kind=_ACTIVITY_KINDS.get(a.kind, ai_pb2.MeetingActivity.KIND_UNSPECIFIED),
        time=_timestamp(a.at),
        duration=_duration(a.duration_ms) if a.kind == SPOKE else None,
        track_kind=a.detail if a.kind == TRACK_PUBLISHED else "",
    )


def participant_insights(meeting_id: str, t: insights.ParticipantTotals) -> ai_pb2.ParticipantInsights:
    return ai_pb2.ParticipantInsights(
        participant=f"meetings/{meeting_id}/participants/{t.participant_id}",
        speaking_time=_duration(t.speaking_ms),
        utterance_count=t.utterances,
        join_count=t.joins,
        leave_count=t.leaves,
        published_track_count=t.tracks_published,
        first_join_time=_timestamp(t.first_join) if t.first_join else None,
        last_leave_time=_timestamp(t.last_leave) if t.last_leave else None,
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


def _require_admin() -> None:
    if not current_principal().is_admin:
        raise PermissionDenied("model administration is for admins")


def _mean(stat: dict[str, Any], count: int) -> duration_pb2.Duration:
    ns = int(stat.get("ns", 0)) // max(count, 1)
    return duration_pb2.Duration(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


class AnalysisService(ai_grpc.AnalysisServiceBase):
    def __init__(
        self, client: InferenceClient, store: ResultsStore, admin: ModelAdmin, access: MeetingAccess
    ) -> None:
        self.client = client
        self.store = store
        self.admin = admin
        self.access = access

    async def AnalyzeAudio(
        self, stream: Stream[ai_pb2.AnalyzeAudioRequest, ai_pb2.AnalyzeAudioResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        audio = decode_file(request.audio)
        segments = await analyze_audio(self.client, audio)
        await stream.send_message(
            ai_pb2.AnalyzeAudioResponse(
                segments=[
                    ai_pb2.TranscriptSegment(
                        start_offset=_duration(s.start_ms),
                        end_offset=_duration(s.end_ms),
                        text=s.text,
                        synthetic_score=s.synthetic_score,
                    )
                    for s in segments
                ],
                duration=_duration(audio.size * 1000 // SAMPLE_RATE),
            )
        )

    async def AnalyzeImage(
        self, stream: Stream[ai_pb2.AnalyzeImageRequest, ai_pb2.AnalyzeImageResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        faces = await analyze_faces(self.client, decode_image(request.image))
        await stream.send_message(
            ai_pb2.AnalyzeImageResponse(faces=[emotion_proto(f.box, f.emotion, f.scores) for f in faces])
        )

    async def ListTranscriptSegments(
        self, stream: Stream[ai_pb2.ListTranscriptSegmentsRequest, ai_pb2.ListTranscriptSegmentsResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        meeting_id = request.parent.split("/")[1]
        await self.access.check(meeting_id, current_principal())
        segments, token = await self.store.list_segments(
            meeting_id, page_size(request.page_size), request.page_token
        )
        await stream.send_message(
            ai_pb2.ListTranscriptSegmentsResponse(
                transcript_segments=[segment_message(s) for s in segments], next_page_token=token
            )
        )

    async def ExportTranscript(
        self, stream: Stream[ai_pb2.ExportTranscriptRequest, ai_pb2.ExportTranscriptResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        meeting_id = request.name.split("/")[1]
        await self.access.check(meeting_id, current_principal())
        segments: list[Segment] = []
        token = ""
        while True:
            page, token = await self.store.list_segments(meeting_id, 500, token)
            segments += page
            if not token:
                break
        if request.format == ai_pb2.TRANSCRIPT_FORMAT_WEBVTT:
            reply = ai_pb2.ExportTranscriptResponse(
                content_type="text/vtt", content=transcript.to_webvtt(segments)
            )
        else:
            reply = ai_pb2.ExportTranscriptResponse(
                content_type="text/plain", content=transcript.to_text(segments)
            )
        await stream.send_message(reply)

    async def GetMeetingInsights(
        self, stream: Stream[ai_pb2.GetMeetingInsightsRequest, ai_pb2.GetMeetingInsightsResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        meeting_id = request.name.split("/")[1]
        interval_s = request.emotion_interval.seconds if request.HasField("emotion_interval") else 60
        if request.emotion_interval.nanos:
            raise InvalidArgument([("emotion_interval", "must be whole seconds")])
        await self.access.check(meeting_id, current_principal())
        totals = insights.participant_totals([a async for a in self.store.activities(meeting_id)])
        timeline = insights.emotion_timeline(
            await self.store.list_events(meeting_id, insights.EMOTION_EVENT), interval_s
        )
        await stream.send_message(
            ai_pb2.GetMeetingInsightsResponse(
                insights=ai_pb2.MeetingInsights(
                    name=f"meetings/{meeting_id}/insights",
                    participants=[participant_insights(meeting_id, t) for t in totals],
                    emotion_timeline=[
                        ai_pb2.EmotionInterval(
                            start_time=_timestamp(start),
                            counts=[
                                ai_pb2.EmotionCount(emotion=_emotion(name), count=counts[name])
                                for name in EMOTIONS
                                if counts[name]
                            ],
                        )
                        for start, counts in timeline
                    ],
                    emotion_interval=duration_pb2.Duration(seconds=interval_s),
                )
            )
        )

    async def ListMeetingActivities(
        self, stream: Stream[ai_pb2.ListMeetingActivitiesRequest, ai_pb2.ListMeetingActivitiesResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        meeting_id = request.parent.split("/")[1]
        await self.access.check(meeting_id, current_principal())
        activities, token = await self.store.list_activities(
            meeting_id, page_size(request.page_size), request.page_token
        )
        await stream.send_message(
            ai_pb2.ListMeetingActivitiesResponse(
                meeting_activities=[activity_message(a) for a in activities], next_page_token=token
            )
        )

    async def ListModels(self, stream: Stream[ai_pb2.ListModelsRequest, ai_pb2.ListModelsResponse]) -> None:
        await stream.recv_message()
        _require_admin()
        models = await self.admin.list_models()
        await stream.send_message(
            ai_pb2.ListModelsResponse(
                models=[model_message(name, versions) for name, versions in models.items()]
            )
        )

    async def LoadModelVersion(
        self, stream: Stream[ai_pb2.LoadModelVersionRequest, ai_pb2.LoadModelVersionResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        _require_admin()
        model, version = parse_version_name(request.name)
        versions = await self.admin.load_version(model, version)
        await stream.send_message(ai_pb2.LoadModelVersionResponse(model=model_message(model, versions)))

    async def UnloadModelVersion(
        self, stream: Stream[ai_pb2.UnloadModelVersionRequest, ai_pb2.UnloadModelVersionResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        _require_admin()
        model, version = parse_version_name(request.name)
        versions = await self.admin.unload_version(model, version)
        await stream.send_message(ai_pb2.UnloadModelVersionResponse(model=model_message(model, versions)))

    async def GetModelStatistics(
        self, stream: Stream[ai_pb2.GetModelStatisticsRequest, ai_pb2.GetModelStatisticsResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        _require_admin()
        model = request.name.split("/")[1]
        self.admin.repository_versions(model)  # NOT_FOUND for a model outside the repository
        versions = []
        for entry in await self.client.statistics(model):
            stats = entry.get("inference_stats", {})
            success = int(stats.get("success", {}).get("count", 0))
            versions.append(
                ai_pb2.ModelVersionStatistics(
                    name=f"models/{model}/versions/{entry.get('version', '')}",
                    success_count=success,
                    failure_count=int(stats.get("fail", {}).get("count", 0)),
                    execution_count=int(entry.get("execution_count", 0)),
                    inference_count=int(entry.get("inference_count", 0)),
                    mean_queue_time=_mean(stats.get("queue", {}), success),
                    mean_compute_time=_mean(stats.get("compute_infer", {}), success),
                )
            )
        await stream.send_message(ai_pb2.GetModelStatisticsResponse(versions=versions))


class AnalysisStreamService(analysis_stream_grpc.AnalysisStreamServiceBase):
    """Internal: media's AI tap opens one `Analyze` stream per analysed participant."""

    def __init__(self, live: LiveAnalysis) -> None:
        self.live = live

    async def Analyze(self, stream: Stream[stream_pb2.AnalyzeRequest, stream_pb2.AnalyzeResponse]) -> None:
        async def requests() -> AsyncIterator[stream_pb2.AnalyzeRequest]:
            async for message in stream:
                yield message

        await self.live.run(requests(), stream.send_message)
