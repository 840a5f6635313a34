"""The edge's SERVER span for each HTTP request and WebSocket, while tracing is on.

The decision is the services' own (``tracing.rpc_context``): the caller's ``traceparent`` when
there is one, else the sample ratio, made before any span. A request that is not recorded gets
no span object: it runs in a context that carries the caller's span (or a non-recording one of a
new trace id), so the edge's calls upstream pass the decision on, and the library
instrumentations (the rate limiter's Redis) are off in it. A recorded request's span is named
after its HTTP method (the pipeline renames it after the RPC once it knows it: paths carry ids,
never span names) and carries the HTTP semantic conventions' method, scheme, path, protocol
version and response status; a 5xx marks it as an error.

Until 2026-12 this was OpenTelemetry's ASGI middleware. It computed every request's attributes
and wrapped its ``send``, recorded or not: at a 1% ratio the edge then lost 15-20% of its
throughput (``python -m bench tracing``), where the services lose 2-3%.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, StatusCode, Tracer

from services.kit import tracing

#: Never traced: probes and scrapes.
UNTRACED = frozenset({"/healthz", "/metrics"})
_CARRIED = (b"traceparent", b"tracestate")


class ServerSpans:
    """ASGI middleware: the request's SERVER span (module docstring)."""

    def __init__(self, app: Any, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if (kind != "http" and kind != "websocket") or scope.get("path") in UNTRACED:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in _CARRIED
        }
        context, recorded = tracing.rpc_context(carrier)
        if not recorded:
            token = tracing.attach(context)
            try:
                await self.app(scope, receive, send)
            finally:
                tracing.detach(token)
            return
        method = scope.get("method") or "GET"  # a WebSocket opens with a GET
        attributes = {
            "http.request.method": method,
            "url.scheme": scope.get("scheme") or ("ws" if kind == "websocket" else "http"),
            "url.path": scope.get("path", ""),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        with self.tracer.start_as_current_span(
            method, context=context, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def traced_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            await self.app(scope, receive, traced_send)
