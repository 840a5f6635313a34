"""Signaling's domain metrics, read from the hub's live sessions when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .hub import Hub


class SessionsCollector(Collector):
    """``meetmesh_meetings_active`` and ``meetmesh_participants_active``: meetings with at least one
    participant connected to this instance, and those participants."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sessions = list(self._hub.sessions)
        yield GaugeMetricFamily(
            "meetmesh_meetings_active",
            "Meetings with at least one participant connected to this signaling instance.",
            value=len({meeting for meeting, _ in sessions}),
        )
        yield GaugeMetricFamily(
            "meetmesh_participants_active",
            "Participants connected to this signaling instance.",
            value=len(sessions),
        )
