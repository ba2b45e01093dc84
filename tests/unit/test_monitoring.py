"""The Prometheus rules, their unit tests and the scrape config, validated by promtool; the
Grafana dashboard's queries parsed as PromQL by promtool too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
DASHBOARD = MONITORING / "grafana" / "agent-edge.json"


def promtool(*args: str, cwd: Path = MONITORING) -> str:
    proc = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS: 17 rules found" in promtool("check", "rules", "alerts.yml")


def test_alert_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_every_alert_is_unit_tested_and_has_a_runbook() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    runbook = (MONITORING.parent / "docs" / "runbook.md").read_text().lower()
    for rule in rules:
        assert rule["alert"] in tested, f"{rule['alert']} never fires in alerts.test.yml"
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"## {anchor}" in runbook, f"docs/runbook.md has no section for {rule['alert']}"


def test_scrape_config_is_valid() -> None:
    promtool("check", "config", "prometheus.yml")


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) > 20
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": q.replace("$__rate_interval", "5m")} for i, q in enumerate(queries)
    ]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(queries)} rules found" in promtool("check", "rules", str(path), cwd=tmp_path)
