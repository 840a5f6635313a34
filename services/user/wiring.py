"""Wiring of the user service."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meetmesh.user.events.v1 import events_pb2 as ev
from services.kit import FailureThrottle, Runtime, ServiceSpec
from services.kit.outbox import Outbox, OutboxRelay

from .api import UserService
from .config import UserSettings
from .directory import UserDirectory
from .models import OUTBOX
from .sessions import RefreshTokens
from .store import UserStore

MIGRATIONS = Path(__file__).parent / "migrations"


async def create(runtime: Runtime) -> ServiceSpec:
    settings = UserSettings.of(runtime.settings)
    db = runtime.database("user")
    await db.migrate(MIGRATIONS)
    revoked = runtime.revocations
    prefix = runtime.settings.redis_prefix
    opts = settings.user
    outbox = Outbox(OUTBOX)
    store = UserStore(db, outbox)
    relay = OutboxRelay(db, outbox, runtime.redis, prefix)

    async def reused(user_id: str) -> None:
        await store.record(user_id, refresh_token_reused=ev.RefreshTokenReused())

    service = UserService(
        settings,
        store,
        runtime.tokens,
        RefreshTokens(runtime.redis, prefix, settings.refresh_token_ttl_s, revoked, on_reuse=reused),
        account_throttle=FailureThrottle(
            runtime.redis,
            f"{prefix}:user:loginfail",
            limit=opts.login_failures_per_account,
            window_s=opts.login_failure_window_s,
        ),
        peer_throttle=FailureThrottle(
            runtime.redis,
            f"{prefix}:user:loginfail",
            limit=opts.login_failures_per_peer,
            window_s=opts.login_failure_window_s,
        ),
        objects=runtime.objects,
    )
    jwks = runtime.tokens.key.jwks_json()

    async def jwks_endpoint(_: Request) -> Response:
        return Response(jwks, media_type="application/json", headers={"cache-control": "max-age=300"})

    async def start_relay() -> None:
        relay.start()

    return ServiceSpec(
        name="user",
        handlers=[service, UserDirectory(store)],
        http_routes=[Route("/.well-known/jwks.json", jwks_endpoint)],
        on_start=[start_relay],
        on_stop=[relay.stop],
        readiness=[db.ping],
        is_revoked=revoked.is_revoked,
    )
