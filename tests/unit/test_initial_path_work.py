"""What the initial INVITE path skips: a second gateway lookup when the handler knows, the
call record in the branch route of a call no carrier placed, the JSON parser for flags."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.service import Service
from kemi_app.state.codec import decode, encode
from kemi_app.state.lookups import Lookups
from tests.unit import fake_ksr


@pytest.fixture
def ksr():
    fake = fake_ksr.install({"$pr": "udp", "$ci": "call-1", "$si": "127.0.0.9", "$sp": "5060"})
    fake.answers["is_WSX"] = lambda: -1
    fake.answers["hdr.is_present"] = lambda name: -1
    fake.answers["nathelper.nat_uac_test"] = lambda flags: -1
    yield fake
    fake_ksr.uninstall()


def _relay(from_carrier: bool | None, gateway: object) -> tuple[dict[str, Any], dict[str, Any], list[tuple]]:
    relay = importlib.import_module("kemi_app.sip.relay")
    from kemi_app.settings import Settings
    from kemi_app.sip.attendances import Existing
    from kemi_app.sip.callstate import CALL_VAR, TX_AVP, CallRecord
    from kemi_app.sip.context import Context

    lookups: list[tuple] = []

    def gateway_from(ip: str, port: int) -> object:
        lookups.append((ip, port))
        return gateway

    state = SimpleNamespace(lookups=SimpleNamespace(gateway_from=gateway_from))
    record = CallRecord(org="demo", kind="inbound")
    call = relay.Call(record, relay.ToUri("sip:ivr@127.0.0.1"), Existing("att-1"), from_carrier=from_carrier)
    relay.relay_call(Context(Settings.from_env({}), state=cast(Any, state)), call)
    ksr = importlib.import_module("KSR")
    return json.loads(ksr.pvs[CALL_VAR]), json.loads(ksr.pvs[TX_AVP]), lookups


def test_a_handler_that_knows_the_caller_saves_the_gateway_lookup(ksr) -> None:
    record, tx, lookups = _relay(True, None)
    assert lookups == []
    assert record["carrier_side"] == "caller" and tx["customer_caller"] is True
    record, tx, lookups = _relay(False, object())
    assert lookups == []
    assert record["carrier_side"] == "" and tx["customer_caller"] is False


def test_otherwise_the_request_s_source_decides(ksr) -> None:
    record, tx, lookups = _relay(None, object())
    assert lookups == [("127.0.0.9", 5060)]
    assert record["carrier_side"] == "caller" and tx["customer_caller"] is True


def test_the_branch_route_reads_the_call_record_only_for_a_customer_s_call(ksr) -> None:
    routes = importlib.import_module("kemi_app.sip.routes")
    from kemi_app.sip.callstate import CALL_VAR, TX_AVP, Transaction

    edge = routes.EdgeRoutes()
    edge.ctx = cast(Any, SimpleNamespace(settings=SimpleNamespace(), media=None))
    for customer, reads in ((False, 0), (True, 1)):
        ksr.calls.clear()
        ksr.pvs[TX_AVP] = json.dumps(vars(Transaction(customer_caller=customer)))
        edge.ksr_branch_media(None)
        assert "err" not in ksr.names() and "set_drop" not in ksr.names()
        assert [args for path, args in ksr.calls if path == "pv.get" and args == (CALL_VAR,)] == [(CALL_VAR,)] * reads


def test_flags_and_other_values_decode_as_json_would() -> None:
    agent = Agent(ext="1001", ha1="0" * 32, company="c1", auto_answer=True, dnd=False, supervisor=True)
    assert decode(Agent, encode(agent)) == agent
    service = Service(ext="800", kind="queue", name="Sales", members=["1001"], ring_timeout=15, record_calls=True)
    assert decode(Service, encode(service)) == service
    # A field missing from an older hash takes its default; the key given wins over the hash.
    assert decode(Agent, {"ha1": "1" * 32, "dnd": "true"}, ext="1002") == Agent(ext="1002", ha1="1" * 32, dnd=True)


def test_of_two_gateways_on_one_address_the_first_listed_answers() -> None:
    first, second = Gateway("a", "sip:10.0.0.1:5060"), Gateway("b", "sip:10.0.0.1:5060")
    lookups = Lookups(cast(Any, SimpleNamespace(connection_pool=None)), cast(Any, None))
    listed = [first, second, Gateway("c", "sip:10.0.0.2:5080")]
    lookups.gateways = lambda: listed  # type: ignore[method-assign]
    assert lookups.gateway_from("10.0.0.1", 5060) is first
    assert lookups.gateway_from("10.0.0.2", 5080) is listed[2]
    assert lookups.gateway_from("10.0.0.3", 5060) is None
    listed = [second]  # a new list (its version moved): looked up in it
    assert lookups.gateway_from("10.0.0.1", 5060) is second
