"""Every metric the Grafana dashboard and the alert rules query exists in a real scrape of
the edge's /metrics and rtpengine's /metrics."""

from __future__ import annotations

import re

import yaml
from prometheus_client.parser import text_string_to_metric_families

from edgeops.stack import Stack, http_get
from tests.unit.test_monitoring import MONITORING, dashboard_queries

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan", "le"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names, label values or durations."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values and templates
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def scraped_names(url: str) -> set[str]:
    status, body = http_get(url)
    assert status == 200, body
    names = set()
    for family in text_string_to_metric_families(body.decode()):
        names |= {s.name for s in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def test_metric_name_parser() -> None:
    assert metric_names('histogram_quantile(0.99, sum by (le, op) (rate(edge_redis_seconds_bucket[5m])))') == {
        "edge_redis_seconds_bucket"}
    assert metric_names('up{job="agent-edge"} == 0 or absent(up{job="x"})') == {"up"}
    assert metric_names("a_total / on (instance) b > 0.5") == {"a_total", "b"}


def test_every_queried_metric_exists_in_a_real_scrape(edge: Stack) -> None:
    available = scraped_names(edge.admin_url + "/metrics")
    available |= scraped_names(f"http://{edge.settings.rtpengine_http}/metrics")
    available.add("up")  # Prometheus's own per-target series
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    queries = dashboard_queries() + [r["expr"] for r in rules]
    used = set().union(*(metric_names(q) for q in queries))
    assert len(used) > 30
    assert sorted(used - available) == []
