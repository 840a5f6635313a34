"""Access logs (no personal data: no addresses, tokens, paths with ids or bodies) and metrics."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger("meetmesh.edge.access")


class Telemetry:
    def __init__(self, *, access_log: bool) -> None:
        self.registry = CollectorRegistry()
        self._access_log = access_log
        self._requests = Counter(
            "edge_requests",
            "Requests answered by the edge",
            ["protocol", "rpc", "code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "edge_request_duration_seconds",
            "Time to answer a request",
            ["protocol"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )

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
        elapsed = time.perf_counter() - started
        code = str(grpc_status if grpc_status is not None else http_status)
        self._requests.labels(protocol, rpc, code).inc()
        self._duration.labels(protocol).observe(elapsed)
        if self._access_log and log.isEnabledFor(logging.INFO):
            log.info(
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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
