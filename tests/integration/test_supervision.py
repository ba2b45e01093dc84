"""Supervision with real media: who hears whom, measured at each phone by the marker byte
every party fills its RTP payload with (tests/integration/media_ua.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from kemi_app.policy.attendance import SUPERVISION_START, SUPERVISION_STOP, Event
from kemi_app.provisioning.agent import Agent
from kemi_app.state import EdgeState
from tests.integration.api_client import api
from tests.integration.helpers import PASSWORDS
from tests.integration.media_ua import Dialog, Phone, talk
from tests.integration.rtp import no_media_left, wait_for
from tests.state_kit import drop_bindings, put_org

DOMAIN = "demo.test"
SUPERVISOR, SUPERVISOR_PASSWORD = "1090", "supervise1090"
PLAIN, PLAIN_PASSWORD = "1091", "plainagent1091"
SECONDS = 1.5
ENOUGH = 40  # of the ~75 packets a party sends in SECONDS
CUSTOMER_MARK, AGENT_MARK, SUPERVISOR_MARK = 0x11, 0x22, 0x33
MODES = {"51": "listen", "52": "whisper", "53": "barge"}


@pytest.fixture(scope="module", autouse=True)
def supervisors(edge: Stack) -> None:
    """A supervisor and a plain agent, provisioned through the API."""
    status, body = api(edge, "PUT", f"/v1/orgs/demo/agents/{SUPERVISOR}",
                       {"password": SUPERVISOR_PASSWORD, "company": "sales", "supervisor": True})
    assert status in (200, 201) and body["supervisor"] is True, body
    status, body = api(edge, "PUT", f"/v1/orgs/demo/agents/{PLAIN}", {"password": PLAIN_PASSWORD})
    assert status in (200, 201) and body["supervisor"] is False, body


@pytest.fixture(autouse=True)
def no_leaks(edge: Stack) -> Iterator[None]:
    with no_media_left(edge.settings.rtpengine_ng):
        yield


@pytest.fixture()
def phones(edge: Stack, state: EdgeState) -> Iterator[dict[str, Phone]]:
    addr = ("127.0.0.1", edge.settings.sip_port)
    made = {
        "customer": Phone(addr, "1001", PASSWORDS["1001"], DOMAIN, CUSTOMER_MARK),
        "agent": Phone(addr, "1002", PASSWORDS["1002"], DOMAIN, AGENT_MARK),
        "supervisor": Phone(addr, SUPERVISOR, SUPERVISOR_PASSWORD, DOMAIN, SUPERVISOR_MARK),
        "plain": Phone(addr, PLAIN, PLAIN_PASSWORD, DOMAIN, 0x44),
    }
    for ext in ("1001", "1002"):
        drop_bindings(state, "demo", ext)
    made["agent"].register()
    yield made
    for phone in made.values():
        phone.close()


def _connected(phones: dict[str, Phone], state: EdgeState) -> Dialog:
    """1001 (standing in for the customer) calls agent 1002, who answers; both in-call."""
    answering = threading.Thread(target=phones["agent"].answer)
    answering.start()
    dialog = phones["customer"].call("1002")
    answering.join()
    assert dialog.status == 200, dialog
    assert wait_for(lambda: state.r.hlen("edge:calls:demo:1002") == 1, 5)
    return dialog


def _hang_up(phones: dict[str, Phone], dialog: Dialog) -> None:
    closing = threading.Thread(target=phones["agent"].accept_bye)
    closing.start()
    assert phones["customer"].hang_up(dialog) == 200
    closing.join()


def _events(state: EdgeState, call_id: str) -> list[Event]:
    att = state.history.attendance_by_call(call_id)
    assert att is not None
    return [e for e in state.history.attendance_history(att.id) if e.event in (SUPERVISION_START, SUPERVISION_STOP)]


def _history(state: EdgeState, call_id: str) -> list[tuple[str, str, str, str]]:
    return [(e.event, e.actor, e.target, e.detail) for e in _events(state, call_id)]


def _history_becomes(state: EdgeState, call_id: str, expected: list[tuple[str, str, str, str]]) -> None:
    """The edge records a supervision's stop after it answered the supervisor's BYE, and its
    history writer a moment later: the history is expected to get there, not to be there."""
    wait_for(lambda: _history(state, call_id) == expected, 5)
    assert _history(state, call_id) == expected


@pytest.mark.parametrize(("code", "target", "agent_hears", "customer_hears"), [
    ("51", "1002", False, False),  # listen
    ("52", "1002", True, False),  # whisper to the agent who answered
    ("52", "1001", False, True),  # whisper to the agent who placed the call (1001 is that agent here)
    ("53", "1002", True, True),  # barge
])
def test_supervisor_hears_both_parties_and_is_heard_as_the_mode_says(
        phones: dict[str, Phone], state: EdgeState, code: str, target: str, agent_hears: bool,
        customer_hears: bool) -> None:
    dialog = _connected(phones, state)
    customer, agent, supervisor = phones["customer"], phones["agent"], phones["supervisor"]
    supervising = supervisor.call(f"*{code}{target}")
    assert supervising.status == 200, supervising

    heard = talk([customer, agent, supervisor], SECONDS)
    assert heard["1001"].get(AGENT_MARK, 0) >= ENOUGH, heard  # the call itself goes on
    assert heard["1002"].get(CUSTOMER_MARK, 0) >= ENOUGH, heard
    assert heard[SUPERVISOR].get(CUSTOMER_MARK, 0) >= ENOUGH, heard
    assert heard[SUPERVISOR].get(AGENT_MARK, 0) >= ENOUGH, heard
    assert (heard["1002"].get(SUPERVISOR_MARK, 0) >= ENOUGH) is agent_hears, heard
    assert (heard["1001"].get(SUPERVISOR_MARK, 0) >= ENOUGH) is customer_hears, heard
    assert agent_hears or SUPERVISOR_MARK not in heard["1002"], heard  # not a single packet
    assert customer_hears or SUPERVISOR_MARK not in heard["1001"], heard

    assert supervisor.hang_up(supervising) == 200
    after = talk([customer, agent, supervisor], SECONDS)
    assert after[SUPERVISOR] == {}, after  # nothing reaches the supervisor any more
    assert SUPERVISOR_MARK not in after["1001"] and SUPERVISOR_MARK not in after["1002"], after
    assert after["1001"].get(AGENT_MARK, 0) >= ENOUGH and after["1002"].get(CUSTOMER_MARK, 0) >= ENOUGH, after

    mode = MODES[code]
    _history_becomes(state, dialog.call_id, [(SUPERVISION_START, SUPERVISOR, target, mode),
                                             (SUPERVISION_STOP, SUPERVISOR, target, mode)])
    _hang_up(phones, dialog)


def test_only_supervisors_supervise_and_only_agents_on_a_call(phones: dict[str, Phone], state: EdgeState) -> None:
    put_org(state, "other", "other.test", "Other org")
    state.directory.save_agent("other", Agent(ext="1095", ha1="0" * 32))
    supervisor, plain = phones["supervisor"], phones["plain"]
    not_on_call = supervisor.call("*511002")
    assert (not_on_call.status, not_on_call.reason) == (480, "Agent Not On A Call")
    dialog = _connected(phones, state)
    refused = plain.call("*511002")
    assert (refused.status, refused.reason) == (403, "Not A Supervisor")
    assert supervisor.call("*511095").status == 404  # another org's agent is not found
    assert supervisor.call(f"*51{SUPERVISOR}").status == 403
    unknown = supervisor.call("*991002")
    assert (unknown.status, unknown.reason) == (404, "Unknown Feature Code")
    assert _history(state, dialog.call_id) == []
    _hang_up(phones, dialog)


@pytest.mark.parametrize(("mode", "agent_hears", "customer_hears"), [
    ("listen", False, False), ("whisper", True, False), ("barge", True, True),
])
def test_the_api_calls_the_supervisor_into_the_call(
        edge: Stack, phones: dict[str, Phone], state: EdgeState, mode: str, agent_hears: bool,
        customer_hears: bool) -> None:
    customer, agent, supervisor = phones["customer"], phones["agent"], phones["supervisor"]
    supervisor.register()
    dialog = _connected(phones, state)
    status, body = api(edge, "POST", "/v1/orgs/demo/agents/1002/supervision", {"supervisor": SUPERVISOR, "mode": mode})
    assert status == 202, body
    supervising = supervisor.answer()
    code = next(c for c, m in MODES.items() if m == mode)
    assert supervising.remote.startswith(f"<sip:*{code}1002@"), supervising  # the caller names what it is
    assert wait_for(lambda: _history(state, dialog.call_id), 5)

    heard = talk([customer, agent, supervisor], SECONDS)
    assert heard[SUPERVISOR].get(CUSTOMER_MARK, 0) >= ENOUGH and heard[SUPERVISOR].get(AGENT_MARK, 0) >= ENOUGH, heard
    assert (heard["1002"].get(SUPERVISOR_MARK, 0) >= ENOUGH) is agent_hears, heard
    assert (heard["1001"].get(SUPERVISOR_MARK, 0) >= ENOUGH) is customer_hears, heard
    assert agent_hears or SUPERVISOR_MARK not in heard["1002"], heard
    assert customer_hears or SUPERVISOR_MARK not in heard["1001"], heard

    assert supervisor.hang_up(supervising) == 200
    _history_becomes(state, dialog.call_id, [(SUPERVISION_START, SUPERVISOR, "1002", mode),
                                             (SUPERVISION_STOP, SUPERVISOR, "1002", mode)])
    _hang_up(phones, dialog)


def test_the_api_names_what_stops_a_supervision(edge: Stack, phones: dict[str, Phone], state: EdgeState) -> None:
    def ask(body: dict[str, str]) -> tuple[int, object]:
        return api(edge, "POST", "/v1/orgs/demo/agents/1002/supervision", body)

    state.r.delete(f"edge:bindings:demo:{SUPERVISOR}")
    assert ask({"supervisor": SUPERVISOR, "mode": "listen"}) == (409, {"error": "Agent Not On A Call"})
    dialog = _connected(phones, state)
    assert ask({"supervisor": SUPERVISOR, "mode": "listen"}) == (
        409, {"error": "Supervisor Not Reachable", "field": "supervisor"})
    assert ask({"supervisor": PLAIN, "mode": "listen"}) == (403, {"error": "Not A Supervisor", "field": "supervisor"})
    status, body = ask({"supervisor": SUPERVISOR, "mode": "spy"})
    assert (status, body["field"]) == (400, "mode"), body
    assert api(edge, "POST", "/v1/orgs/demo/agents/1095/supervision",
               {"supervisor": SUPERVISOR, "mode": "listen"})[0] == 404
    assert _history(state, dialog.call_id) == []
    _hang_up(phones, dialog)


@pytest.mark.parametrize("by_api", [False, True])
def test_the_end_of_the_call_hangs_up_the_supervisor(
        edge: Stack, phones: dict[str, Phone], state: EdgeState, by_api: bool) -> None:
    supervisor = phones["supervisor"]
    supervisor.register()
    dialog = _connected(phones, state)
    if by_api:
        assert api(edge, "POST", "/v1/orgs/demo/agents/1002/supervision",
                   {"supervisor": SUPERVISOR, "mode": "barge"})[0] == 202
        supervising = supervisor.answer()
        assert wait_for(lambda: _history(state, dialog.call_id), 5)
    else:
        supervising = supervisor.call("*531002")
        assert supervising.status == 200, supervising
    _hang_up(phones, dialog)
    bye = supervisor.accept_bye()
    assert f"Call-ID: {supervising.call_id}" in bye, bye
    assert supervising.local.split("tag=")[1] in bye.split("To:")[1].split("\r\n")[0], bye  # its own dialog
    stop = _events(state, dialog.call_id)[-1]
    assert (stop.event, stop.reason, stop.call_id) == (SUPERVISION_STOP, "call ended", supervising.call_id)
    assert not state.r.exists(f"edge:sup:{supervising.call_id}", f"edge:supcalls:{dialog.call_id}")
