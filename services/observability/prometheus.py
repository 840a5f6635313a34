"""Prometheus and Alertmanager configuration, generated from the service registry.

Every service answers ``GET /metrics`` on its HTTP side port (``PlatformSettings.<name>.http_port``);
Prometheus scrapes each as a job named after the service (``job="meeting"``), plus the edge and
Triton's own metrics port. The rules under ``deploy/prometheus/rules/`` read those job names.
The same functions write the deployment files (``tools/gen_observability.py``) and the
configuration of the Prometheus that tests and ``meetmesh up --observability`` run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.kit import PlatformSettings
from services.registry import SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"

#: The job names of the services (the registry's, plus the notification service's side port).
SERVICE_JOBS: tuple[str, ...] = (*SERVICES, *(("notification",) if "notification" not in SERVICES else ()))


def scrape_targets(
    settings: PlatformSettings,
    *,
    services: Sequence[str] | None = None,
    edge: str | None = None,
    triton: str | None = None,
) -> dict[str, list[str]]:
    """``job -> [host:port]`` for each service's side port (``services``: default every registered
    one), the edge (``host:port``) and Triton's metrics port when given."""
    targets: dict[str, list[str]] = {}
    for name in services if services is not None else SERVICES:
        endpoint = settings.endpoint(name)
        targets[name] = [f"{endpoint.host}:{endpoint.http_port}"]
    if edge:
        targets["edge"] = [edge]
    if triton:
        targets["triton"] = [triton]
    return targets


def prometheus_config(
    targets: Mapping[str, Sequence[str]],
    *,
    rule_files: Sequence[str | Path] = (),
    alertmanagers: Sequence[str] = (),
    scrape_interval_s: float = 15,
    evaluation_interval_s: float | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``prometheus.yml`` document (as a dict) scraping ``targets`` job by job."""

    def seconds(value: float) -> str:
        return f"{int(value * 1000)}ms" if value < 1 or value != int(value) else f"{int(value)}s"

    config: dict[str, Any] = {
        "global": {
            "scrape_interval": seconds(scrape_interval_s),
            "evaluation_interval": seconds(evaluation_interval_s or scrape_interval_s),
            **({"external_labels": dict(labels)} if labels else {}),
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "scrape_timeout": seconds(min(10.0, scrape_interval_s)),
                "static_configs": [{"targets": list(addresses)}],
            }
            for job, addresses in targets.items()
        ],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


def alertmanager_config(
    receiver_url: str,
    *,
    group_wait_s: float = 30,
    group_interval_s: float = 300,
    repeat_interval_s: float = 4 * 3600,
    token_file: str | Path | None = None,
) -> dict[str, Any]:
    """An ``alertmanager.yml`` routing every alert, grouped by alert and job, to one webhook: the
    notification service's Alertmanager receiver (``POST /alertmanager`` on its side port).
    ``token_file``: a file holding the bearer token the receiver wants
    (``MEETMESH_NOTIFICATION__ALERTMANAGER_TOKEN``), sent as ``Authorization: Bearer``."""

    def seconds(value: float) -> str:
        return f"{int(value * 1000)}ms" if value != int(value) else f"{int(value)}s"

    return {
        "route": {
            "receiver": "meetmesh-notification",
            "group_by": ["alertname", "job"],
            "group_wait": seconds(group_wait_s),
            "group_interval": seconds(group_interval_s),
            "repeat_interval": seconds(repeat_interval_s),
            "routes": [],
        },
        "receivers": [
            {
                "name": "meetmesh-notification",
                "webhook_configs": [
                    {
                        "url": receiver_url,
                        "send_resolved": True,
                        **(
                            {
                                "http_config": {
                                    "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                                }
                            }
                            if token_file is not None
                            else {}
                        ),
                    }
                ],
            }
        ],
        "inhibit_rules": [
            {
                # A service that is down also fails its calls: page once, for the outage.
                "source_matchers": ['alertname="MeetmeshServiceDown"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["job"],
            }
        ],
    }
