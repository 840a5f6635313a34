"""meetmesh's Grafana dashboards as code (grafanalib), written to ``deploy/grafana/<uid>.json`` by
``tools/gen_observability.py``.

Four dashboards: the platform overview, one service (a ``$job`` variable), media quality and AI.
Every panel reads metrics the services export (``grpc_server_*``, ``edge_*``, ``meetmesh_*``),
Triton's ``nv_inference_*`` or the recording rules in ``deploy/prometheus/rules``. The same queries
feed the web client's admin status page (``STATUS_CHARTS``, served by the edge's admin_status.py,
which must not need grafanalib: it is imported only to render), and a test runs each one against
a real Prometheus after load (``tests/observability``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # grafanalib (a dev dependency) only to render; the edge reads STATUS_CHARTS
    from grafanalib import core as g

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SERVICES_RE = "user|meeting|signaling|media|ai|notification|edge"
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: Sequence[Query]
    unit: str = "short"
    description: str = ""
    stat: bool = False  # a single number instead of a time series


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    panels: Sequence[Panel]
    variables: dict[str, str] = field(default_factory=dict)  # name -> label_values() query


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


OVERVIEW = Board(
    "meetmesh-overview",
    "meetmesh: platform overview",
    "Is meetmesh up, how busy is it, and is it failing or slow anywhere?",
    [
        Panel("Services up", [q(f'sum by (job) (up{{job=~"{SERVICES_RE}"}})', "{{job}}")], stat=True),
        Panel("Active meetings", [q("sum(meetmesh_meetings_active)", "meetings")], stat=True),
        Panel("Active participants", [q("sum(meetmesh_participants_active)", "participants")], stat=True),
        Panel(
            "Calls per second by service",
            [q(f"sum by (job) (rate(grpc_server_handled_total[{RATE}]))", "{{job}}")],
            unit="reqps",
        ),
        Panel(
            "Server error ratio by service (5m)",
            [q("job:grpc_server_errors:ratio_rate5m", "{{job}}")],
            unit="percentunit",
            description="INTERNAL, UNAVAILABLE, UNKNOWN, DATA_LOSS and DEADLINE_EXCEEDED over all calls.",
        ),
        Panel(
            "p99 latency of unary calls by service (5m)",
            [q("job:grpc_server_handling_seconds:p99_5m", "{{job}}")],
            unit="s",
        ),
        Panel(
            "Edge requests per second by protocol",
            [q(f"sum by (protocol) (rate(edge_requests_total[{RATE}]))", "{{protocol}}")],
            unit="reqps",
        ),
        Panel(
            "Edge p95 latency by protocol",
            [
                q(
                    f"histogram_quantile(0.95, sum by (protocol, le) "
                    f"(rate(edge_request_duration_seconds_bucket[{RATE}])))",
                    "{{protocol}}",
                )
            ],
            unit="s",
        ),
    ],
)

SERVICE = Board(
    "meetmesh-service",
    "meetmesh: one service",
    "RED metrics of one service (choose it above), method by method.",
    [
        Panel(
            "Calls per second by method",
            [
                q(
                    f'sum by (grpc_method) (rate(grpc_server_handled_total{{job="$job"}}[{RATE}]))',
                    "{{grpc_method}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Failed calls per second by code",
            [
                q(
                    "sum by (grpc_code) "
                    f'(rate(grpc_server_handled_total{{job="$job", grpc_code!="OK"}}[{RATE}]))',
                    "{{grpc_code}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "p50 and p99 latency by method",
            [
                q(
                    f"histogram_quantile({p}, sum by (grpc_method, le) "
                    f'(rate(grpc_server_handling_seconds_bucket{{job="$job"}}[{RATE}])))',
                    f"{{{{grpc_method}}}} p{int(p * 100)}",
                )
                for p in (0.5, 0.99)
            ],
            unit="s",
        ),
        Panel(
            "Calls in flight",
            [
                q(
                    'sum(grpc_server_started_total{job="$job"}) - sum(grpc_server_handled_total{job="$job"})',
                    "in flight",
                )
            ],
        ),
        Panel(
            "CPU (cores)",
            [q(f'rate(process_cpu_seconds_total{{job="$job"}}[{RATE}])', "{{instance}}")],
            unit="none",
        ),
        Panel(
            "Resident memory", [q('process_resident_memory_bytes{job="$job"}', "{{instance}}")], unit="bytes"
        ),
    ],
    variables={"job": f'label_values(up{{job=~"{SERVICES_RE}"}}, job)'},
)

MEDIA = Board(
    "meetmesh-media",
    "meetmesh: media quality",
    "What the SFU forwards and how well: tracks, bitrate, loss, repair requests, time to first frame.",
    [
        Panel("Meetings with media", [q("sum(meetmesh_media_meetings_active)", "meetings")], stat=True),
        Panel("Peer connections", [q("sum(meetmesh_media_peers_active)", "peers")], stat=True),
        Panel(
            "Published and forwarded tracks",
            [
                q("sum by (kind) (meetmesh_media_published_tracks)", "published {{kind}}"),
                q("sum by (kind) (meetmesh_media_forwarded_tracks)", "forwarded {{kind}}"),
            ],
        ),
        Panel(
            "Bitrate in and out",
            [
                q(f"sum by (kind) (rate(meetmesh_media_received_bytes_total[{RATE}])) * 8", "in {{kind}}"),
                q(f"sum by (kind) (rate(meetmesh_media_forwarded_bytes_total[{RATE}])) * 8", "out {{kind}}"),
            ],
            unit="bps",
        ),
        Panel(
            "Packet loss from publishers",
            [
                q(
                    f"sum by (kind) (rate(meetmesh_media_rtp_packets_lost_total[{RATE}])) / "
                    f"(sum by (kind) (rate(meetmesh_media_rtp_packets_received_total[{RATE}])) + "
                    f"sum by (kind) (rate(meetmesh_media_rtp_packets_lost_total[{RATE}])))",
                    "{{kind}}",
                )
            ],
            unit="percentunit",
        ),
        Panel(
            "NACK and PLI sent to publishers",
            [
                q(f"sum by (kind) (rate(meetmesh_media_nack_sent_total[{RATE}]))", "NACK {{kind}}"),
                q(f"sum(rate(meetmesh_media_pli_sent_total[{RATE}]))", "PLI"),
            ],
            unit="reqps",
        ),
        Panel(
            "Join to first frame (p50, p95)",
            [
                q(
                    f"histogram_quantile({p}, sum by (le) "
                    f"(rate(meetmesh_media_join_to_first_frame_seconds_bucket[{RATE}])))",
                    f"p{int(p * 100)}",
                )
                for p in (0.5, 0.95)
            ],
            unit="s",
        ),
        Panel(
            "SFU CPU (cores)",
            [q('job:process_cpu_seconds:rate1m{job="media"}', "{{instance}}")],
            unit="none",
            description="One event loop per node: above 0.85 the MeetmeshSFUCPUSaturated alert fires.",
        ),
    ],
)

AI = Board(
    "meetmesh-ai",
    "meetmesh: AI",
    "Triton and the live analysis: inference time per model, queueing, failures, caption latency.",
    [
        Panel(
            "Triton ready",
            [q("max(meetmesh_ai_triton_ready)", "ready"), q('max(up{job="triton"})', "scraped")],
            stat=True,
        ),
        Panel(
            "Inference p95 per model (ai service's view)",
            [
                q(
                    "histogram_quantile(0.95, sum by (model, le) "
                    f"(rate(meetmesh_ai_inference_seconds_bucket[{RATE}])))",
                    "{{model}}",
                )
            ],
            unit="s",
        ),
        Panel(
            "Inferences per second per model",
            [q(f"sum by (model) (rate(meetmesh_ai_inference_seconds_count[{RATE}]))", "{{model}}")],
            unit="reqps",
        ),
        Panel(
            "Triton queue time per request, per model (5m)",
            [q("model:triton_queue_seconds:mean_rate5m", "{{model}}")],
            unit="s",
        ),
        Panel(
            "Triton compute time per request, per model (5m)",
            [q("model:triton_compute_seconds:mean_rate5m", "{{model}}")],
            unit="s",
        ),
        Panel(
            "Caption latency (p95)",
            [
                q(
                    f"histogram_quantile(0.95, sum by (kind, le) "
                    f"(rate(meetmesh_ai_caption_latency_seconds_bucket[{RATE}])))",
                    "{{kind}}",
                )
            ],
            unit="s",
        ),
        Panel(
            "Analysed utterances per second",
            [q(f"sum(rate(meetmesh_ai_stream_segments_total[{RATE}]))", "utterances")],
            unit="reqps",
        ),
    ],
)

BOARDS: tuple[Board, ...] = (OVERVIEW, SERVICE, MEDIA, AI)


@dataclass(frozen=True)
class StatusChart:
    """One chart of the web client's admin status page: an overview panel's first query, with
    Grafana's ``$__rate_interval`` made concrete (the edge runs it as a range query)."""

    key: str
    panel: Panel

    @property
    def query(self) -> Query:
        first = self.panel.queries[0]
        return Query(first.expr.replace(RATE, "1m"), first.legend)


#: The admin status page's charts (clients/web, through the edge's ``/v1/admin/status``): the
#: overview's first six panels. This fixed list is all the edge ever asks Prometheus.
STATUS_CHARTS: tuple[StatusChart, ...] = tuple(
    StatusChart(key, OVERVIEW.panels[i])
    for i, key in enumerate(("up", "meetings", "participants", "rps", "errors", "p99"))
)
STATUS_QUERIES: dict[str, str] = {chart.key: chart.query.expr for chart in STATUS_CHARTS}


def _panel(panel: Panel, index: int) -> g.Panel:
    from grafanalib import core as g

    targets = [
        g.Target(expr=query.expr, legendFormat=query.legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
        for i, query in enumerate(panel.queries)
    ]
    common: dict[str, Any] = {
        "title": panel.title,
        "description": panel.description,
        "dataSource": DATASOURCE,
        "targets": targets,
        "id": index + 1,
    }
    if panel.stat:
        return g.Stat(**common, format=panel.unit, reduceCalc="lastNotNull", graphMode="none")
    return g.TimeSeries(**common, unit=panel.unit)


def _layout(panels: list[g.Panel], boards: Sequence[Panel]) -> None:
    from grafanalib import core as g

    x = y = row_height = 0
    for panel, spec in zip(panels, boards, strict=True):
        width, height = (6, 4) if spec.stat else (12, 8)
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        panel.gridPos = g.GridPos(h=height, w=width, x=x, y=y)
        x += width
        row_height = max(row_height, height)


def dashboard(board: Board) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    from grafanalib import core as g
    from grafanalib._gen import DashboardEncoder

    panels = [_panel(panel, i) for i, panel in enumerate(board.panels)]
    _layout(panels, board.panels)
    templates = [
        g.Template(
            name="datasource",
            query="prometheus",
            type="datasource",
            label="Prometheus",
        ),
        *(
            g.Template(name=name, query=query, dataSource=DATASOURCE, label=name, refresh=2)
            for name, query in board.variables.items()
        ),
    ]
    model = g.Dashboard(
        title=board.title,
        description=board.description,
        uid=board.uid,
        tags=["meetmesh"],
        panels=panels,
        templating=g.Templating(list=templates),
        refresh="30s",
        timezone="utc",
    ).auto_panel_ids()
    encoded: dict[str, Any] = json.loads(json.dumps(model.to_json_data(), cls=DashboardEncoder))
    return encoded


def render_all() -> dict[str, str]:
    """``file name -> JSON text`` for every dashboard (what ``deploy/grafana/`` holds)."""
    return {
        f"{board.uid}.json": json.dumps(dashboard(board), indent=2, sort_keys=True) + "\n" for board in BOARDS
    }


def panel_queries(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query of a Grafana dashboard JSON model."""
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            yield panel.get("title", ""), target["expr"]


def variables(model: dict[str, Any]) -> list[str]:
    return [t["name"] for t in model.get("templating", {}).get("list", []) if t.get("type") == "query"]


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
