"""Helpers of the observability tests: Prometheus over the deploy rules, a webhook receiver that
records Alertmanager's posts, and the dashboards' queries run against a real Prometheus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.observability import RULES_DIR, prometheus_config
from services.observability import dashboards as boards
from services.stack.observability import PrometheusServer
from tests.edge.harness import start_uvicorn, stop_uvicorn

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
#: What Grafana's $__rate_interval becomes in the tests (scrapes every second; several samples).
RATE_WINDOW = "20s"


def fast_rules(folder: Path, shorter_for: Mapping[str, str]) -> Path:
    """A copy of the deploy rules with some alerts' ``for`` shortened (a test cannot wait minutes);
    everything else as deployed."""
    groups = yaml.safe_load((RULES_DIR / "meetmesh.yml").read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in shorter_for:
                rule["for"] = shorter_for[rule["alert"]]
    path = folder / "meetmesh.yml"
    path.write_text(yaml.safe_dump(groups, sort_keys=False))
    return path


def start_prometheus(
    folder: Path, targets: Mapping[str, Sequence[str]], alertmanager: str | None = None, **shorter_for: str
) -> PrometheusServer:
    folder.mkdir(parents=True, exist_ok=True)
    rules = fast_rules(folder, shorter_for)
    config = prometheus_config(
        targets,
        rule_files=[rules],
        alertmanagers=[alertmanager] if alertmanager else [],
        scrape_interval_s=1,
        evaluation_interval_s=1,
    )
    return PrometheusServer(config, folder / "server").start()  # type: ignore[return-value]


async def query(prom: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(prom.query, expr)


def dashboard(uid: str) -> dict[str, Any]:
    """The committed dashboard JSON (what Grafana would load)."""
    model: dict[str, Any] = json.loads((GRAFANA / f"{uid}.json").read_text())
    return model


async def empty_panels(prom: PrometheusServer, uid: str, **variables: str) -> list[str]:
    """Every query of a committed dashboard run against ``prom`` (``$__rate_interval`` and the
    dashboard's variables filled in); returns the panels whose query came back empty or failed."""
    model = dashboard(uid)
    assert set(boards.variables(model)) == set(variables), "give every dashboard variable a value"
    bad = []
    for title, expr in boards.panel_queries(model):
        concrete = expr.replace("$__rate_interval", RATE_WINDOW)
        for name, value in variables.items():
            concrete = concrete.replace(f"${name}", value)
        try:
            result = await query(prom, concrete)
        except ValueError as error:
            bad.append(f"{title}: {error}")
            continue
        if not result:
            bad.append(f"{title}: no series for {concrete}")
    return bad


class WebhookReceiver:
    """An HTTP endpoint that records what Alertmanager posts: the dashboards' test checks the
    payload itself here; test_alert_delivery.py sends alerts to the real notification service."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.port = 0
        self._server: Any = None

    async def _receive(self, request: Request) -> Response:
        self.posts.append(await request.json())
        return Response(status_code=200)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/alertmanager", self._receive, methods=["POST"])])
        self._server, self.port = await start_uvicorn(app)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alertmanager"

    async def stop(self) -> None:
        if self._server is not None:
            await stop_uvicorn(self._server)

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        return [
            alert
            for post in self.posts
            for alert in post.get("alerts", [])
            if alert["status"] == "firing"
            and alert["labels"].get("alertname") == alertname
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]


def retarget(prom: PrometheusServer, targets: Mapping[str, Sequence[str]]) -> None:
    """Point the running Prometheus's jobs at new addresses (a restarted service's new port)."""
    jobs = [
        job | {"static_configs": [{"targets": list(targets[job["job_name"]])}]}
        if job["job_name"] in targets
        else job
        for job in prom.config["scrape_configs"]
    ]
    prom.reload({**prom.config, "scrape_configs": jobs})
