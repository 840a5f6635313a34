"""The edge as one ASGI app: gRPC-web, JSON/REST, `/rtc`, CORS, auth, rate limits, docs, static files.

Dispatch, in order: CORS preflight; signed object URLs (`/objects/`, the embedded default's local
folder); gRPC-web content types; the edge's own pages (`/healthz`, `/metrics`, `/openapi.json`,
`/docs` and its files, `/docs/grpc`); JSON bindings from the descriptor set; the web client's
static files; otherwise 404 (or 405 when another HTTP method has a binding for the path).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from google.rpc.error_details_pb2 import RetryInfo
from grpclib.const import Status
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from services.edge import grpcweb
from services.edge.asgi import Receive, Request, Scope, Send, respond
from services.edge.auth import MISSING, TokenVerifier, bearer_token
from services.edge.catalog import Rpc, load_catalog
from services.edge.config import EdgeSettings
from services.edge.cors import Cors
from services.edge.docs import DocsRoute
from services.edge.grpcweb_proxy import serve_grpc_web
from services.edge.json_proxy import send_error, serve_json
from services.edge.objects import ObjectRoute
from services.edge.ratelimit import RateLimiter
from services.edge.rtc import proxy_websocket
from services.edge.status import EdgeError, RpcStatus
from services.edge.telemetry import Telemetry
from services.edge.upstream import Upstreams
from services.kit import create_redis, outage
from services.kit.errors import Reason

log = logging.getLogger("meetmesh.edge")


class SinglePageApp(StaticFiles):
    """The web client's files. A path that names no file, has no extension and is not under an API
    prefix gets ``index.html``: the client routes it (deep links such as ``/m/<id>``)."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or "." in last or path.split("/", 1)[0] in ("v1", "rtc"):
                raise
            return await super().get_response("index.html", scope)


class Edge:
    """The edge's state and its ASGI entry point."""

    def __init__(self, settings: EdgeSettings, *, redis: Any = None) -> None:
        options = settings.edge_svc
        self.settings = settings
        self.options = options
        self.catalog = load_catalog(options.descriptor_set)
        self.upstreams = Upstreams(settings.upstream_addresses())
        self.cors = Cors(options.cors_origins)
        self.verifier = TokenVerifier(settings.jwks_url, issuer=settings.issuer)
        self.redis = redis if redis is not None else create_redis(settings.redis_url)
        self.limiter = RateLimiter(
            self.redis, f"{settings.redis_prefix}:edge:", options.rate_limit_address, options.rate_limit_token
        )
        self.telemetry = Telemetry(access_log=options.access_log)
        self.objects = ObjectRoute(settings.objects, settings.keys_dir, self.verifier)
        self.static = (
            SinglePageApp(directory=options.web_root, html=True) if options.web_root.is_dir() else None
        )
        self._openapi: bytes | None = None
        self.docs = DocsRoute(settings)

    async def admit(self, request: Request, rpc: Rpc) -> None:
        """Rate limits and auth for one call, as the RPC's contract says (raises EdgeError).

        The per-address limit comes first, so that calls without a valid token are limited too
        (and cannot make the edge verify signatures without bound); the per-token limit follows
        once the token is verified. The edge checks the access token that user, admin and
        participant methods need; roles, grants and revocation are the service's to check (it has
        the meeting and the session)."""
        await self.limiter.check(request.client, None)
        needs_token = rpc.policy.needs_access_token
        subject = None
        try:
            token = bearer_token(request.header("authorization"))
            if token is not None:
                subject = str((await self.verifier.verify(token))["sub"])
        except EdgeError as exc:
            if needs_token or exc.status.code is not Status.UNAUTHENTICATED:
                raise
        if needs_token and subject is None:
            raise EdgeError(Status.UNAUTHENTICATED, MISSING, reason=Reason.ERROR_REASON_MISSING_CREDENTIALS)
        if subject is not None:
            await self.limiter.check(None, subject)

    async def close(self) -> None:
        self.upstreams.close()
        await self.redis.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            if scope["path"] == "/rtc":
                client = scope.get("client")

                async def admit() -> None:  # the per-address limit, as for every HTTP call
                    await self.limiter.check(client[0] if client else None, None)

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

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request.from_scope(scope)
        origin = request.header("origin")
        request.extra_headers = self.cors.response_headers(origin)
        try:
            await self._dispatch(request, receive, send)
        except EdgeError as exc:
            if not request.http_status:
                await send_error(send, request, exc.status, exc.http_status)
        except Exception as exc:
            unavailable = outage(exc)  # the edge's Redis (rate limits) went away: 503, not 500
            if unavailable is not None:
                log.warning("edge dependency unavailable on %s: %s", request.rpc, type(exc).__name__)
                if not request.http_status:
                    error = EdgeError(
                        Status.UNAVAILABLE,
                        unavailable.message,
                        reason=unavailable.reason,
                        headers=[("retry-after", str(math.ceil(unavailable.retry_after_s)))],
                        extra_details=tuple(d for d in unavailable.details() if isinstance(d, RetryInfo)),
                    )
                    await send_error(send, request, error.status, error.http_status)
                return
            log.exception("edge failure on %s", request.rpc)
            if not request.http_status:
                await send_error(send, request, RpcStatus(Status.INTERNAL, "internal error at the edge"))
        finally:
            self.telemetry.record(
                protocol=request.protocol,
                rpc=request.rpc,
                http_status=request.http_status,
                grpc_status=request.grpc_status,
                started=started,
                http_method=request.method,
            )

    async def _dispatch(self, request: Request, receive: Receive, send: Send) -> None:
        method, path = request.method, request.raw_path
        if method == "OPTIONS" and request.header("access-control-request-method"):
            request.protocol = "preflight"
            headers = self.cors.preflight_headers(request.header("origin"))
            if headers is None:
                raise EdgeError(Status.PERMISSION_DENIED, "origin not allowed", http_status=403)
            request.extra_headers = []
            await respond(send, request, 204, headers)
            return
        if self.objects.handles(request):
            await self.objects.serve(request, receive, send)
            return
        content_type = request.header("content-type") or ""
        if grpcweb.is_grpc_web(content_type):
            await serve_grpc_web(self, request, receive, send)
            return
        if content_type.startswith("application/grpc"):
            raise EdgeError(
                Status.INVALID_ARGUMENT,
                "native gRPC goes to the services directly; the edge speaks gRPC-web and JSON",
                http_status=415,
            )
        if method in ("GET", "HEAD") and await self._builtin(request, send):
            return
        found = self.catalog.match(method, path)
        if found is not None:
            binding, rpc, variables = found
            await serve_json(self, request, receive, send, binding, rpc, variables)
            return
        allowed = self.catalog.allowed_methods(path)
        if allowed:
            raise EdgeError(
                Status.UNIMPLEMENTED,
                f"{method} is not bound for this path; use {', '.join(allowed)}",
                http_status=405,
                headers=[("allow", ", ".join(allowed))],
            )
        if self.static is not None and method in ("GET", "HEAD"):
            request.protocol = "static"
            try:
                await self.static(request.scope, receive, _marking(send, request))
            except HTTPException as exc:
                raise EdgeError(Status.NOT_FOUND, "no such file", http_status=exc.status_code) from None
            return
        raise EdgeError(Status.NOT_FOUND, "no route for this path")

    async def _builtin(self, request: Request, send: Send) -> bool:
        path = request.raw_path
        if path == "/healthz":
            body, content_type = b'{"status":"SERVING"}', "application/json"
        elif path == "/metrics":
            body, content_type = self.telemetry.exposition(), "text/plain; version=0.0.4"
        elif path == "/openapi.json":
            body, content_type = self._openapi_document(), "application/json"
        elif self.docs.handles(path):
            return await self.docs.serve(request, send, self._openapi_document())
        else:
            return False
        request.protocol = "builtin"
        await respond(
            send, request, 200, [("content-type", content_type)], body if request.method == "GET" else b""
        )
        return True

    def _openapi_document(self) -> bytes:
        if self._openapi is None:
            try:
                self._openapi = self.options.openapi.read_bytes()
            except OSError:
                raise EdgeError(Status.NOT_FOUND, "no OpenAPI document; run `make gen`") from None
        return self._openapi


def _marking(send: Send, request: Request) -> Send:
    """Wraps `send` so the request records the status a sub-app sends."""

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            request.http_status = message["status"]
            message["headers"] = list(message.get("headers", [])) + [
                (k.encode(), v.encode()) for k, v in request.extra_headers
            ]
        await send(message)

    return wrapped


def create_app(settings: EdgeSettings | None = None) -> Edge:
    return Edge(settings or EdgeSettings())
