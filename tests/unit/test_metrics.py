"""The metrics helpers outside Kamailio: label bounding, the Redis timing wrapper, rendering."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from kemi_app import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_status_and_method_labels_stay_bounded() -> None:
    before = sample("edge_calls_total", org="unknown", kind="agent", status="other")
    metrics.call_final("", "agent", 99999)
    assert sample("edge_calls_total", org="unknown", kind="agent", status="other") == before + 1
    before = sample("edge_auth_failures_total", org="o", method="other", reason="r")
    metrics.auth_failure("o", "X" * 500, "r")
    assert sample("edge_auth_failures_total", org="o", method="other", reason="r") == before + 1


def test_timed_state_counts_calls_and_errors() -> None:
    @metrics.timed_state
    class Store:
        def good(self) -> int:
            return 1

        def bad(self) -> None:
            raise ConnectionError("redis down")

        def _private(self) -> int:
            return 2

        @metrics.cached
        def from_cache(self) -> int:
            return self._miss()

        @metrics.timed_as("from_cache")
        def _miss(self) -> int:
            return 3

    store = Store()
    count = sample("edge_redis_seconds_count", op="good")
    errors = sample("edge_redis_errors_total", op="bad")
    assert store.good() == 1
    with pytest.raises(ConnectionError):
        store.bad()
    assert sample("edge_redis_seconds_count", op="good") == count + 1
    assert sample("edge_redis_errors_total", op="bad") == errors + 1
    assert sample("edge_redis_seconds_count", op="_private") == 0
    # A cached method is observed only through the Redis part it names (once, not twice).
    cached = sample("edge_redis_seconds_count", op="from_cache")
    assert store.from_cache() == 3
    assert sample("edge_redis_seconds_count", op="from_cache") == cached + 1


def test_render_includes_scrape_time_families() -> None:
    family = metrics.Family("edge_agents", "Agents", "gauge", ("org", "state"), ((("demo", "available"), 3.0),))
    counter = metrics.Family("kamailio_requests_received", "Requests", "counter", (), (((), 7.0),))
    text = metrics.render([family, counter]).decode()
    assert 'edge_agents{org="demo",state="available"} 3.0' in text
    assert "kamailio_requests_received_total 7.0" in text
    assert "# TYPE edge_registrations_total counter" in text
