"""The edge as one ASGI app: gRPC-web, JSON/REST, `/rtc`, CORS, auth, rate limits, docs, static files,
and the admin status page's data (admin_status.py).

HTTP requests go through the middleware pipeline (pipeline.py: CORS -> telemetry -> errors ->
admission -> routing -> codecs and pages); `/rtc` WebSockets are proxied to signaling after the
per-address rate limit. `Edge` holds the state the stages share.
"""

from __future__ import annotations

from typing import Any

from services.edge import pipeline
from services.edge.admin_status import AdminStatus
from services.edge.admission import Admission, RateLimits
from services.edge.asgi import Receive, Request, Scope, Send
from services.edge.config import EdgeSettings
from services.edge.docs import DocsRoute
from services.edge.objects import ObjectRoute
from services.edge.pages import Pages
from services.edge.rtc import proxy_websocket
from services.edge.tls import EXPIRY_METRIC
from services.edge.upstream import Upstreams
from services.kit import create_redis
from services.kit.auth import JwksTokenVerifier
from services.kit.catalog import Rpc, load_catalog
from services.kit.cors import Cors
from services.kit.revocation import Revocations
from services.kit.telemetry import RequestMetrics, Telemetry


class Edge:
    """The edge's state and its ASGI entry point."""

    def __init__(self, settings: EdgeSettings, *, redis: Any = None) -> None:
        options = settings.edge
        self.settings = settings
        self.options = options
        self.catalog = load_catalog(options.descriptor_set)
        self.upstreams = Upstreams(settings.upstream_addresses(), options.upstream_pool_size)
        self.cors = Cors(options.cors_origins)
        self.redis = (
            redis
            if redis is not None
            else create_redis(settings.redis_url, settings.store_timeout_s, settings.store_timeout_s)
        )
        self.limits = RateLimits(
            self.redis, f"{settings.redis_prefix}:edge:", options.rate_limit_address, options.rate_limit_token
        )
        self.admission = Admission(JwksTokenVerifier(settings.jwks_url, issuer=settings.issuer), self.limits)
        # revocations asked of Redis on each admin status request (the edge does not follow them)
        revocations = Revocations(self.redis, settings.redis_prefix, settings.access_token_ttl_s)
        self.admin_status = AdminStatus(options.prometheus_url, self.admission, revocations)
        self.telemetry = Telemetry()
        self.requests = RequestMetrics(self.telemetry, access_log=options.access_log)
        #: Set by the TLS listener (server.py) to its certificate's not-after.
        self.certificate_expiry = self.telemetry.gauge(
            EXPIRY_METRIC, "When a TLS certificate the edge serves expires (Unix time)", ["certificate"]
        )
        self.objects = ObjectRoute(settings.objects, settings.keys_dir, self.admission)
        self.pages = Pages(self.telemetry, options.openapi, options.web_root, DocsRoute(settings))
        self.pipeline = pipeline.build(self)

    async def admit(self, request: Request, rpc: Rpc) -> None:
        """Rate limits and auth for one call, as the RPC's contract says (raises EdgeError)."""
        await self.admission.admit(request, rpc)

    async def close(self) -> None:
        self.upstreams.close()
        await self.admin_status.close()
        await self.redis.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.pipeline(Request.from_scope(scope), receive, send)
        elif kind == "websocket":
            if scope["path"] == "/rtc":
                client = scope.get("client")

                async def admit() -> None:  # the per-address limit, as for every HTTP call
                    await self.limits.check(client[0] if client else None, None)

                await proxy_websocket(scope, receive, send, self.settings.signaling_ws_url, admit)
            else:
                await receive()
                await send({"type": "websocket.close", "code": 1008})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: EdgeSettings | None = None) -> Edge:
    return Edge(settings or EdgeSettings())
