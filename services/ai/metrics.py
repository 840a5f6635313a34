"""The ai service's domain metrics (Prometheus), one set per process.

Triton's own server-side figures per model (queue and compute time, ``nv_inference_*``) come from
its metrics port, which Prometheus scrapes as job ``triton``; these are the client's side.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import Collector

INFERENCE_SECONDS = Histogram(
    "meetmesh_ai_inference_seconds",
    "Time of one Triton inference call as the ai service sees it (queue, compute and transfer).",
    ["model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
INFERENCE_FAILURES = Counter(
    "meetmesh_ai_inference_failures", "Triton inference calls that failed.", ["model"], registry=None
)
TRITON_READY = Gauge(
    "meetmesh_ai_triton_ready",
    "1 while the last call to Triton (inference or readiness check) reached it, else 0.",
    registry=None,
)
CAPTION_LATENCY = Histogram(
    "meetmesh_ai_caption_latency_seconds",
    "From the end of speech (final) or the decode's start (interim) to the caption being sent.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
    registry=None,
)
SEGMENTS = Counter(
    "meetmesh_ai_stream_segments",
    "Utterances analysed in live streams (each one a transcript segment when it has text).",
    registry=None,
)


def collectors() -> list[Collector]:
    return [INFERENCE_SECONDS, INFERENCE_FAILURES, TRITON_READY, CAPTION_LATENCY, SEGMENTS]
