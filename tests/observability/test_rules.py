"""The rules, alert routing and generated deployment files, checked by Prometheus's own tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools import gen_observability

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "meetmesh.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "meetmesh_test.yml"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: run `make setup` (Debian packages prometheus, prometheus-alertmanager)"
    return found


def test_promtool_unit_tests_pass() -> None:
    done = subprocess.run(
        [tool("promtool"), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test_that_sees_it_fire_and_stay_quiet() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts == fired, f"alerts without a firing test: {sorted(alerts - fired)}"
    assert alerts == quiet, f"alerts without a test that they stay quiet: {sorted(alerts - quiet)}"
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["annotations"]["runbook"].startswith("docs/operations.md#"), rule["alert"]


def test_rules_and_configs_are_valid() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = subprocess.run(
        [tool("promtool"), "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    routing = subprocess.run(
        [tool("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert routing.returncode == 0, routing.stdout + routing.stderr


@pytest.mark.parametrize("relative", sorted(gen_observability.render()))
def test_generated_file_is_fresh(relative: str) -> None:
    """deploy/ holds exactly what tools/gen_observability.py writes (run it after changing code)."""
    path = DEPLOY / relative
    assert path.is_file(), f"{relative} is missing: python tools/gen_observability.py"
    assert path.read_text() == gen_observability.render()[relative], (
        f"{relative} is stale: python tools/gen_observability.py"
    )


def test_prometheus_scrapes_every_registered_service() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs["meeting"] == ["meeting:9082"]
    assert jobs["ai"] == ["ai:8085"]
    assert jobs["triton"] == ["triton:8002"]
    assert {"user", "meeting", "signaling", "media", "ai", "notification"} <= set(jobs)
