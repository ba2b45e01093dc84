"""Validation of the provisioning entities: defaults, and the field named by each error."""

from __future__ import annotations

import pytest

from kemi_app.policy.digest import ha1
from kemi_app.policy.gateway import fails_over, in_order
from kemi_app.provisioning.agent import parse_agent
from kemi_app.provisioning.company import parse_company
from kemi_app.provisioning.did import parse_did
from kemi_app.provisioning.errors import ValidationError
from kemi_app.provisioning.gateway import parse_gateway
from kemi_app.provisioning.org import parse_org
from kemi_app.provisioning.service import parse_service


def field_of(fn, *args) -> str:
    with pytest.raises(ValidationError) as e:
        fn(*args)
    return e.value.field


def test_company_defaults_are_brazilian() -> None:
    c = parse_company("sales", {})
    assert (c.block_calls_during_pause, c.allowed_country_codes, c.default_country, c.emergency_numbers) == (
        False, ["55"], "55", ["190", "192", "193"])


def test_agent_password_becomes_ha1_and_is_kept_on_update() -> None:
    a = parse_agent("1001", {"password": "long-secret"}, "demo.test")
    assert a.ha1 == ha1("1001", "demo.test", "long-secret") and "long-secret" not in repr(a.public())
    b = parse_agent("1001", {"display_name": "Ann"}, "demo.test", current=a)
    assert (b.ha1, b.display_name) == (a.ha1, "Ann")


def test_gateway_address_forms_and_order() -> None:
    a = parse_gateway("a", {"address": "10.0.0.1:5060", "priority": 20})
    b = parse_gateway("b", {"address": "sip:Carrier.Example:5080", "priority": 5})
    assert (a.address, b.address) == ("sip:10.0.0.1:5060", "sip:carrier.example:5080")
    assert [g.id for g in in_order([a, b])] == ["b", "a"]
    assert b.uri_for("+5511987654321") == "sip:+5511987654321@carrier.example:5080"


@pytest.mark.parametrize(("status", "over"), [(500, True), (503, True), (599, True), (408, True), (404, False),
                                              (486, False), (487, False), (603, False), (200, False)])
def test_failover_only_on_server_errors_and_timeouts(status: int, over: bool) -> None:
    assert fails_over(status) is over


@pytest.mark.parametrize(
    ("fn", "args", "field"),
    [
        (parse_org, ("o", {"domain": "a..b"}), "domain"),
        (parse_org, ("o", {"domain": "a.test", "interorg_transfer_enabled": 1}), "interorg_transfer_enabled"),
        (parse_org, ("o", {"id": "p", "domain": "a.test"}), "id"),
        (parse_company, ("c", {"default_country": "0"}), "default_country"),
        (parse_company, ("c", {"allowed_country_codes": "55"}), "allowed_country_codes"),
        (parse_company, ("c", {"emergency_numbers": ["1"]}), "emergency_numbers[0]"),
        (parse_agent, ("1001", {"password": "x" * 8, "ha1": "0" * 32}, "d.test"), "password"),
        (parse_agent, ("1001", {"ha1": "XYZ"}, "d.test"), "ha1"),
        (parse_agent, ("1001", {"password": "x" * 8, "auto_answer": "no"}, "d.test"), "auto_answer"),
        (parse_agent, ("1001", {"password": "x" * 8, "display_name": "a\nb"}, "d.test"), "display_name"),
        (parse_service, ("300", {"kind": "conference", "target_uri": "sip:x@y", "members": ["1001"]}), "members"),
        (parse_service, ("300", {"kind": "queue", "ring_timeout": 1}), "ring_timeout"),
        (parse_gateway, ("g", {"address": "sip:h:70000"}), "address"),
        (parse_gateway, ("g", {"address": "sip:h:5060", "codecs": []}), "codecs"),
        (parse_did, ("+5511", {"org": "demo", "service": "300"}), "number"),
        (parse_did, ("+551133334444", {"org": "Demo!", "service": "300"}), "org"),
    ],
)
def test_errors_name_the_field(fn, args: tuple, field: str) -> None:
    assert field_of(fn, *args) == field
