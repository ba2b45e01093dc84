"""An agent whose WebSocket closes mid-call leaves no stuck call and goes offline, whether the
other side reached the edge over UDP or over TCP (a BYE over TCP must leave from a process
that can send on TCP connections, not from the TCP main process that saw the close)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from edgeops.stack import Stack
from kemi_app.state import keys
from tests.integration.contact_centre import DOMAIN, PASSWORD, ContactCentre
from tests.integration.helpers import PASSWORDS, call, finish
from tests.integration.rtp import wait_for
from tests.sipp import Sipp, SippResult
from tests.state_kit import drop_bindings
from tests.ws_agent import WsAgent


def vanish_mid_call(agent: WsAgent, place_call: Callable[[], SippResult]) -> None:
    """The call is placed, the agent answers and vanishes: the other side gets its BYE within 5 s."""
    result: dict[str, SippResult] = {}
    other = threading.Thread(target=lambda: result.setdefault("r", place_call()), daemon=True)
    other.start()
    agent.answer_next_invite()
    time.sleep(0.5)
    started = time.monotonic()
    agent.vanish()
    other.join(15)
    assert "r" in result, "the other side was never hung up on"
    assert result["r"].ok, result["r"].output + result["r"].errors
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp-caller", "tcp-caller"])
def test_closed_websocket_ends_the_call_and_removes_bindings(edge: Stack, sipp: Sipp, state, transport) -> None:
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(f"ws://127.0.0.1:{edge.settings.ws_port}", "1002", "demo.test", PASSWORDS["1002"])
    assert agent.register() == 200
    # The caller would talk for 20 s; it must instead receive a BYE once the agent vanishes.
    vanish_mid_call(agent, lambda: call(sipp, "1001", "1002", scenario="uac_hungup.xml", transport=transport))
    assert state.registrations.bindings("demo", "1002") == []
    # The agent is offline and the call's history says why.
    assert wait_for(lambda: state.agents.presence("demo", ["1002"])[0].state == "offline", timeout=5)
    attendance = state.history.recent_attendances("demo", "1002")[0]
    # The end is recorded once the caller's 200 to the BYE is in, which may be after sipp exits.
    history = wait_for(lambda: (h := state.history.attendance_history(attendance)) and h[-1].event == "end" and h, 5)
    assert history, state.history.attendance_history(attendance)
    gone = [e for e in history if e.event == "agent-gone"]
    assert [(e.actor, e.reason) for e in gone] == [("1002", "websocket closed")]
    assert [e.event for e in history].count("end") == 1, history


def test_closed_websocket_while_ringing_answers_the_caller_at_once(edge: Stack, sipp: Sipp, state) -> None:
    # The agent's only device vanishes while a call rings it: the caller hears 480 now, not
    # ringing until the INVITE times out (the edge cannot reach a closed WebSocket).
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(f"ws://127.0.0.1:{edge.settings.ws_port}", "1002", "demo.test", PASSWORDS["1002"])
    assert agent.register() == 200
    result: dict[str, SippResult] = {}
    caller = threading.Thread(target=lambda: result.setdefault(
        "r", call(sipp, "1001", "1002", scenario="uac_refused.xml", expect=480)), daemon=True)
    caller.start()
    agent.next_request("INVITE")
    started = time.monotonic()
    agent.vanish()
    caller.join(15)
    assert "r" in result and result["r"].ok, result["r"].output + result["r"].errors if result else "no answer"
    assert time.monotonic() - started < 5
    attendance = state.history.recent_attendances("demo", "1002")[0]
    history = wait_for(lambda: (h := state.history.attendance_history(attendance)) and h[-1].event == "end" and h, 5)
    assert history and history[-1].result == "not answered", state.history.attendance_history(attendance)


def test_closed_websocket_ends_a_queue_call_from_a_carrier(centre: ContactCentre, sipp: Sipp, edge: Stack) -> None:
    # The agent answers a customer's call offered by a queue (it joins the call in the reply
    # route, not when the call is relayed): its vanishing ends that call too.
    centre.reset()
    agent = WsAgent(f"ws://127.0.0.1:{edge.settings.ws_port}", "3001", DOMAIN, PASSWORD)
    assert agent.register() == 200
    vanish_mid_call(agent, lambda: centre.customer("customer_hungup.xml"))
    assert wait_for(lambda: centre.state.agents.presence("cc", ["3001"])[0].state == "offline", timeout=5)
    assert centre.state.r.hlen(keys.calls("cc", "3001")) == 0


def test_a_queue_call_whose_phone_lost_it_is_ended_by_keepalives(centre: ContactCentre, sipp: Sipp) -> None:
    # A UDP phone that restarted mid-call (no BYE, no WebSocket to close): the edge's in-dialog
    # OPTIONS get 481 and the call ends on both sides; its agent is in-call no more. Keepalives
    # go every 30 s at the earliest (the dialog module's floor), so this takes about a minute.
    centre.reset()
    port = centre.login("3001")
    patient = ["-timeout", "100s", "-recv_timeout", "100000"]
    phone = sipp.start("uas_forgets.xml", [], port=port, extra=patient)
    time.sleep(0.3)
    # -aa: the customer's phone answers the keepalives the edge sends it too.
    customer = sipp.start("customer_hungup.xml", [], port=centre.customer_ports[0],
                          values={"target_uri": centre.did_uri()}, extra=[*patient, "-aa"])
    assert wait_for(lambda: centre.state.agents.presence("cc", ["3001"])[0].state == "in-call", timeout=5)
    for side in (phone, customer):  # the phone answered a keepalive 481; the customer got a BYE
        code, out = finish(side, timeout=100)
        assert code == 0, out
    # The dialog timer process ends the call (BYEs, then dialog:end) on its next 1 s tick.
    available = wait_for(lambda: centre.state.agents.presence("cc", ["3001"])[0].state == "available", timeout=15)
    assert available, (centre.state.agents.presence("cc", ["3001"]), centre.state.r.hgetall(keys.calls("cc", "3001")))
    assert centre.state.r.hlen(keys.calls("cc", "3001")) == 0
