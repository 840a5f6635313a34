"""Wiring of the media service (SFU): ``create(runtime)`` returns its ``ServiceSpec``."""

from __future__ import annotations

import asyncio
import contextlib

from aiortc import RTCConfiguration

from services.kit import Runtime, ServiceSpec
from services.kit.ice import IceSettings, ice_servers, use_host_addresses

from . import metrics, network
from .aitap import TapConsumer
from .analysis import AnalysisConsumer
from .api import MediaService
from .config import MediaOptions, MediaSettings
from .jobs import TranscodeJobs, WorkerSettings, registry_sink
from .nodes import NodeRegistry
from .relay import Relays
from .sfu import Sfu
from .store import RecordingStore
from .transcode import Options


def ice_configuration(ice: IceSettings, participant: str) -> RTCConfiguration:
    """Media's own peer connection with ``participant``: the platform's ICE servers."""
    return network.rtc_configuration(ice_servers(ice, participant))


async def create(runtime: Runtime) -> ServiceSpec:
    spec, _ = build(runtime)
    return spec


def build(
    runtime: Runtime,
    settings: MediaOptions | None = None,
    ai_consumer: TapConsumer | None = None,
    ice: IceSettings | None = None,
) -> tuple[ServiceSpec, MediaService]:
    """The spec and the service object (tests and the all-in-one process reach into it).

    Without ``ai_consumer``, meetings whose AI setting is on are analysed by the ai service
    (``settings.ai_target``, else the platform's ai endpoint) and their captions, synthetic-voice
    scores and emotions relayed; meeting updates switch the analysis on and off at once.
    """
    settings = settings or MediaSettings.of(runtime.settings).media
    ice_settings = ice or runtime.settings.ice
    use_host_addresses(ice_settings.host_addresses)
    sfu = Sfu(lambda participant: ice_configuration(ice_settings, participant))
    registry = settings.recording_registry_target or runtime.settings.meeting.address
    identity = runtime.identity("media")
    recordings = RecordingStore(runtime.objects, settings.spool_dir, settings.spool_retry_s)
    service = MediaService(sfu, recordings, registry, ai_consumer, settings.ai_video_interval_s, identity)
    if ai_consumer is None:
        ai_target = settings.ai_target or runtime.settings.ai.address
        service.ai_consumer = AnalysisConsumer(ai_target, service.publish, identity=identity)

    async def install_port_range() -> None:
        if ice_settings.port_range:
            network.PortRange(*ice_settings.port_range).install(asyncio.get_running_loop())

    workers: list[asyncio.Task[None]] = []
    if settings.transcode:
        options = Options(
            settings.transcode_width,
            settings.transcode_height,
            settings.transcode_fps,
            settings.transcode_preset,
        )
        service.jobs = TranscodeJobs(
            runtime.redis,
            runtime.settings.redis_prefix,
            runtime.objects,
            WorkerSettings(options, claim_idle_s=settings.transcode_claim_idle_s),
            on_renditions=registry_sink(registry, identity),
        )

    if settings.node_address:
        service.node = NodeRegistry(
            runtime.redis,
            runtime.settings.redis_prefix,
            settings.node_address,
            lambda: sum(len(room.peers) for room in sfu.rooms.values()),
        )
        service.relays = Relays(
            sfu,
            settings.node_address,
            lambda participant: ice_configuration(ice_settings, participant),
            identity,
        )
        sfu.on_subscriptions = service.relays.subscriptions_changed

    async def start_node() -> None:
        if service.node is not None:
            await service.node.start()

    async def drain_node() -> None:
        """Stopping: tell signaling to move this node's meetings, and wait until they have left."""
        if service.node is None:
            return
        await service.node.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.drain_timeout_s):
                while any(sfu.local_peers(m) for m in list(sfu.rooms)):  # noqa: ASYNC110 - peers leave via RPCs
                    await asyncio.sleep(0.1)
        # Then the relays: other nodes' relays from this one, and this one's from the others.
        await sfu.remove_relay_peers()
        if service.relays is not None:
            await service.relays.close()

    async def stop_node() -> None:
        if service.node is not None:
            await service.node.stop()

    async def start_worker() -> None:
        if service.jobs is not None:
            workers.append(asyncio.ensure_future(service.jobs.run()))

    async def stop_worker() -> None:
        if service.jobs is not None:
            service.jobs.stop()
        for task in workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def follow_settings() -> None:
        if service.ai_consumer is not None:
            service.follow_settings(runtime.redis, runtime.settings.redis_prefix)

    spec = ServiceSpec(
        name="media",
        handlers=[service],
        # Every method is internal (the contract says signaling only): callers need a service token.
        on_start=[install_port_range, recordings.start, start_worker, start_node, follow_settings],
        on_drain=[drain_node],
        on_stop=[stop_node, stop_worker, service.close, recordings.stop],
        collectors=metrics.collectors(sfu, lambda: service.relays),
    )
    return spec, service
