"""The edge as a pipeline of middleware, each one concern, outermost first::

    Cors -> Telemetry -> Errors -> Admission -> Routing -> codec (gRPC-web | JSON) or page

* ``Cors``: CORS headers on every answer; answers preflights itself.
* ``Telemetry``: times every request and records it (metrics and the access log, kit/telemetry.py).
* ``Errors``: answers what a later stage raised, in the request's protocol (a JSON
  ``google.rpc.Status``, or gRPC-web trailers-only); an outage of the edge's Redis is 503, anything
  else 500.
* ``Admission``: finds the RPC the request names in the descriptor catalog and admits the caller
  as its contract says: the per-address rate limit, the access token, the per-token rate limit
  (admission.py).
* ``Routing``: hands the request to its endpoint: the gRPC-web or JSON codec for an RPC (they
  forward upstream), signed object URLs, the admin status page's data (admin_status.py: it
  admits its callers itself), the edge's own pages, the web client's files; 404/405.

Each stage is a small class called with ``(request, receive, send)`` that calls the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from grpclib.const import Status
from opentelemetry import trace

from services.edge import grpcweb, grpcweb_proxy, json_proxy
from services.edge.admission import Admission as Admitter
from services.edge.asgi import Receive, Request, Send, respond
from services.edge.status import EdgeError
from services.kit import outage, tracing
from services.kit.catalog import Catalog, Target
from services.kit.cors import Cors as CorsPolicy
from services.kit.telemetry import RequestMetrics

if TYPE_CHECKING:
    from services.edge.app import Edge

log = logging.getLogger("meetmesh.edge")

Handler = Callable[[Request, Receive, Send], Awaitable[None]]


class Cors:
    """CORS for the configured origins: response headers, and preflights answered here."""

    def __init__(self, next_stage: Handler, policy: CorsPolicy) -> None:
        self._next = next_stage
        self._policy = policy

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        origin = request.header("origin")
        request.extra_headers = self._policy.response_headers(origin)
        if request.method == "OPTIONS" and request.header("access-control-request-method"):
            request.protocol = "preflight"
            headers = self._policy.preflight_headers(origin)
            if headers is None:
                error = EdgeError(Status.PERMISSION_DENIED, "origin not allowed", http_status=403)
                await json_proxy.send_error(send, request, error.status, error.http_status)
            else:
                request.extra_headers = []
                await respond(send, request, 204, headers)
            return
        await self._next(request, receive, send)


class Telemetry:
    """Records every request that reaches it: count, latency, access log."""

    def __init__(self, next_stage: Handler, metrics: RequestMetrics) -> None:
        self._next = next_stage
        self._metrics = metrics

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await self._next(request, receive, send)
        finally:
            self._metrics.record(
                protocol=request.protocol,
                rpc=request.rpc,
                http_status=request.http_status,
                grpc_status=request.grpc_status,
                started=started,
                http_method=request.method,
            )


async def send_error(send: Send, request: Request, error: EdgeError) -> None:
    """``error`` in the request's protocol (nothing when an answer has started already)."""
    if request.http_status:
        return
    if request.protocol == "grpc-web":
        await grpcweb_proxy.send_error(send, request, error)
    else:
        await json_proxy.send_error(send, request, error.status, error.http_status)


class Errors:
    """Answers what the later stages raise, in the request's protocol."""

    def __init__(self, next_stage: Handler) -> None:
        self._next = next_stage

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        try:
            await self._next(request, receive, send)
        except EdgeError as exc:
            await send_error(send, request, exc)
        except Exception as exc:
            unavailable = outage(exc)  # the edge's Redis (rate limits) went away: 503, not 500
            if unavailable is not None:
                log.warning("edge dependency unavailable on %s: %s", request.rpc, type(exc).__name__)
                await send_error(send, request, EdgeError.from_error(unavailable))
                return
            log.exception("edge failure on %s", request.rpc)
            await send_error(send, request, EdgeError(Status.INTERNAL, "internal error at the edge"))


class Admission:
    """Finds the RPC a request names (gRPC-web path or JSON binding) and admits its caller."""

    def __init__(self, next_stage: Handler, catalog: Catalog, admitter: Admitter) -> None:
        self._next = next_stage
        self._catalog = catalog
        self._admitter = admitter

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        content_type = request.header("content-type") or ""
        if grpcweb.is_grpc_web(content_type):
            request.protocol = "grpc-web"
            rpc = self._catalog.rpcs.get(request.raw_path)
            if rpc is not None:
                request.rpc = rpc.path
                request.target = Target(rpc)
        elif not content_type.startswith("application/grpc"):
            found = self._catalog.match(request.method, request.raw_path)
            if found is not None:
                binding, rpc, variables = found
                request.protocol = "json"
                request.rpc = rpc.path
                request.target = Target(rpc, binding, variables)
        if request.target is not None:
            traced = tracing.enabled()
            span = trace.get_current_span() if traced else None  # the request's span
            if span is not None and span.is_recording():
                span.update_name(f"{request.method} {request.rpc.lstrip('/')}")
                span.set_attribute("rpc.service", request.target.rpc.path.lstrip("/").partition("/")[0])
                span.set_attribute("meetmesh.edge.protocol", request.protocol)
            await self._admitter.admit(request, request.target.rpc)
        await self._next(request, receive, send)


class Routing:
    """Hands each request to its endpoint (see the module docstring)."""

    def __init__(self, edge: Edge) -> None:
        self._edge = edge

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        edge = self._edge
        if edge.objects.handles(request):
            await edge.objects.serve(request, receive, send)
            return
        if request.target is None and edge.admin_status.handles(request):
            await edge.admin_status.serve(request, send)
            return
        if request.protocol == "grpc-web":
            await grpcweb_proxy.serve_grpc_web(edge, request, receive, send)
            return
        if (request.header("content-type") or "").startswith("application/grpc"):
            raise EdgeError(
                Status.INVALID_ARGUMENT,
                "native gRPC goes to the services directly; the edge speaks gRPC-web and JSON",
                http_status=415,
            )
        if request.method in ("GET", "HEAD") and await edge.pages.serve(request, send):
            return
        target = request.target
        if target is not None and target.binding is not None:
            await json_proxy.serve_json(
                edge, request, receive, send, target.binding, target.rpc, target.variables
            )
            return
        allowed = edge.catalog.allowed_methods(request.raw_path)
        if allowed:
            raise EdgeError(
                Status.UNIMPLEMENTED,
                f"{request.method} is not bound for this path; use {', '.join(allowed)}",
                http_status=405,
                headers=[("allow", ", ".join(allowed))],
            )
        if await edge.pages.serve_static(request, receive, send):
            return
        raise EdgeError(Status.NOT_FOUND, "no route for this path")


def build(edge: Edge) -> Handler:
    """The edge's pipeline, outermost stage first."""
    return Cors(
        Telemetry(
            Errors(Admission(Routing(edge), edge.catalog, edge.admission)),
            edge.requests,
        ),
        edge.cors,
    )
