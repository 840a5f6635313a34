"""Wiring of the signaling service: ``create(runtime)`` returns its ``ServiceSpec``."""

from __future__ import annotations

from services.kit import Runtime, ServiceSpec, channel
from services.kit.ice import IceSettings

from .api import SignalingService
from .config import SignalingOptions, SignalingSettings
from .hub import Hub
from .metrics import SessionsCollector
from .websocket import rtc_route


async def create(runtime: Runtime) -> ServiceSpec:
    spec, _ = build(runtime)
    return spec


def build(
    runtime: Runtime, settings: SignalingOptions | None = None, ice: IceSettings | None = None
) -> tuple[ServiceSpec, Hub]:
    """The spec and the hub (tests reach into it); the options are the platform's signaling block
    and ICE the platform's unless given."""
    settings = settings or SignalingSettings.of(runtime.settings).signaling
    media = channel(settings.media_target or runtime.settings.media.address, runtime.identity("signaling"))
    # The meeting service's internal settings (recording_allowed is checked at every start).
    meeting = channel(
        settings.meeting_target or runtime.settings.meeting.address, runtime.identity("signaling")
    )
    hub = Hub(
        settings,
        runtime.tokens,
        runtime.redis,
        runtime.settings.redis_prefix,
        media,
        runtime.joins,
        meeting,
        runtime.identity("signaling"),
        ice or runtime.settings.ice,
    )
    spec = ServiceSpec(
        name="signaling",
        handlers=[SignalingService(hub)],
        # Connect's join token comes inside the stream (the contract says so: browsers cannot set
        # headers on WebSockets); the session checks it.
        http_routes=[rtc_route(hub)],
        on_start=[hub.start],
        on_drain=[hub.drain],
        on_stop=[hub.stop],
        collectors=[SessionsCollector(hub)],
    )
    return spec, hub
