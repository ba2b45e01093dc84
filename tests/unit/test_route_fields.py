"""The message fields a route reads many times (method, Call-ID, status, source) come from
Kamailio once per route; each route starts and ends with them forgotten, so a route run
inside another (a dialog event raised by loose_route) and the route around it each read
their own message."""

from __future__ import annotations

import importlib

import pytest

from tests.unit import fake_ksr


@pytest.fixture
def ksr():
    fake = fake_ksr.install({"$ci": "call-1", "$rm": "BYE", "$ru": "sip:a@b"})
    yield fake
    fake_ksr.uninstall()


def _reads(ksr: fake_ksr.FakeKSR, name: str) -> int:
    return sum(1 for path, args in ksr.calls if path == "pv.get" and args[0] == name)


def test_a_fixed_field_is_read_once_per_route_and_other_fields_every_time(ksr) -> None:
    context = importlib.import_module("kemi_app.sip.context")
    routes = importlib.import_module("kemi_app.sip.routes")

    def body() -> None:
        assert [context.pv("$ci") for _ in range(3)] == ["call-1"] * 3
        assert [context.pv("$ru") for _ in range(2)] == ["sip:a@b"] * 2

    routes._guard("test", body)
    assert _reads(ksr, "$ci") == 1
    assert _reads(ksr, "$ru") == 2


def test_a_route_inside_a_route_reads_its_own_message_and_the_outer_one_reads_again(ksr) -> None:
    context = importlib.import_module("kemi_app.sip.context")
    routes = importlib.import_module("kemi_app.sip.routes")
    seen: list[str] = []

    def inner() -> None:
        seen.append(context.pv("$ci"))

    def outer() -> None:
        seen.append(context.pv("$ci"))
        ksr.pvs["$ci"] = "call-2"  # the nested route runs for another message
        routes._guard("inner", inner)
        ksr.pvs["$ci"] = "call-1"
        seen.append(context.pv("$ci"))

    routes._guard("outer", outer)
    assert seen == ["call-1", "call-2", "call-1"]
    ksr.pvs["$ci"] = "call-3"  # the next route: nothing of the last one is kept
    routes._guard("next", lambda: seen.append(context.pv("$ci")))
    assert seen[-1] == "call-3"
