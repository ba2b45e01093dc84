"""The route guard: whatever a route raises, the request is answered (500, or 400 for bytes
that are not UTF-8), the log line names the Call-ID, and nothing escapes to Kamailio.

kemi_app.sip.routes is loaded against a small stand-in `KSR` module that records what the
guard does: a unit test of the guard only (the integration tests use a real Kamailio)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

CALL_ID = b"guard\xffid"
LOG_NAMES = {"$ci": "guard-id", "$rm": "INVITE", "$si": "127.0.0.1", "$sp": "5060"}


class FakeKSR(types.ModuleType):
    """Records replies and log lines; every other KSR call fails like a broken module would."""

    def __init__(self) -> None:
        super().__init__("KSR")
        self.calls: list[tuple] = []
        self.logs: list[str] = []
        self.ack = False
        self.undecodable: set[str] = set()
        self.err = self.notice = self.logs.append
        self.is_ACK = lambda: self.ack
        self.force_rport = lambda: True
        self.set_drop = lambda: self.calls.append(("drop",))
        self.pv = types.SimpleNamespace(get=self._pv_get)
        self.sl = types.SimpleNamespace(send_reply=lambda code, reason: self.calls.append(("sl", code, reason)))
        self.tm = types.SimpleNamespace(t_reply=lambda code, reason: self.calls.append(("tm", code, reason)))
        self.hdr = types.SimpleNamespace(append_to_reply=lambda h: self.calls.append(("hdr", h)))
        self.xhttp = types.SimpleNamespace(xhttp_reply=lambda code, *rest: self.calls.append(("http", code)))

    def _pv_get(self, name: str) -> str:
        if name == "$(ci{s.encode.hexa})":
            return CALL_ID.hex()
        if name in self.undecodable:
            raise UnicodeDecodeError("utf-8", CALL_ID, 5, 6, "invalid start byte")
        if name in LOG_NAMES:
            return LOG_NAMES[name]
        raise RuntimeError(f"route failed reading {name}")

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"KSR.{name} failed")


@pytest.fixture()
def ksr() -> Iterator[FakeKSR]:
    fake = FakeKSR()
    saved = {name: mod for name, mod in sys.modules.items() if name == "KSR" or name.startswith("kemi_app.sip")}
    for name in saved:
        del sys.modules[name]
    sys.modules["KSR"] = fake
    try:
        yield fake
    finally:
        for name in [n for n in sys.modules if n == "KSR" or n.startswith("kemi_app.sip")]:
            del sys.modules[name]
        sys.modules.update(saved)


def edge(ksr: FakeKSR) -> object:
    routes = importlib.import_module("kemi_app.sip.routes").EdgeRoutes()
    routes.ctx = types.SimpleNamespace(settings=types.SimpleNamespace(admin_port=5062))  # no state: fails on use
    return routes


def test_a_failing_request_route_answers_500_and_logs_the_call_id(ksr: FakeKSR) -> None:
    assert edge(ksr).ksr_request_route(None) == 1
    assert ksr.calls == [("sl", 500, "Internal Server Error")]
    assert any("unhandled error call-id=guard-id method=INVITE" in line for line in ksr.logs)


def test_a_failing_ack_gets_no_answer(ksr: FakeKSR) -> None:
    ksr.ack = True
    edge(ksr).ksr_request_route(None)
    assert ksr.calls == []


def test_bytes_that_are_not_utf8_get_400_and_a_readable_log_line(ksr: FakeKSR) -> None:
    ksr.undecodable = {"$Rp", "$ci"}  # the route and the guard's own log line both meet them
    edge(ksr).ksr_request_route(None)
    assert ksr.calls == [("sl", 400, "Invalid UTF-8")]
    assert any("$Rp is not UTF-8 call-id=guard\\xffid" in line for line in ksr.logs), ksr.logs


def test_the_log_line_survives_a_broken_ksr(ksr: FakeKSR) -> None:
    ksr.pv.get = lambda name: (_ for _ in ()).throw(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"))
    edge(ksr).ksr_request_route(None)
    assert ksr.calls == [("sl", 400, "Invalid UTF-8")]
    assert any("call-id=<undecodable> method=<undecodable>" in line for line in ksr.logs), ksr.logs


@pytest.mark.parametrize(
    ("route", "args", "answer"),
    [
        ("ksr_reply_route", (None,), []),
        ("ksr_xhttp_event", (None, "xhttp:request"), [("http", 500)]),
        ("ksr_tcp_event", (None, "tcp:closed"), []),
        ("ksr_dialog_event", (None, "dialog:start"), []),
        ("ksr_dialog_event", (None, "dialog:end"), []),
        ("ksr_call_failure", (None,), []),
        ("ksr_branch_media", (None,), [("drop",)]),
        ("ksr_onreply_media", (None,), []),
        ("ksr_queue_failure", (None,), [("tm", 500, "Internal Server Error")]),
        ("ksr_gateway_failure", (None,), [("tm", 500, "Internal Server Error")]),
    ],
)
def test_every_other_route_logs_cleanly_and_answers_where_it_can(
    ksr: FakeKSR, route: str, args: tuple, answer: list[tuple]
) -> None:
    assert getattr(edge(ksr), route)(*args) == 1
    assert ksr.calls == answer
    assert any("unhandled error call-id=guard-id" in line for line in ksr.logs), ksr.logs
