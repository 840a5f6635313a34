"""Wiring of the meeting service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from services.kit import FailureThrottle, Runtime, ServiceSpec

from .config import MeetingSettings
from .directory import UserDirectory
from .events import MeetingEvents
from .service import MeetingService
from .store import MeetingStore

MIGRATIONS = Path(__file__).parent / "migrations"


async def create(runtime: Runtime) -> ServiceSpec:
    settings = runtime.settings
    if not isinstance(settings, MeetingSettings):
        settings = MeetingSettings(**settings.model_dump())
    db = runtime.database("meeting")
    await db.migrate(MIGRATIONS)
    prefix = settings.redis_prefix
    opts = settings.meeting_svc
    directory = UserDirectory(settings.user.address)
    service = MeetingService(
        settings,
        MeetingStore(db),
        runtime.tokens,
        MeetingEvents(runtime.redis, prefix),
        directory,
        FailureThrottle(
            runtime.redis,
            f"{prefix}:meeting:passcodefail",
            limit=opts.passcode_failures,
            window_s=opts.passcode_failure_window_s,
        ),
    )

    async def db_ready() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close_directory() -> None:
        directory.close()

    return ServiceSpec(
        name="meeting",
        handlers=[service],
        readiness=[db_ready],
        on_stop=[close_directory],
        is_revoked=runtime.revocations.is_revoked,
    )
