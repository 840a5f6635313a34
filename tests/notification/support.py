"""Starting the notification service with the user and meeting services for a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meetmesh.notification.v1 import notification_grpc
from services.kit import Runtime, service_block
from services.notification.config import NotificationOptions
from tests.support import Platform, TestSettings, make_settings


class NotifySettings(TestSettings):
    notification: NotificationOptions = service_block(NotificationOptions, "notification")


class NotifyPlatform(Platform):
    @property
    def notifications(self) -> notification_grpc.NotificationServiceStub:
        return notification_grpc.NotificationServiceStub(self.channel("notification"))


async def start_notify_platform(
    stores: dict[str, str],
    keys_dir: Path,
    options: NotificationOptions,
    services: tuple[str, ...] = ("user", "meeting", "notification"),
    **overrides: Any,
) -> NotifyPlatform:
    base = make_settings(stores, keys_dir, **overrides)
    settings = NotifySettings(**{**base.model_dump(), "notification": options.model_dump()})
    platform = NotifyPlatform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))
    try:
        for service in services:
            await platform.start(service)
    except BaseException:
        await platform.close()
        raise
    return platform


async def deliveries_to(platform: Platform, address: str) -> list[Any]:
    """The delivery rows to ``address`` (read straight from the service's store)."""
    from sqlalchemy import select

    from services.notification.models import DeliveryRow

    db = platform.runtime.database("notification")
    async with db.reader() as session:
        query = select(DeliveryRow).where(DeliveryRow.address == address)
        return list((await session.execute(query)).scalars())
