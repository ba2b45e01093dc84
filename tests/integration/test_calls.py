"""Agent-to-agent calls through the edge, with real sipp UAs on both sides."""

from __future__ import annotations

import pytest

from edgeops.stack import Stack
from kemi_app.policy.digest import ha1
from tests.integration.helpers import answer_one, call, finish, register
from tests.sipp import Sipp
from tests.state_kit import drop_bindings, put_agent, put_org


@pytest.fixture
def callee(sipp: Sipp, state):
    """Agent 1002 registered from a fresh port, with no older bindings to fork to."""
    drop_bindings(state, "demo", "1002")
    port = sipp.next_port()
    result = register(sipp, "1002", port)
    assert result.ok, result.output + result.errors
    return port


def test_call_between_registered_agents_ends_with_bye(sipp: Sipp, callee: int) -> None:
    phone = answer_one(sipp, callee)
    result = call(sipp, "1001", "1002")
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out


def test_cancelled_call(sipp: Sipp, callee: int) -> None:
    phone = answer_one(sipp, callee, "uas_ring.xml")
    result = call(sipp, "1001", "1002", scenario="uac_cancel.xml")
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out


def test_unknown_extension_gets_404(sipp: Sipp) -> None:
    result = call(sipp, "1001", "1555", scenario="uac_refused.xml", expect=404)
    assert result.ok, result.output + result.errors


def test_unregistered_agent_gets_480(sipp: Sipp, state) -> None:
    drop_bindings(state, "demo", "1002")
    result = call(sipp, "1001", "1002", scenario="uac_refused.xml", expect=480)
    assert result.ok, result.output + result.errors


def test_tenants_never_see_each_other(sipp: Sipp, state, callee: int) -> None:
    put_org(state, "acme", "acme.test", "Acme")
    put_agent(state, "acme", "2001", {"ha1": ha1("2001", "acme.test", "acme2001")})
    # An acme agent dialling demo's registered 1002 finds nothing in its own org.
    result = call(sipp, "2001", "1002", scenario="uac_refused.xml", expect=404,
                  domain="acme.test", password="acme2001")
    assert result.ok, result.output + result.errors
    # demo's credentials are not valid in acme's realm either.
    result = call(sipp, "1001", "2001", scenario="uac_refused.xml", expect=404)
    assert result.ok, result.output + result.errors


def test_binding_survives_kamailio_restart(edge: Stack, sipp: Sipp, callee: int) -> None:
    edge.restart_kamailio()
    phone = answer_one(sipp, callee)
    result = call(sipp, "1001", "1002")
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out
