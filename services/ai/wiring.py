"""Wiring of the ai service: Triton (bundled and supervised, or external), results store, handlers."""

from __future__ import annotations

from pathlib import Path

from services.kit import Runtime, ServiceSpec, Unavailable
from services.kit.logs import get_logger

from . import metrics
from .access import MeetingAccess
from .activity import ActivityRecorder
from .api import AnalysisService, AnalysisStreamService
from .batching import EmotionBatcher
from .completion import LiveStreams, TranscriptCompletion
from .config import AiSettings
from .inference import InferenceClient
from .live import LiveAnalysis, LiveOptions
from .model_admin import ModelAdmin
from .store import MongoResultsStore, RelationalResultsStore, ResultsStore, StorePreparation
from .triton import TritonOptions, TritonServer

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger("meetmesh.ai")


async def create(runtime: Runtime) -> ServiceSpec:
    settings = AiSettings.of(runtime.settings)
    opts = settings.ai
    on_start, on_stop = [], []
    triton_url = opts.triton_url
    if opts.manage_triton and not (opts.model_repository / "BUILD.json").is_file():
        # The other services keep running; this one answers UNAVAILABLE until models are built.
        log.error("no model repository; run `make models`", extra={"path": str(opts.model_repository)})
    elif opts.manage_triton:
        _host, _, port = opts.triton_url.rpartition(":")
        triton = TritonServer(
            TritonOptions(
                repository=opts.model_repository,
                workdir=opts.triton_workdir,
                grpc_port=int(port),
                metrics_port=opts.triton_metrics_port,
            )
        )
        triton_url = triton.url
        on_start.append(triton.start)
        on_stop.append(triton.stop)
    client = InferenceClient(triton_url, opts.inference_timeout_s)

    store: ResultsStore
    if settings.mongo_url:
        store = MongoResultsStore(settings.mongo_url, opts.mongo_database, settings.store_timeout_s)
    else:  # the embedded default
        store = RelationalResultsStore(runtime.database("ai"), MIGRATIONS)
    preparing = StorePreparation(store)
    await preparing.first_try()
    recorder = ActivityRecorder(runtime.redis, settings.redis_prefix, store)
    on_start.extend([preparing.start, recorder.start])
    on_stop.extend([recorder.stop, preparing.stop, store.close])
    access = MeetingAccess(settings.meeting.address)
    batcher = EmotionBatcher(
        client.emotions, tick_s=opts.emotion_batch_tick_s, max_batch=opts.emotion_batch_max
    )
    streams = LiveStreams()
    completion = TranscriptCompletion(
        runtime.redis,
        settings.redis_prefix,
        store,
        streams,
        settings.meeting.address,
        runtime.identity("ai"),
        settle_s=opts.transcript_settle_s,
        block_ms=0 if settings.redis_url.startswith("memory://") else 500,
    )
    on_start.append(completion.start)
    on_stop.insert(0, completion.stop)
    live = LiveAnalysis(
        client,
        store,
        LiveOptions(
            interim_every_s=opts.interim_every_s,
            first_interim_s=opts.first_interim_s,
            alert_threshold=opts.synthetic_alert_threshold,
            alert_min_s=opts.synthetic_alert_min_s,
            idle_timeout_s=opts.stream_idle_timeout_s,
        ),
        batcher,
        streams,
    )
    handlers = [
        AnalysisService(client, store, ModelAdmin(client, opts.model_repository), access),
        AnalysisStreamService(live),
    ]

    async def triton_ready() -> None:
        try:
            index = await client.repository_index()
        except Unavailable:
            metrics.TRITON_READY.set(0)
            raise
        metrics.TRITON_READY.set(1)
        if not index:
            raise Unavailable("no model loaded")

    async def close() -> None:
        access.close()
        await batcher.close()
        await client.close()

    return ServiceSpec(
        name="ai",
        handlers=handlers,
        on_start=on_start,
        on_stop=[close, *on_stop],
        readiness=[store.ping, triton_ready],
        is_revoked=runtime.revocations.is_revoked,
        collectors=metrics.collectors(),
    )
