"""A queue offer decides on members' calls in progress, which this node's dialog events write
through the history writer: it waits for those on their way before it picks (sip/queues.py)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit import fake_ksr


class Recorded:
    """ctx.state's dialog events and queues, in the order they are used."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def settle(self) -> None:
        self.order.append("settle")

    def pick(self, *args: Any, **kwargs: Any) -> None:
        self.order.append("pick")  # nobody free

    def ctx(self) -> SimpleNamespace:
        return SimpleNamespace(state=SimpleNamespace(dialog_events=self, queues=self))


@pytest.fixture
def queues():
    ksr = fake_ksr.install()
    ksr.answers["htable.sht_get"] = lambda table, item: 0
    yield importlib.import_module("kemi_app.sip.queues")
    fake_ksr.uninstall()


def test_an_offer_waits_for_this_nodes_dialog_events_before_it_picks(queues) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    recorded = Recorded()
    tx = callstate.Transaction(offer_attendance="att-1")
    assert queues.offer_next(recorded.ctx(), tx, callstate.QueueCall("org", "700", "Sales", 5, "")) is False
    assert recorded.order == ["settle", "pick"]
