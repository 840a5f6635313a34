"""The observability servers meetmesh runs itself (tests, bench, ``meetmesh up --observability``):
Prometheus and Alertmanager from Debian's packages, Jaeger v2 and VictoriaLogs built as Go tools
(``deploy/tools/jaeger``, ``deploy/tools/victorialogs``). Each on loopback, on ports of its own,
under a data directory of its own; none keeps anything a test relies on between runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from .servers import ManagedServer, find_binary, free_port


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout_s).is_success
    except httpx.HTTPError:
        return False


def get_json(url: str, params: Mapping[str, str] | None = None, timeout_s: float = 5.0) -> Any:
    reply = httpx.get(url, params=params, timeout=timeout_s)
    reply.raise_for_status()
    return reply.json()


class PrometheusServer(ManagedServer):
    """Prometheus (Debian's ``prometheus``) with a configuration given as a dict."""

    name = "prometheus"

    def __init__(self, config: Mapping[str, Any], root: Path | None = None, port: int = 0) -> None:
        super().__init__(root, port)
        self.binary = find_binary("prometheus", "Prometheus (Debian package prometheus)")
        self.config = dict(config)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.root / "prometheus.yml"

    def prepare(self) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")

    def reload(self, config: Mapping[str, Any]) -> None:
        """Write a new configuration and have the running server load it."""
        self.config = dict(config)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; raises ``ValueError`` with Prometheus's error."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if reply.get("status") != "success":
            raise ValueError(f"{expr}: {reply.get('error')}")
        result: list[dict[str, Any]] = reply["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]
        return active

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return alerts


class AlertmanagerServer(ManagedServer):
    """Alertmanager (Debian's ``prometheus-alertmanager``), clustering off."""

    name = "alertmanager"

    def __init__(self, config: Mapping[str, Any], root: Path | None = None, port: int = 0) -> None:
        super().__init__(root, port)
        self.binary = find_binary(
            "prometheus-alertmanager", "Alertmanager (Debian package prometheus-alertmanager)"
        )
        self.config = dict(config)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def prepare(self) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "alertmanager.yml").write_text(yaml.safe_dump(self.config, sort_keys=False))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = get_json(f"{self.url}/api/v2/alerts")
        return alerts


class JaegerServer(ManagedServer):
    """Jaeger v2 (``cmd/jaeger``, the Go tool): OTLP in (gRPC ``otlp_port``, HTTP ``otlp_http_port``),
    traces in memory, the query API and UI on ``port``. The Go module's binary embeds no UI;
    ``ui_assets`` (default ``MEETMESH_JAEGER_UI``) is a jaeger-ui build folder to serve instead."""

    name = "jaeger"

    def __init__(self, root: Path | None = None, port: int = 0, ui_assets: Path | None = None) -> None:
        super().__init__(root, port)
        assets = ui_assets or os.environ.get("MEETMESH_JAEGER_UI")
        self.ui_assets = Path(assets) if assets else None
        self.binary = find_binary("jaeger", "Jaeger (the Go tool github.com/jaegertracing/jaeger/cmd/jaeger)")
        self._pick_internal_ports()

    def _pick_internal_ports(self) -> None:
        self.otlp_port = free_port(self.host)
        self.otlp_http_port = free_port(self.host)
        self.query_grpc_port = free_port(self.host)
        self.health_port = free_port(self.host)

    def repick_ports(self) -> bool:
        """Its OTLP, query gRPC and health ports are always picked here, the query API's unless
        given; traces live in memory, so nothing names the old ones."""
        super().repick_ports()  # the query API's port, unless given
        self._pick_internal_ports()
        return True

    @property
    def url(self) -> str:
        """The query API and UI (``/api/traces``, ``/search``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def otlp_endpoint(self) -> str:
        """Where services export spans (OTLP over gRPC)."""
        return f"http://{self.host}:{self.otlp_port}"

    def config(self) -> dict[str, Any]:
        at = self.host
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
            "extensions": {
                "jaeger_query": {
                    # Off: the query service would trace itself to the default OTLP endpoint
                    # (127.0.0.1:4317), someone else's collector or nobody, and at exit wait 10 s
                    # for that export to time out.
                    "enable_tracing": False,
                    "storage": {"traces": "memstore"},
                    "http": {"endpoint": f"{at}:{self.port}"},
                    "grpc": {"endpoint": f"{at}:{self.query_grpc_port}"},
                    **({"ui": {"assets_path": str(self.ui_assets)}} if self.ui_assets else {}),
                },
                "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 100000}}}},
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{at}:{self.health_port}"}},
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"{at}:{self.otlp_port}"},
                        "http": {"endpoint": f"{at}:{self.otlp_http_port}"},
                    }
                }
            },
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }

    def prepare(self) -> None:
        (self.root / "jaeger.yaml").write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def command(self) -> list[str]:
        return [self.binary, "--config", f"file:{self.root / 'jaeger.yaml'}"]

    def is_ready(self) -> bool:
        """The traces pipeline started (healthcheckv2: its OTLP receiver bound its ports) and the
        query API answers. The query API alone is not enough: it can answer before the pipeline
        fails to bind a taken OTLP port and the process exits."""
        return self.pipeline_ok() and http_ok(f"{self.url}/api/services")

    def pipeline_ok(self) -> bool:
        try:
            reply = httpx.get(f"http://{self.host}:{self.health_port}/status?pipeline=traces", timeout=1.0)
            return reply.is_success and reply.json().get("status") == "StatusOK"
        except (httpx.HTTPError, ValueError):
            return False

    def traces(self, service: str, **params: str) -> list[dict[str, Any]]:
        """Traces of ``service`` from the query API (``/api/traces``)."""
        reply = get_json(f"{self.url}/api/traces", {"service": service, "limit": "100", **params})
        traces: list[dict[str, Any]] = reply["data"] or []
        return traces

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        reply = httpx.get(f"{self.url}/api/traces/{trace_id}", timeout=5)
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        data = reply.json()["data"]
        return data[0] if data else None


class VictoriaLogsServer(ManagedServer):
    """VictoriaLogs (the Go tool): the Loki push API in (``/insert/loki/api/v1/push``), LogsQL out."""

    name = "victorialogs"

    def __init__(self, root: Path | None = None, port: int = 0) -> None:
        super().__init__(root, port)
        self.binary = find_binary("victoria-logs", "VictoriaLogs (the Go tool deploy/tools/victorialogs)")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def loki_push_url(self) -> str:
        return f"{self.url}/insert/loki/api/v1/push"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"-storageDataPath={self.root / 'data'}",
            f"-httpListenAddr={self.host}:{self.port}",
            "-retentionPeriod=1d",
            "-loggerLevel=WARN",
        ]

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/health")

    def query(self, logsql: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Log entries matching a LogsQL query (``/select/logsql/query``, one JSON object a line)."""
        reply = httpx.post(
            f"{self.url}/select/logsql/query", data={"query": logsql, "limit": str(limit)}, timeout=10
        )
        reply.raise_for_status()
        return [json.loads(line) for line in reply.text.splitlines() if line.strip()]
