"""RPC methods of the ai service: the public AnalysisService and the internal stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import duration_pb2
from grpclib.server import Stream

from meetmesh.ai.internal.v1 import analysis_stream_grpc
from meetmesh.ai.internal.v1 import analysis_stream_pb2 as stream_pb2
from meetmesh.ai.v1 import ai_grpc, ai_pb2
from services.kit import InvalidArgument, current_principal
from services.kit.handlers import unary
from services.kit.pagination import page_size

from . import insights, transcript
from .access import MeetingAccess, require_admin
from .audio import SAMPLE_RATE, decode_file
from .convert import (
    activity_message,
    duration,
    emotion,
    mean_duration,
    model_message,
    participant_insights,
    segment_message,
    timestamp,
)
from .inference import EMOTIONS, InferenceClient
from .live import LiveAnalysis, emotion_proto
from .model_admin import ModelAdmin, parse_version_name
from .models import Segment
from .offline import analyze_audio
from .store import ResultsStore
from .vision import analyze_faces, decode_image


class AnalysisService(ai_grpc.AnalysisServiceBase):
    def __init__(
        self, client: InferenceClient, store: ResultsStore, admin: ModelAdmin, access: MeetingAccess
    ) -> None:
        self.client = client
        self.store = store
        self.admin = admin
        self.access = access

    @unary
    async def AnalyzeAudio(self, request: ai_pb2.AnalyzeAudioRequest) -> ai_pb2.AnalyzeAudioResponse:
        audio = decode_file(request.audio)
        segments = await analyze_audio(self.client, audio)
        return ai_pb2.AnalyzeAudioResponse(
            segments=[
                ai_pb2.TranscriptSegment(
                    start_offset=duration(s.start_ms),
                    end_offset=duration(s.end_ms),
                    text=s.text,
                    synthetic_score=s.synthetic_score,
                )
                for s in segments
            ],
            duration=duration(audio.size * 1000 // SAMPLE_RATE),
        )

    @unary
    async def AnalyzeImage(self, request: ai_pb2.AnalyzeImageRequest) -> ai_pb2.AnalyzeImageResponse:
        faces = await analyze_faces(self.client, decode_image(request.image))
        return ai_pb2.AnalyzeImageResponse(faces=[emotion_proto(f.box, f.emotion, f.scores) for f in faces])

    @unary
    async def ListTranscriptSegments(
        self, request: ai_pb2.ListTranscriptSegmentsRequest
    ) -> ai_pb2.ListTranscriptSegmentsResponse:
        meeting_id = request.parent.split("/")[1]
        await self.access.check(meeting_id, current_principal())
        segments, token = await self.store.list_segments(
            meeting_id, page_size(request.page_size), request.page_token
        )
        return ai_pb2.ListTranscriptSegmentsResponse(
            transcript_segments=[segment_message(s) for s in segments], next_page_token=token
        )

    @unary
    async def ExportTranscript(
        self, request: ai_pb2.ExportTranscriptRequest
    ) -> ai_pb2.ExportTranscriptResponse:
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
        return reply

    @unary
    async def GetMeetingInsights(
        self, request: ai_pb2.GetMeetingInsightsRequest
    ) -> ai_pb2.GetMeetingInsightsResponse:
        meeting_id = request.name.split("/")[1]
        interval_s = request.emotion_interval.seconds if request.HasField("emotion_interval") else 60
        if request.emotion_interval.nanos:
            raise InvalidArgument([("emotion_interval", "must be whole seconds")])
        await self.access.check(meeting_id, current_principal())
        totals = insights.participant_totals([a async for a in self.store.activities(meeting_id)])
        timeline = insights.emotion_timeline(
            await self.store.list_events(meeting_id, insights.EMOTION_EVENT), interval_s
        )
        return ai_pb2.GetMeetingInsightsResponse(
            insights=ai_pb2.MeetingInsights(
                name=f"meetings/{meeting_id}/insights",
                participants=[participant_insights(meeting_id, t) for t in totals],
                emotion_timeline=[
                    ai_pb2.EmotionInterval(
                        start_time=timestamp(start),
                        counts=[
                            ai_pb2.EmotionCount(emotion=emotion(name), count=counts[name])
                            for name in EMOTIONS
                            if counts[name]
                        ],
                    )
                    for start, counts in timeline
                ],
                emotion_interval=duration_pb2.Duration(seconds=interval_s),
            )
        )

    @unary
    async def ListMeetingActivities(
        self, request: ai_pb2.ListMeetingActivitiesRequest
    ) -> ai_pb2.ListMeetingActivitiesResponse:
        meeting_id = request.parent.split("/")[1]
        await self.access.check(meeting_id, current_principal())
        activities, token = await self.store.list_activities(
            meeting_id, page_size(request.page_size), request.page_token
        )
        return ai_pb2.ListMeetingActivitiesResponse(
            meeting_activities=[activity_message(a) for a in activities], next_page_token=token
        )

    @unary
    async def ListModels(self, _: ai_pb2.ListModelsRequest) -> ai_pb2.ListModelsResponse:
        require_admin()
        models = await self.admin.list_models()
        return ai_pb2.ListModelsResponse(
            models=[model_message(name, versions) for name, versions in models.items()]
        )

    @unary
    async def LoadModelVersion(
        self, request: ai_pb2.LoadModelVersionRequest
    ) -> ai_pb2.LoadModelVersionResponse:
        require_admin()
        model, version = parse_version_name(request.name)
        versions = await self.admin.load_version(model, version)
        return ai_pb2.LoadModelVersionResponse(model=model_message(model, versions))

    @unary
    async def UnloadModelVersion(
        self, request: ai_pb2.UnloadModelVersionRequest
    ) -> ai_pb2.UnloadModelVersionResponse:
        require_admin()
        model, version = parse_version_name(request.name)
        versions = await self.admin.unload_version(model, version)
        return ai_pb2.UnloadModelVersionResponse(model=model_message(model, versions))

    @unary
    async def GetModelStatistics(
        self, request: ai_pb2.GetModelStatisticsRequest
    ) -> ai_pb2.GetModelStatisticsResponse:
        require_admin()
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
                    mean_queue_time=mean_duration(stats.get("queue", {}), success),
                    mean_compute_time=mean_duration(stats.get("compute_infer", {}), success),
                )
            )
        return ai_pb2.GetModelStatisticsResponse(versions=versions)


class AnalysisStreamService(analysis_stream_grpc.AnalysisStreamServiceBase):
    """Internal: media's AI tap opens one `Analyze` stream per analysed participant."""

    def __init__(self, live: LiveAnalysis) -> None:
        self.live = live

    async def Analyze(self, stream: Stream[stream_pb2.AnalyzeRequest, stream_pb2.AnalyzeResponse]) -> None:
        async def requests() -> AsyncIterator[stream_pb2.AnalyzeRequest]:
            async for message in stream:
                yield message

        await self.live.run(requests(), stream.send_message)
