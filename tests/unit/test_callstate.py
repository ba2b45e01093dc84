"""The per-call records' JSON (sip/callstate.py): the same text as dataclasses.asdict gives,
nested records included, and read back unchanged."""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict

import pytest

from tests.unit import fake_ksr


@pytest.fixture
def ksr():
    fake = fake_ksr.install()
    yield fake
    fake_ksr.uninstall()


def test_records_are_stored_as_their_fields_and_read_back(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    tx = callstate.Transaction(
        offerer="rtp", initial=True, callee_codecs=["PCMU"], media_set=1,
        queue=callstate.QueueCall("demo", "700", "Sales \"A\"", 20, "sip:overflow@x"),
        tried=["1001"], gateways=[callstate.GatewayAttempt("sip:+1@gw", ["PCMA"], "gw1")],
        trying=callstate.GatewayAttempt("sip:+1@gw0", [], "gw0"),
    )
    record = callstate.CallRecord(org="demo", kind="agent", agents=["1001", "1002"], answered_by="ação")
    tx.save()
    record.save()
    assert ksr.pvs[callstate.TX_AVP] == json.dumps(asdict(tx), separators=(",", ":"))
    assert ksr.pvs[callstate.CALL_VAR] == json.dumps(asdict(record), separators=(",", ":"))
    assert callstate.Transaction.load() == tx
    assert callstate.CallRecord.load() == record


def test_an_unchanged_record_is_not_written_again(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    callstate.CallRecord(org="demo").save()
    writes = ksr.names().count("pv.sets")
    callstate.CallRecord.load().save()
    assert ksr.names().count("pv.sets") == writes


@pytest.mark.parametrize("fields", [
    {},
    {"org": "demo", "kind": "agent", "agents": ["1001"], "anchored": True, "media_set": 0},
    {"carrier_side": "callee"},
    {"carrier_side": "caller", "answer_in_ack": True},
    {"answer_in_ack": True},
    {"answered_by": '"carrier_side":"" "answer_in_ack":false', "carrier_side": "callee"},
    {"answered_by": '"carrier_side":"" "answer_in_ack":false', "answer_in_ack": True},
])
def test_a_plain_record_is_told_from_its_text_as_its_decoded_fields_would_tell(ksr, fields) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    callstate.CallRecord(**fields).save()
    record = callstate.CallRecord.load()
    assert callstate.CallRecord.plain() == (not record.carrier_side and not record.answer_in_ack)


def test_a_record_not_written_by_this_encoder_is_not_plain(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    assert not callstate.CallRecord.plain()  # none at all: a dialog lost in a restart
    ksr.pvs[callstate.CALL_VAR] = json.dumps({"org": "demo", "carrier_side": "", "answer_in_ack": False})
    assert not callstate.CallRecord.plain()
