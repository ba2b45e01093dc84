"""GET /metrics on the admin listener: counts from every Kamailio worker add up exactly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgeops.stack import Stack, http_get
from kemi_app.policy.digest import ha1
from tests.integration.helpers import DEMO, answer_one, call, finish, register
from tests.sipp import Sipp
from tests.state_kit import drop_bindings, put_agent

N = 25
AGENT, PASSWORD = "1090", "metrics1090"  # own agents: other tests count the demo agents' bindings


@pytest.fixture
def agent(state) -> Iterator[str]:
    put_agent(state, "demo", AGENT, {"ha1": ha1(AGENT, DEMO, PASSWORD)})
    yield AGENT
    drop_bindings(state, "demo", AGENT)


def scrape(edge: Stack) -> dict[tuple[str, frozenset], float]:
    status, body = http_get(edge.admin_url + "/metrics")
    assert status == 200, body
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_n_registrations_raise_the_counter_by_exactly_n(edge: Stack, sipp: Sipp, agent: str) -> None:
    before = scrape(edge)
    rows = [[agent, DEMO, PASSWORD, "300"]] * N
    extra = ["-r", "50", "-l", "10", "-au", agent, "-ap", PASSWORD]
    result = sipp.run("register.xml", rows, calls=N, extra=extra)
    assert result.ok, result.output + result.errors
    after = scrape(edge)
    assert value(after, "edge_registrations_total", org="demo", status="200") - value(
        before, "edge_registrations_total", org="demo", status="200") == N
    # Each REGISTER is two requests (challenge, then credentials): Kamailio's own counters agree.
    assert value(after, "kamailio_requests_received_total") - value(before, "kamailio_requests_received_total") >= 2 * N
    # Each opens with one round trip: a login's view, or a refresh written on what this node cached.
    ops = sum(value(after, "edge_redis_seconds_count", op=op) - value(before, "edge_redis_seconds_count", op=op)
              for op in ("register_view", "refresh_binding"))
    assert ops == N


def test_wrong_password_counts_auth_failures(edge: Stack, sipp: Sipp, state) -> None:
    put_agent(state, "demo", "1088", {"ha1": ha1("1088", DEMO, "right")})
    before = scrape(edge)
    result = register(sipp, "1088", sipp.next_port(), password="wrong", expect=401)
    assert result.ok, result.output + result.errors
    after = scrape(edge)
    key = {"org": "demo", "method": "REGISTER", "reason": "wrong_credentials"}
    assert value(after, "edge_auth_failures_total", **key) - value(before, "edge_auth_failures_total", **key) == 1


def test_calls_counted_by_kind_and_final_status(edge: Stack, sipp: Sipp, agent: str) -> None:
    port = sipp.next_port()
    assert register(sipp, agent, port, password=PASSWORD).ok
    before = scrape(edge)
    phone = sipp.start("uas.xml", [], port=port, calls=3)
    answered = [call(sipp, "1001", agent) for _ in range(3)]
    code, out = finish(phone)
    assert all(r.ok for r in answered) and code == 0, out
    refused = call(sipp, "1001", "1555", scenario="uac_refused.xml", expect=404)
    assert refused.ok, refused.output + refused.errors
    ringing = answer_one(sipp, port, "uas_ring.xml")
    cancelled = call(sipp, "1001", agent, scenario="uac_cancel.xml")
    finish(ringing)
    assert cancelled.ok, cancelled.output + cancelled.errors
    after = scrape(edge)

    def delta(status: str) -> float:
        key = {"org": "demo", "kind": "agent", "status": status}
        return value(after, "edge_calls_total", **key) - value(before, "edge_calls_total", **key)

    assert (delta("200"), delta("404"), delta("487")) == (3, 1, 1)
    # Four INVITEs and three BYEs were relayed statefully: Kamailio's transaction counter saw them.
    uas = ("kamailio_transactions_total", frozenset({("type", "UAS")}))
    assert after.get(uas, 0) - before.get(uas, 0) >= 7


def test_kamailio_and_component_gauges(edge: Stack, sipp: Sipp, agent: str, state) -> None:
    assert register(sipp, agent, sipp.next_port(), password=PASSWORD).ok
    samples = scrape(edge)
    assert value(samples, "edge_redis_up") == 1
    assert value(samples, "edge_rtpengine_up") == 1
    assert value(samples, "edge_agents", org="demo", state="available") >= 1
    # The gauge counts every agent of the org once, whatever its state.
    agents = sum(v for (name, labels), v in samples.items() if name == "edge_agents" and ("org", "demo") in labels)
    assert agents == len(state.directory.list_agents("demo"))
    total = value(samples, "kamailio_shm_total_bytes")
    # What Kamailio reports of the -m pool: TLSF keeps a few bytes of it for its own header.
    assert 0.999 * edge.settings.shm_mb * 1024 * 1024 <= total <= edge.settings.shm_mb * 1024 * 1024
    assert 0 < value(samples, "kamailio_shm_free_bytes") < total
    assert ("edge_calls_active", frozenset()) in samples
    assert ("kamailio_tcp_connections", frozenset()) in samples


def test_country_block_is_counted(edge: Stack, sipp: Sipp) -> None:
    key = {"org": "demo", "reason": "country_not_allowed"}
    before = value(scrape(edge), "edge_country_blocks_total", **key)
    result = call(sipp, "1001", "+12125550100", scenario="uac_refused.xml", expect=403)
    assert result.ok, result.output + result.errors
    assert value(scrape(edge), "edge_country_blocks_total", **key) - before == 1
