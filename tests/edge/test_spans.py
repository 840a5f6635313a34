"""The edge's SERVER-span middleware (services/edge/spans.py) alone, over an in-memory exporter:
which requests get a span, what it carries, and what a request that is not recorded runs in. The
whole path (edge -> services -> stores in a real Jaeger) is tests/observability/test_tracing.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.edge.spans import ServerSpans
from services.kit import tracing

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class _App:
    """Answers ``status`` and notes the span context and instrumentation state it ran in."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[trace.SpanContext, bool]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append((trace.get_current_span().get_span_context(), is_instrumentation_enabled()))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, trace.Tracer]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter, provider.get_tracer("test")
    finally:
        provider.shutdown()
        tracing.configure(tracing.TracingSettings())


def _scope(path: str = "/v1/users/me", kind: str = "http", **headers: str) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": kind,
        "path": path,
        "scheme": "https" if kind == "http" else "wss",
        "http_version": "2",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    if kind == "http":
        scope["method"] = "POST"
    return scope


async def _serve(middleware: ServerSpans, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


async def test_a_recorded_request_has_one_server_span_with_the_http_conventions(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    app = _App()
    sent = await _serve(ServerSpans(app, tracer), _scope())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    [span] = exporter.get_finished_spans()
    assert span.name == "POST" and span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.scheme": "https",
        "url.path": "/v1/users/me",
        "network.protocol.version": "2",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    [(context, instrumented)] = app.seen
    assert span.context is not None and context.span_id == span.context.span_id and instrumented


@pytest.mark.parametrize("status", [500, 503])
async def test_a_5xx_answer_marks_the_span_as_an_error(
    exported: tuple[InMemorySpanExporter, trace.Tracer], status: int
) -> None:
    exporter, tracer = exported
    await _serve(ServerSpans(_App(status), tracer), _scope())
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["http.response.status_code"] == status
    assert span.status.status_code is StatusCode.ERROR


async def test_a_4xx_answer_is_not_the_servers_error(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    await _serve(ServerSpans(_App(404), tracer), _scope())
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
async def test_probes_and_scrapes_are_never_traced(
    exported: tuple[InMemorySpanExporter, trace.Tracer], path: str
) -> None:
    exporter, tracer = exported
    app = _App()
    sent = await _serve(ServerSpans(app, tracer), _scope(path))
    assert sent[0]["status"] == 200 and app.seen
    assert exporter.get_finished_spans() == ()


async def test_a_websocket_gets_a_get_span_with_its_scheme(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    await _serve(ServerSpans(_App(), tracer), _scope("/ws/signaling", kind="websocket"))
    [span] = exporter.get_finished_spans()
    assert span.name == "GET" and span.attributes is not None
    assert span.attributes["url.scheme"] == "wss" and span.attributes["url.path"] == "/ws/signaling"


async def test_lifespan_passes_through(exported: tuple[InMemorySpanExporter, trace.Tracer]) -> None:
    exporter, tracer = exported
    app = _App()
    await _serve(ServerSpans(app, tracer), {"type": "lifespan"})
    assert len(app.seen) == 1 and exporter.get_finished_spans() == ()


async def test_at_ratio_zero_a_request_gets_no_span_and_runs_untraced_in_a_new_trace(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    tracing.configure(tracing.TracingSettings(sample_ratio=0.0))
    app = _App()
    middleware = ServerSpans(app, tracer)
    await _serve(middleware, _scope())
    await _serve(middleware, _scope())
    assert exporter.get_finished_spans() == ()
    (first, first_instrumented), (second, _) = app.seen
    # a non-recording span of its own trace, so calls upstream carry "not sampled" on
    assert first.is_valid and not first.trace_flags.sampled and first.trace_id != second.trace_id
    assert not first_instrumented  # the library instrumentations are off in it
    assert not trace.get_current_span().get_span_context().is_valid  # and the context was restored


async def test_a_callers_sampled_traceparent_is_followed_whatever_the_ratio(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    tracing.configure(tracing.TracingSettings(sample_ratio=0.0))
    await _serve(ServerSpans(_App(), tracer), _scope(traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
    [span] = exporter.get_finished_spans()
    assert isinstance(span, ReadableSpan) and span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert f"{span.parent.span_id:016x}" == CALLER_SPAN


async def test_a_callers_not_sampled_traceparent_is_followed_whatever_the_ratio(
    exported: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = exported
    app = _App()
    await _serve(ServerSpans(app, tracer), _scope(traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"))
    assert exporter.get_finished_spans() == ()
    [(context, instrumented)] = app.seen
    assert f"{context.trace_id:032x}" == CALLER_TRACE and not context.trace_flags.sampled
    assert not instrumented
