"""Wiring of the meeting service."""

from __future__ import annotations

from pathlib import Path

from services.kit import FailureThrottle, Runtime, ServiceSpec
from services.kit.outbox import Outbox, OutboxRelay

from . import access
from .api import MeetingService, MeetingSettingsLookup, RecordingRegistry, TranscriptRegistry
from .cache import MeetingCache
from .config import MeetingSettings
from .directory import UserDirectory
from .events import MeetingEvents
from .models import OUTBOX
from .store import JoinRules, MeetingStore

MIGRATIONS = Path(__file__).parent / "migrations"


async def create(runtime: Runtime) -> ServiceSpec:
    settings = MeetingSettings.of(runtime.settings)
    db = runtime.database("meeting")
    await db.migrate(MIGRATIONS)
    prefix = settings.redis_prefix
    opts = settings.meeting
    directory = UserDirectory(settings.user.address)
    outbox = Outbox(OUTBOX)
    store = MeetingStore(db, outbox, JoinRules(access.HOST, access.LOBBY_BYPASS, access.GUEST_NAME))
    relay = OutboxRelay(db, outbox, runtime.redis, prefix)
    events = MeetingEvents(runtime.redis, prefix)
    cache = MeetingCache(store.meeting_and_participant, ttl_s=opts.cache_ttl_s)
    service = MeetingService(
        settings,
        store,
        runtime.tokens,
        events,
        directory,
        FailureThrottle(
            runtime.redis,
            f"{prefix}:meeting:passcodefail",
            limit=opts.passcode_failures,
            window_s=opts.passcode_failure_window_s,
        ),
        cache,
        runtime.joins,
        runtime.objects,
    )
    service.identity = runtime.identity("meeting")

    async def start_cache() -> None:
        cache.start(events.redis, events.pattern)
        relay.start()

    async def stop_background() -> None:
        await relay.stop()
        await cache.stop()
        await service.cleanup.stop()
        directory.close()

    return ServiceSpec(
        name="meeting",
        handlers=[
            service,
            RecordingRegistry(store, events),
            TranscriptRegistry(store),
            MeetingSettingsLookup(store),
        ],
        readiness=[db.ping],
        on_start=[start_cache],
        on_stop=[stop_background],
        is_revoked=runtime.revocations.is_revoked,
    )
