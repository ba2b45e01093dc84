"""A queue offer decides on members' calls in progress, which this node's dialog events write
through the history writer: it waits for those on their way only when they could change the
pick (sip/queues.py _exact), the first pick of a call on a kept route included."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit import fake_ksr

FREE = ("3001", False, ["binding"])


class Recorded:
    """ctx.state's dialog events and queues: what they answer, and the order they are used in."""

    def __init__(self, picks: list[Any], pending: bool = False, starting: tuple[str, ...] = ()) -> None:
        self.picks, self.on_way, self.started = picks, pending, starting
        self.order: list[str] = []

    def pick(self, *args: Any, **kwargs: Any) -> Any:
        self.order.append("pick")
        return self.picks.pop(0)

    def pending(self) -> bool:
        return self.on_way

    def starting(self, org: str, ext: str) -> bool:
        return ext in self.started

    def release_offer(self, org: str, ext: str, att: str, offer_again: bool = True) -> None:
        self.order.append(f"release {ext}")

    def settle(self) -> None:
        self.order.append("settle")

    def ctx(self) -> SimpleNamespace:
        return SimpleNamespace(state=SimpleNamespace(dialog_events=self, queues=self))


@pytest.fixture
def queues():
    fake_ksr.install()
    yield importlib.import_module("kemi_app.sip.queues")
    fake_ksr.uninstall()


def _pick(queues, recorded: Recorded) -> Any:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    return queues._exact(recorded.ctx(), _sales(callstate), "att-1", [], "", recorded.pick())


def _sales(callstate) -> Any:
    return callstate.QueueCall("org", "700", "Sales", 5, "")


@pytest.mark.parametrize("pending", [False, True])
def test_a_member_with_no_call_start_on_its_way_is_taken_without_waiting(queues, pending: bool) -> None:
    recorded = Recorded([FREE], pending=pending)
    assert _pick(queues, recorded) == FREE
    assert recorded.order == ["pick"]


def test_a_member_whose_call_start_is_on_its_way_is_given_back_and_the_pick_waits_for_it(queues) -> None:
    other = ("3002", True, ["b"])
    recorded = Recorded([FREE, other], pending=True, starting=("3001",))
    assert _pick(queues, recorded) == other
    assert recorded.order == ["pick", "release 3001", "settle", "pick"]


def test_nobody_free_waits_only_for_dialog_events_on_their_way(queues) -> None:
    idle = Recorded([None])
    assert _pick(queues, idle) is None
    assert idle.order == ["pick"]
    ending = Recorded([None, FREE], pending=True)  # a call end on its way frees a member
    assert _pick(queues, ending) == FREE
    assert ending.order == ["pick", "settle", "pick"]


def test_the_first_pick_on_a_kept_route_gives_back_a_member_whose_call_start_is_on_its_way(queues) -> None:
    callstate = importlib.import_module("kemi_app.sip.callstate")
    other = ("3002", False, [])
    recorded = Recorded([FREE, other], pending=True, starting=("3001",))
    first = queues.pick_first(recorded.ctx(), _sales(callstate), "att-1", "7")
    assert first.member == other and first.offer is None  # no live binding: nothing to ring, no offer written
    assert recorded.order == ["pick", "release 3001", "settle", "pick"]
