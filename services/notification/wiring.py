"""Wiring of the notification service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf.message import DecodeError
from starlette.routing import Route

from meetmesh.meeting.events.v1 import events_pb2 as meeting_ev
from meetmesh.user.events.v1 import events_pb2 as user_ev
from services.kit import Runtime, ServiceSpec, TokenBucket
from services.kit.outbox import StreamConsumer, StreamEntry, stream_of

from . import alerts, unsubscribe
from .api import NotificationSender, NotificationService
from .batching import EventBatcher
from .channels.email import SmtpSender
from .channels.http import GuardedResolver, HttpClient
from .channels.push import PushSender, load_vapid, public_key
from .channels.sms import sms_provider
from .config import NotificationSettings
from .directory import UserDirectory
from .queue import DeliveryQueue
from .routing import Router
from .store import NotificationStore

MIGRATIONS = Path(__file__).parent / "migrations"
GROUP = "notification"


async def create(runtime: Runtime) -> ServiceSpec:
    settings = NotificationSettings.of(runtime.settings)
    opts = settings.notification
    db = runtime.database("notification")
    await db.migrate(MIGRATIONS)
    prefix = settings.redis_prefix
    store = NotificationStore(db)
    # Webhooks connect only to the addresses the guard allows, checked as they are connected to;
    # no redirects (a webhook may not bounce the platform to an address the guard refused).
    guard = GuardedResolver(allow_private=opts.allow_private_networks, allow_loopback=opts.allow_loopback)
    webhooks = HttpClient(
        timeout_s=opts.webhook_timeout_s,
        limit=opts.concurrency,
        limit_per_host=opts.per_endpoint_concurrency,
        guard=guard,
    )
    # The SMS provider: an address the operator configured, through the same stack, unguarded.
    provider = HttpClient(timeout_s=opts.webhook_timeout_s, limit=opts.concurrency)
    vapid = load_vapid(settings.keys_dir)
    unsubscribe_key = unsubscribe.load_key(settings.keys_dir)
    smtp = SmtpSender(opts)
    directory = UserDirectory(
        lambda: opts.user_target or runtime.settings.user.address, runtime.identity("notification")
    )
    queue = DeliveryQueue(
        store,
        opts,
        email=smtp,
        sms=sms_provider(opts, provider),
        push=PushSender(vapid, opts.vapid_subject, opts.webhook_timeout_s),
        webhooks=webhooks,
        limiter=TokenBucket(
            runtime.redis, f"{prefix}:notification:rate", opts.rate_per_hour / 3600, opts.rate_burst
        ),
        unsubscribe_key=unsubscribe_key,
        directory=directory,
    )
    router = Router(opts)

    batcher = EventBatcher(store, router)

    async def handle(entry: StreamEntry) -> None:
        if await batcher.handle(entry):
            queue.kick()

    def partition(entry: StreamEntry) -> str:
        """What an event is about (its meeting or user): such events are handled in order."""
        try:
            if entry.event_type == meeting_ev.MeetingEvent.DESCRIPTOR.full_name:
                return "meeting:" + str(meeting_ev.MeetingEvent.FromString(entry.data).meeting)
            if entry.event_type == user_ev.UserEvent.DESCRIPTOR.full_name:
                return "user:" + str(user_ev.UserEvent.FromString(entry.data).user)
        except DecodeError:
            pass
        return entry.key

    consumer = StreamConsumer(
        runtime.redis,
        [stream_of(meeting_ev.MeetingEvent, prefix), stream_of(user_ev.UserEvent, prefix)],
        GROUP,
        handle,
        claim_idle_s=opts.claim_idle_s,
        block_ms=0 if settings.redis_url.startswith("memory://") else 500,
        poll_s=opts.poll_s,
        max_deliveries=opts.max_event_deliveries,
        probe=db.ping,
        concurrency=opts.event_concurrency,
        partition=partition,
    )

    async def suppress(address: str, kind: str) -> None:
        await store.suppress(address, kind, "unsubscribe")

    async def start() -> None:
        queue.start()
        consumer.start()

    async def stop() -> None:
        await consumer.stop()
        await batcher.close()
        await queue.stop()
        await webhooks.close()
        await provider.close()
        directory.close()
        await asyncio.to_thread(smtp.close)

    unsubscribe_endpoint = unsubscribe.route(unsubscribe_key, suppress)
    return ServiceSpec(
        name="notification",
        handlers=[
            NotificationService(store, opts, public_key(vapid), queue.kick, guard),
            NotificationSender(store, queue.kick),
        ],
        http_routes=[
            Route("/unsubscribe", unsubscribe_endpoint, methods=["GET", "POST"]),
            Route(
                "/alertmanager",
                alerts.route(store.consume, opts.admin_emails, opts.alertmanager_token, queue.kick),
                methods=["POST"],
            ),
        ],
        on_start=[start],
        on_stop=[stop],
        readiness=[db.ping],
        is_revoked=runtime.revocations.is_revoked,
    )
