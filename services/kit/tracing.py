"""Distributed tracing with OpenTelemetry, shared by the services and the edge.

Off unless ``MEETMESH_TRACING__ENDPOINT`` names an OTLP/gRPC collector (Jaeger v2 takes OTLP on
4317); then every process sends spans there, sampled at ``MEETMESH_TRACING__SAMPLE_RATIO`` (a root
decision, followed by every service downstream: W3C ``traceparent`` in the gRPC metadata and HTTP
headers). Each service gets a tracer provider of its own, so traces show ``meeting``, ``user``,
``edge`` as their services even when ``meetmesh up`` runs them in one process.

What makes spans (names and attributes follow OpenTelemetry's semantic conventions):

* the kit's server wrapper: one SERVER span per RPC (``rpc.system``, ``rpc.service``,
  ``rpc.method``, ``rpc.grpc.status_code``), its parent taken from the caller's ``traceparent``;
* ``TracedChannel`` (every channel the kit makes) and the edge's upstream client
  (``client_span``): one CLIENT span per call, and its ``traceparent`` put into the request's
  metadata;
* the edge: one SERVER span per recorded HTTP request or WebSocket (``services/edge/spans.py``:
  ``http.request.method``, ``url.path``, ``http.response.status_code``, ...), decided as the
  services decide (``rpc_context``);
* SQLAlchemy (per service's engine), Redis, and Triton's grpcio client: their instrumentations;
* the services' own spans for signaling sessions, media negotiations and AI stream segments
  (``span()``).

What costs nothing when a trace is not sampled: inside an RPC whose span is not recorded, and in
background loops (outbox relay, stream consumers, channel followers: ``quiet()``), the library
instrumentations are switched off (OpenTelemetry's suppression key), so that at a 1% sample ratio
the other 99% of calls pay for one sampling decision, not for a span per SQL statement and Redis
command; background polling also no longer starts root traces of its own. An unsampled call still
carries ``traceparent`` (flags 00) downstream, so that the next service follows the decision.

Log lines written inside a recorded span carry its ``trace_id`` and ``span_id`` (kit/logs.py).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from grpclib.client import Channel, Stream
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from multidict import MultiDict
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, Tracer
from pydantic import BaseModel, Field

log = logging.getLogger("meetmesh.kit.tracing")

#: Server-side codes that mark a span as failed (the server's fault, as the alert rules count).
SERVER_ERRORS = frozenset({"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "DEADLINE_EXCEEDED"})


class TracingSettings(BaseModel):
    """``MEETMESH_TRACING__<FIELD>``."""

    #: OTLP/gRPC endpoint of the collector (e.g. `http://127.0.0.1:4317`); empty: tracing off.
    endpoint: str = ""
    #: Fraction of traces recorded (a root's decision; downstream services follow it).
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    #: Prefix of the services' names in traces (`meetmesh-meeting`); empty: just the name.
    service_prefix: str = ""


class _State:
    def __init__(self) -> None:
        self.settings = TracingSettings()
        self.providers: dict[str, TracerProvider] = {}
        self.tracers: dict[str, Tracer] = {}
        self.lock = threading.Lock()
        self.instrumented = False


_state = _State()


def configure(settings: TracingSettings) -> None:
    """Set (or change) this process's tracing; ``endpoint=""`` turns it off. Providers made for an
    earlier configuration are flushed and shut down."""
    shutdown()
    _state.settings = settings
    if settings.endpoint:
        _instrument_libraries()


def enabled() -> bool:
    return bool(_state.settings.endpoint)


def provider(service: str) -> TracerProvider | None:
    """The tracer provider of ``service`` (made on first use), or None while tracing is off."""
    settings = _state.settings
    if not settings.endpoint:
        return None
    with _state.lock:
        found = _state.providers.get(service)
        if found is None:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            name = f"{settings.service_prefix}{service}"
            found = TracerProvider(
                resource=Resource.create({"service.name": name, "service.namespace": "meetmesh"}),
                sampler=ParentBased(_RootSampler(settings.sample_ratio)),
            )
            exporter = OTLPSpanExporter(endpoint=settings.endpoint, insecure=True)
            found.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
            _state.providers[service] = found
        return found


def tracer(service: str) -> Tracer | None:
    """The tracer of ``service`` (made once per provider: ``get_tracer`` builds a new one, under a
    lock, on every call), or None while tracing is off."""
    made = _state.tracers.get(service)
    if made is not None:
        return made
    found = provider(service)
    if found is None:
        return None
    made = _state.tracers[service] = found.get_tracer("meetmesh")
    return made


def flush(timeout_s: float = 5.0) -> None:
    """Export every finished span now (tests, shutdown)."""
    for found in list(_state.providers.values()):
        found.force_flush(int(timeout_s * 1000))


def shutdown() -> None:
    with _state.lock:
        providers, _state.providers = list(_state.providers.values()), {}
        _state.tracers = {}
    for found in providers:
        found.shutdown()


def _instrument_libraries() -> None:
    """Redis, asyncpg and Triton's grpcio client are instrumented process-wide, once (their spans go
    to the providers named ``redis``, ``postgresql``, ``triton-client``; they join the caller's
    trace)."""
    if _state.instrumented:
        return
    _state.instrumented = True
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=_ProviderProxy("redis"))
    asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    asyncpg.instrument(tracer_provider=_ProviderProxy("postgresql"))
    triton = GrpcAioInstrumentorClient()  # type: ignore[no-untyped-call]
    triton.instrument(tracer_provider=_ProviderProxy("triton-client"))


class _ProviderProxy(trace.TracerProvider):
    """A provider that resolves to the current configuration's provider when a tracer is asked for
    (instrumentations keep the provider they were given; configurations may change)."""

    def __init__(self, service: str) -> None:
        self._service = service

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        found = provider(self._service)
        if found is None:
            return trace.NoOpTracer()
        return found.get_tracer(*args, **kwargs)


def instrument_engine(engine: Any, service: str) -> None:
    """SQLAlchemy spans (``db.system``, ``db.statement``, ...) for one service's engine."""
    found = provider(service)
    if found is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # EngineTracer on this one engine, with this service's provider (SQLAlchemyInstrumentor is a
    # process-wide singleton that would also wrap every later create_engine with the first
    # provider). Its version check (sqlalchemy<2.1) is not applied: its engine events work on 2.1,
    # as the tracing test sees.
    usage = get_meter("meetmesh.kit.tracing").create_up_down_counter("db.client.connections.usage")
    EngineTracer(  # type: ignore[no-untyped-call]
        found.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
        getattr(engine, "sync_engine", engine),
        usage,
        enable_commenter=False,
    )


# -- sampling ------------------------------------------------------------------------------------
# Set in a context by the kit's server wrapper when it has sampled a new trace itself.
_SAMPLED_ROOT = otel_context.create_key("meetmesh-sampled-root")


class _RootSampler(Sampler):
    """A new trace's decision: what the kit's server wrapper decided (``rpc_context``), else
    ``ratio`` by trace id as ``TraceIdRatioBased`` does (the services' own spans, the edge)."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if parent_context is not None and parent_context.get(_SAMPLED_ROOT):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"MeetmeshRoot{{{self._ratio.get_description()}}}"


def _quiet(context: otel_context.Context) -> otel_context.Context:
    """``context`` with the library instrumentations switched off (OpenTelemetry's key)."""
    return otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, context)


def rpc_context(metadata: Mapping[str, Any] | None) -> tuple[otel_context.Context, bool]:
    """The context one RPC runs in, and whether it is to be recorded (then start its SERVER span in
    it). The decision is made here, before any span: a caller's ``traceparent`` decides when there
    is one, else this process's sample ratio. An RPC that is not recorded gets no span object of
    the SDK's at all: its context carries the caller's span (or a non-recording one of a new trace
    id), so that calls it makes pass the decision on, and the library instrumentations are off
    in it. At a 1% ratio this is what 99% of calls pay."""
    parent = extract(metadata) if metadata and "traceparent" in metadata else None
    if parent is not None:
        caller = trace.get_current_span(parent).get_span_context()
        if caller.is_valid:
            if caller.trace_flags.sampled:
                return parent, True
            return _quiet(parent), False
    if random.random() < _state.settings.sample_ratio:
        return otel_context.set_value(_SAMPLED_ROOT, True, parent), True
    new = SpanContext(
        trace_id=random.getrandbits(128) or 1,
        span_id=random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    unsampled = trace.set_span_in_context(NonRecordingSpan(new), parent)
    return _quiet(unsampled), False


# -- servers -------------------------------------------------------------------------------------
def server_span(
    tracer_: Tracer, method_path: str, context: otel_context.Context
) -> contextlib.AbstractContextManager[Span]:
    """The SERVER span of one recorded RPC (``/pkg.Service/Method``) in ``rpc_context``'s context."""
    service, _, method = method_path[1:].partition("/")
    return tracer_.start_as_current_span(
        method_path[1:],
        context=context,
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
        record_exception=False,
        set_status_on_exception=False,
    )


def attach(context: otel_context.Context) -> object:
    """Make ``context`` current (``rpc_context``'s, for an RPC that is not recorded)."""
    return otel_context.attach(context)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]


def quiet() -> None:
    """Switch the library instrumentations off for the rest of the current task (a background loop:
    call it first thing in the task's coroutine; the task's context is its own)."""
    otel_context.attach(_quiet(otel_context.get_current()))


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """The library instrumentations off inside the block (start-up work such as migrations)."""
    token = otel_context.attach(_quiet(otel_context.get_current()))
    try:
        yield
    finally:
        otel_context.detach(token)


def end_rpc(span: Span, code: str) -> None:
    """Record an RPC's outcome on its span (``code``: a grpclib status name)."""
    status = Status[code] if code in Status.__members__ else Status.UNKNOWN
    span.set_attribute("rpc.grpc.status_code", status.value)
    if code in SERVER_ERRORS:
        span.set_status(trace.StatusCode.ERROR, code)


@contextlib.contextmanager
def span(service: str, name: str, **attributes: Any) -> Iterator[Span | None]:
    """A span of the service's own (a session, a negotiation, a segment) under the current one;
    yields None when tracing is off."""
    found = tracer(service)
    if found is None:
        yield None
        return
    with found.start_as_current_span(name, attributes=attributes) as current:
        yield current


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current recorded span, as hex, for log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# -- clients -------------------------------------------------------------------------------------
class _TracedStream(Stream[Any, Any]):
    """A client stream that ends its CLIENT span when the call ends."""

    _span: Span
    _token: object

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        code = "OK"
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        except GRPCError as error:
            code = error.status.name
            raise
        except BaseException:
            code = "CANCELLED" if exc_type is None else "UNKNOWN"
            raise
        finally:
            if isinstance(exc_val, GRPCError):
                code = exc_val.status.name
            elif exc_val is not None and code == "OK":
                code = "UNKNOWN"
            end_rpc(self._span, code)
            self._span.end()


def client_span(service: str, name: str, host: str, port: int, metadata: Any) -> tuple[Span | None, Any]:
    """A CLIENT span for a call to ``name`` (``/package.Service/Method``) made by ``service``, and
    the metadata to send (carrying ``traceparent``). No span when tracing is off, the call is not
    sampled or there is no trace to continue (background work); a trace that is not sampled still
    passes its decision on. The caller ends the span (``end_rpc``, then ``end``)."""
    found = tracer(service)
    parent = trace.get_current_span() if found is not None else None
    if parent is None or not parent.is_recording():
        if parent is not None and parent.get_span_context().is_valid:
            carried_only: MultiDict[str] = MultiDict(metadata or ())
            inject(carried_only)
            return None, carried_only
        return None, metadata
    assert found is not None  # a recording parent means tracing is on
    rpc_service, _, method = name[1:].partition("/")
    current = found.start_span(
        name[1:],
        kind=SpanKind.CLIENT,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": rpc_service,
            "rpc.method": method,
            "server.address": host,
            "server.port": port,
        },
    )
    carried: MultiDict[str] = MultiDict(metadata or ())
    inject(carried, context=trace.set_span_in_context(current, otel_context.get_current()))
    return current, carried


class TracedChannel(Channel):
    """A grpclib channel whose calls make CLIENT spans and carry ``traceparent`` (when tracing is on
    for ``service``, the caller)."""

    def __init__(self, *args: Any, service: str = "client", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._service = service

    def request(
        self,
        name: str,
        cardinality: Cardinality,
        request_type: Any,
        reply_type: Any,
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> Stream[Any, Any]:
        current, metadata = client_span(self._service, name, self._host, self._port, metadata)
        stream = super().request(
            name, cardinality, request_type, reply_type, timeout=timeout, deadline=deadline, metadata=metadata
        )
        if current is None:
            return stream
        stream.__class__ = _TracedStream
        stream._span = current  # type: ignore[attr-defined]
        return stream
