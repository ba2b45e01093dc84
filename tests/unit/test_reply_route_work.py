"""Callbacks that nothing acts on return before reading the call's records: the calls' reply
route for a 100 Trying (hop-by-hop), the dialog module's state changes other than start, end
and failed. Every call gets them."""

from __future__ import annotations

import importlib
import types

import pytest

from tests.unit import fake_ksr


@pytest.fixture
def ksr():
    fake = fake_ksr.install()
    yield fake
    fake_ksr.uninstall()


def _routes() -> object:
    routes = importlib.import_module("kemi_app.sip.routes").EdgeRoutes()
    routes.ctx = types.SimpleNamespace()  # no state, no settings: any use fails the route
    return routes


def test_a_100_trying_reads_nothing_of_the_call(ksr) -> None:
    ksr.pvs["$rs"] = "100"
    _routes().ksr_onreply_media(None)
    assert ksr.calls == [("pv.get", ("$rs",))]


def test_a_180_still_reads_the_call_records(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    ksr.pvs["$rs"] = "180"
    _routes().ksr_onreply_media(None)
    read = [args[0] for path, args in ksr.calls if path == "pv.get"]
    assert callstate.CALL_VAR in read and callstate.TX_AVP in read


def test_dialog_state_changes_without_an_event_name_read_nothing(ksr) -> None:
    """The dialog module calls back on every state change; early and ACK-confirmed come as
    "unknown" (dialog:start is the 2xx), and nothing acts on them."""
    _routes().ksr_dialog_event(None, "unknown")
    assert ksr.calls == []


def test_dialog_start_still_reads_the_call_record(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    _routes().ksr_dialog_event(None, "dialog:start")
    assert ("pv.get", (callstate.CALL_VAR,)) in ksr.calls


def test_ringing_without_early_media_asks_nothing_of_rtpengine(ksr) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    media = importlib.import_module("kemi_app.sip.media")
    record = callstate.CallRecord(org="demo", kind="agent", media_set=0)
    tx = callstate.Transaction(offerer="rtp", initial=True, media_set=0)
    ksr.pvs.update({"$rs": "180", "$rb": "", "$cT": ""})
    media.on_reply(types.SimpleNamespace(), record, tx)
    assert not [path for path in ksr.names() if path.startswith("rtpengine.")]
    assert callstate.EXTRA_ID not in ksr.pvs
