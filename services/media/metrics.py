"""The SFU's domain metrics (Prometheus), one set per process.

Counters are incremented on the forwarding path (a plain ``inc()`` each, no allocation); gauges of
what is live now are read from the SFU when Prometheus scrapes. Units are in the names: bytes,
seconds, packets. Bitrate is ``rate(..._bytes_total[1m]) * 8``; loss ratio is
``rate(lost) / (rate(received) + rate(lost))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .relay import Relays
    from .sfu import Sfu

RECEIVED_BYTES = Counter(
    "meetmesh_media_received_bytes", "Encoded media bytes received from publishers.", ["kind"], registry=None
)
FORWARDED_BYTES = Counter(
    "meetmesh_media_forwarded_bytes", "Encoded media bytes forwarded to subscribers.", ["kind"], registry=None
)
RTP_RECEIVED = Counter(
    "meetmesh_media_rtp_packets_received", "RTP packets received from publishers.", ["kind"], registry=None
)
RTP_LOST = Counter(
    "meetmesh_media_rtp_packets_lost",
    "RTP packets missing on arrival from publishers (sequence gaps, before any retransmission).",
    ["kind"],
    registry=None,
)
NACK_SENT = Counter(
    "meetmesh_media_nack_sent",
    "RTCP generic NACKs the SFU sent to publishers (retransmission requests).",
    ["kind"],
    registry=None,
)
RETRANSMITTED = Counter(
    "meetmesh_media_rtp_retransmitted",
    "RTP packets the SFU sent again to subscribers on their NACKs (from its per-down-track history).",
    ["kind"],
    registry=None,
)
PLI_SENT = Counter(
    "meetmesh_media_pli_sent",
    "RTCP picture loss indications the SFU sent to publishers (keyframe requests).",
    registry=None,
)
JOIN_TO_FIRST_FRAME = Histogram(
    "meetmesh_media_join_to_first_frame_seconds",
    "From a participant's first negotiation with the SFU to the first frame forwarded to it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
    registry=None,
)

RECEIVED_VIDEO, RECEIVED_AUDIO = RECEIVED_BYTES.labels("video"), RECEIVED_BYTES.labels("audio")
FORWARDED_VIDEO, FORWARDED_AUDIO = FORWARDED_BYTES.labels("video"), FORWARDED_BYTES.labels("audio")


def is_relay(participant: str) -> bool:
    return participant.startswith("relay:")  # sfu.RELAY_PREFIX (not imported: sfu imports this module)


class SfuCollector(Collector):
    """Gauges of what the SFU holds now: meetings with media, peers, published and forwarded tracks."""

    def __init__(self, sfu: Sfu, relays: Callable[[], Relays | None] = lambda: None) -> None:
        self._sfu = sfu
        self._relays = relays

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rooms = [room for room in list(self._sfu.rooms.values()) if room.peers]
        published = GaugeMetricFamily(
            "meetmesh_media_published_tracks", "Tracks published to this media instance.", labels=["kind"]
        )
        forwarded = GaugeMetricFamily(
            "meetmesh_media_forwarded_tracks",
            "Down-tracks this media instance forwards (one per subscriber and track).",
            labels=["kind"],
        )
        counts = {"audio": [0, 0], "video": [0, 0]}
        for room in rooms:
            for _, source in list(room.sources.values()):
                count = counts.setdefault(source.kind, [0, 0])
                count[0] += 1
                count[1] += len(source.subscribers)
        for kind, (pub, fwd) in counts.items():
            published.add_metric([kind], pub)
            forwarded.add_metric([kind], fwd)
        yield GaugeMetricFamily(
            "meetmesh_media_meetings_active", "Meetings with media on this instance.", value=len(rooms)
        )
        yield GaugeMetricFamily(
            "meetmesh_media_peers_active",
            "Participants' peer connections on this instance.",
            value=sum(len(room.peers) for room in rooms),
        )
        yield published
        yield forwarded
        relays = self._relays()
        links = list(relays.links.values()) if relays is not None else []
        relay_count = GaugeMetricFamily(
            "meetmesh_media_relays",
            "Node-to-node relay connections (cascading): 'in' this node pulls from other nodes, "
            "'out' other nodes pull from this one. One per meeting and direction.",
            labels=["direction"],
        )
        served = sum(1 for room in list(self._sfu.rooms.values()) for p in list(room.peers) if is_relay(p))
        relay_count.add_metric(["in"], len(links))
        relay_count.add_metric(["out"], served)
        yield relay_count
        yield GaugeMetricFamily(
            "meetmesh_media_relayed_tracks",
            "Tracks this node receives over relays from other nodes.",
            value=sum(len(link.tracks) for link in links),
        )


def collectors(sfu: Sfu, relays: Callable[[], Relays | None] = lambda: None) -> list[Collector]:
    """Everything the media service exposes on /metrics beside the RPC metrics."""
    return [RECEIVED_BYTES, FORWARDED_BYTES, RTP_RECEIVED, RTP_LOST, NACK_SENT, PLI_SENT, RETRANSMITTED,
            JOIN_TO_FIRST_FRAME, SfuCollector(sfu, relays)]  # fmt: skip
