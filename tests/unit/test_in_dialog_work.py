"""The ACK and BYE of an anchored call take only the steps that apply to them: a plain call's
record is not decoded, a call with a carrier leg still loses the inside headers toward it."""

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


def _anchored(method: str) -> bool:
    routes = importlib.import_module("kemi_app.sip.routes").EdgeRoutes()
    return routes._anchored(types.SimpleNamespace(), method)  # no settings, no state: any use fails


def _save(**fields: object) -> None:
    importlib.import_module("kemi_app.sip.callstate").CallRecord(org="demo", kind="agent", **fields).save()


@pytest.mark.parametrize("method", ["ACK", "BYE"])
def test_a_plain_calls_ack_and_bye_are_relayed_without_a_header_or_body_read(ksr, method, monkeypatch) -> None:
    _save(agents=["1001", "1002"], anchored=True, media_set=0)
    ksr.calls.clear()
    callstate = importlib.import_module("kemi_app.sip.callstate")
    monkeypatch.setattr(callstate.CallRecord, "load", classmethod(lambda cls: pytest.fail("record decoded")))
    assert _anchored(method)
    read = [args[0] for path, args in ksr.calls if path == "pv.get"]
    assert "$msg(hdrs)" not in read and "$rb" not in read and "$cT" not in read
    assert "rr.is_direction" not in ksr.names()


@pytest.mark.parametrize("method", ["ACK", "BYE"])
def test_toward_a_carrier_the_ack_and_bye_lose_the_inside_headers(ksr, method) -> None:
    _save(carrier_side="callee", anchored=True)
    ksr.pvs["$msg(hdrs)"] = "Via: SIP/2.0/UDP a\r\nUser-Agent: Phone\r\nX-Edge-Attendance: att-1\r\nCSeq: 2 BYE\r\n"
    assert _anchored(method)
    removed = {args[0] for path, args in ksr.calls if path == "hdr.remove"}
    assert removed == {"User-Agent", "X-Edge-Attendance"}
