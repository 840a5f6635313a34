"""Observability as code: the Prometheus configuration, alert routing, dashboards and tracing set-up
that deployments and tests share (see docs/operations.md).

* ``prometheus``: scrape configuration for every service's HTTP side port (from the registry);
* ``alerting``: Alertmanager's routing to the notification service's receiver;
* ``dashboards``: the Grafana dashboards, generated into ``deploy/grafana/``.
"""

from .prometheus import RULES_DIR, SERVICE_JOBS, alertmanager_config, prometheus_config, scrape_targets

__all__ = ["RULES_DIR", "SERVICE_JOBS", "alertmanager_config", "prometheus_config", "scrape_targets"]
