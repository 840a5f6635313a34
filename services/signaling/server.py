"""Wiring of the signaling service: ``create(runtime)`` returns its ``ServiceSpec``."""

from __future__ import annotations

from services.kit import AuthMode, Runtime, ServiceSpec, channel

from .config import SignalingSettings
from .hub import Hub
from .service import SignalingService
from .websocket import rtc_route


async def create(runtime: Runtime) -> ServiceSpec:
    spec, _ = build(runtime)
    return spec


def build(runtime: Runtime, settings: SignalingSettings | None = None) -> tuple[ServiceSpec, Hub]:
    """The spec and the hub (tests reach into it)."""
    settings = settings or SignalingSettings()
    media = channel(settings.media_target or runtime.settings.media.address)
    hub = Hub(settings, runtime.tokens, runtime.redis, runtime.settings.redis_prefix, media, runtime.joins)
    spec = ServiceSpec(
        name="signaling",
        handlers=[SignalingService(hub)],
        # The join token comes inside the stream (browsers cannot set headers on WebSockets).
        default_auth=AuthMode.NONE,
        http_routes=[rtc_route(hub)],
        on_start=[hub.start],
        on_drain=[hub.drain],
        on_stop=[hub.stop],
    )
    return spec, hub
