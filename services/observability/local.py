"""``meetmesh up --observability``: Prometheus, Alertmanager, Jaeger and VictoriaLogs beside the
platform on one machine, under ``./var/observability/<name>``.

Prometheus scrapes every service's side port, the edge and Triton (the settings' ports) with the
deploy rules; Alertmanager routes to the notification service's receiver; the services export
spans to Jaeger and push their logs to VictoriaLogs, and the edge answers the admin status page
from Prometheus (the environment ``start()`` returns sets all three).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.kit import PlatformSettings
from services.stack.observability import (
    AlertmanagerServer,
    JaegerServer,
    PrometheusServer,
    VictoriaLogsServer,
)
from services.stack.servers import ServerSet, project_root

from .prometheus import RULES_DIR, SERVICE_JOBS, alertmanager_config, prometheus_config, scrape_targets

DEFAULT_PORTS = {"prometheus": 59090, "alertmanager": 59093, "jaeger": 56686, "victorialogs": 59428}


def port(name: str) -> int:
    return int(os.environ.get(f"MEETMESH_OBSERVABILITY_{name.upper()}_PORT", DEFAULT_PORTS[name]))


@dataclass
class ObservabilityStack:
    root: Path = field(default_factory=lambda: project_root() / "var" / "observability")
    servers: ServerSet = field(default_factory=ServerSet)

    def start(self, settings: PlatformSettings, progress: Callable[[str], None] = print) -> dict[str, str]:
        """Start the four servers; returns the environment that points the services at them."""
        try:
            notification = settings.endpoint("notification")
            receiver = f"http://{notification.host}:{notification.http_port}/alertmanager"
            alertmanager = self.servers.get(
                "alertmanager",
                lambda: AlertmanagerServer(
                    alertmanager_config(receiver), self.root / "alertmanager", port("alertmanager")
                ),
            )
            assert isinstance(alertmanager, AlertmanagerServer)
            targets = scrape_targets(
                settings,
                services=[s for s in SERVICE_JOBS if s != "notification"],
                edge=os.environ.get("MEETMESH_OBSERVABILITY_EDGE", "127.0.0.1:8800"),
                triton="127.0.0.1:8002",
            )
            config = prometheus_config(
                targets,
                rule_files=[RULES_DIR / "*.yml"],
                alertmanagers=[alertmanager.address],
                scrape_interval_s=5,
            )
            prometheus = self.servers.get(
                "prometheus", lambda: PrometheusServer(config, self.root / "prometheus", port("prometheus"))
            )
            jaeger = self.servers.get("jaeger", lambda: JaegerServer(self.root / "jaeger", port("jaeger")))
            logs = self.servers.get(
                "victorialogs", lambda: VictoriaLogsServer(self.root / "victorialogs", port("victorialogs"))
            )
        except BaseException:
            self.stop()
            raise
        assert isinstance(jaeger, JaegerServer)
        assert isinstance(logs, VictoriaLogsServer)
        assert isinstance(prometheus, PrometheusServer)
        for name, server in self.servers.items():
            progress(f"  {name:<13} {server.url}")
        return {
            "MEETMESH_TRACING__ENDPOINT": jaeger.otlp_endpoint,
            "MEETMESH_LOG_PUSH_URL": f"{logs.loki_push_url}?_msg_field=msg",
            # the web client's admin status page (the edge's /v1/admin/status)
            "MEETMESH_EDGE__PROMETHEUS_URL": prometheus.url,
        }

    def stop(self) -> None:
        self.servers.stop_all(remove=False)
