"""Telemetry for every meetmesh process, services and edge alike: one Prometheus registry per
process, the RPC metrics with the standard ``grpc_server_*`` names (as go-grpc-prometheus names
them), the edge's request metrics (``edge_requests_total``, ``edge_request_duration_seconds``) and
its access log.

Metric names are stable: dashboards, alerts, tests and the benchmarks read them. Access logs carry
no personal data (no addresses, tokens, paths with ids or bodies).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: Latency buckets (seconds) of every duration histogram.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

_access_log = logging.getLogger("meetmesh.edge.access")


class Telemetry:
    """One process's metrics registry and its exposition (``/metrics``)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()

    def counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: list[str]) -> Histogram:
        return Histogram(name, documentation, labels, buckets=LATENCY_BUCKETS, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: list[str]) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class ServerMetrics:
    """The metrics of one gRPC server."""

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self.telemetry = telemetry or Telemetry()
        self.registry = self.telemetry.registry
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        t = self.telemetry
        self.started = t.counter("grpc_server_started_total", "RPCs started on the server.", labels)
        self.handled = t.counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure.",
            [*labels, "grpc_code"],
        )
        self.msg_received = t.counter("grpc_server_msg_received_total", "Stream messages received.", labels)
        self.msg_sent = t.counter("grpc_server_msg_sent_total", "Stream messages sent.", labels)
        self.handling = t.histogram(
            "grpc_server_handling_seconds", "Response latency of RPCs handled by the server.", labels
        )
        self._methods: dict[tuple[str, str, str], MethodMetrics] = {}

    def method(self, labels: tuple[str, str, str]) -> MethodMetrics:
        """The metric children of one method (type, service, method), made on first use."""
        children = self._methods.get(labels)
        if children is None:
            children = self._methods[labels] = MethodMetrics(self, labels)
        return children


class MethodMetrics:
    """One method's metric children, resolved once instead of on every call."""

    def __init__(self, metrics: ServerMetrics, labels: tuple[str, str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self.started = metrics.started.labels(*labels)
        self.handling = metrics.handling.labels(*labels)
        self.msg_received = metrics.msg_received.labels(*labels)
        self.msg_sent = metrics.msg_sent.labels(*labels)
        self._handled: dict[str, Any] = {}

    def handled(self, code: str) -> Any:
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = self._metrics.handled.labels(*self._labels, code)
        return child


class RequestMetrics:
    """Requests answered over HTTP (the edge): counts by protocol, RPC and code, latency by
    protocol, and one access-log line per request."""

    def __init__(self, telemetry: Telemetry | None = None, *, access_log: bool = True) -> None:
        self.telemetry = telemetry or Telemetry()
        self._access_log = access_log
        self._requests = self.telemetry.counter(
            "edge_requests", "Requests answered by the edge", ["protocol", "rpc", "code"]
        )
        self._duration = self.telemetry.histogram(
            "edge_request_duration_seconds", "Time to answer a request", ["protocol"]
        )
        # Label children by label values (prometheus_client's labels() costs more than a lookup).
        self._counted: dict[tuple[str, str, str], Any] = {}
        self._timed: dict[str, Any] = {}

    def record(
        self,
        *,
        protocol: str,
        rpc: str,
        http_status: int,
        grpc_status: int | None,
        started: float,
        http_method: str,
    ) -> None:
        """One answered request; ``started`` is its ``time.perf_counter()`` at arrival."""
        elapsed = time.perf_counter() - started
        code = str(grpc_status if grpc_status is not None else http_status)
        key = (protocol, rpc, code)
        counted = self._counted.get(key)
        if counted is None:
            counted = self._counted[key] = self._requests.labels(protocol, rpc, code)
        counted.inc()
        timed = self._timed.get(protocol)
        if timed is None:
            timed = self._timed[protocol] = self._duration.labels(protocol)
        timed.observe(elapsed)
        if self._access_log and _access_log.isEnabledFor(logging.INFO):
            _access_log.info(
                "access",
                extra={
                    "protocol": protocol,
                    "method": http_method,
                    "rpc": rpc,
                    "http_status": http_status,
                    "grpc_status": grpc_status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
