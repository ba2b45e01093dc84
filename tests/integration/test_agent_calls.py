"""Pause blocking, login sessions, the dial plan, carrier gateways and agent state, with a
real Kamailio, Redis and sipp on every side (agents, services and carrier gateways)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from kemi_app.rtpengine_ng import command as ng_command
from tests.integration.api_client import api
from tests.integration.helpers import DEMO, checks, finish, register, wait_bound
from tests.integration.rtp import pause as pause_ms
from tests.integration.rtp import reinvite
from tests.sipp import Sipp, SippResult
from tests.state_kit import calls_of
from tests.ws_agent import WsAgent

COMPANY = "pausing"
CALLER, CALLER_PW = "1301", "agent-1301-pw"
PEER, PEER_PW = "1302", "agent-1302-pw"
BR_MOBILE = "+5511987654321"


def dial(sipp: Sipp, number: str, expect: int = 200, must_match: tuple[str, ...] = (), caller: str = CALLER,
         password: str = CALLER_PW, hold_ms: int = 200) -> SippResult:
    scenario = "uac_call.xml" if expect == 200 else "uac_refused.xml"
    return sipp.run(scenario, [[caller, DEMO, password, number]], extra=["-au", caller, "-ap", password],
                    values={"expect": expect, "checks": checks(*must_match) if must_match else "",
                            "hold_ms": hold_ms})


def peer(sipp: Sipp, port: int, scenario: str = "uas.xml", calls: int = 1, must_match: tuple[str, ...] = (),
         **values: object) -> subprocess.Popen[str]:
    """A sipp UAS (agent phone, service or carrier gateway) on `port`."""
    proc = sipp.start(scenario, [], port=port, calls=calls,
                      values={"checks": checks(*must_match) if must_match else "", **values})
    wait_bound(proc, port)
    return proc


def ok(result: SippResult) -> None:
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


def done(proc: subprocess.Popen[str]) -> None:
    code, out = finish(proc)
    assert code == 0, out[-3000:]


def ruri(number: str) -> str:
    return f"^INVITE sip:{re.escape(number)}@"


@pytest.fixture(scope="module")
def agents(edge) -> Iterator[None]:
    assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", {"name": "Pausing Co"})[0] in (200, 201)
    for ext, pw in ((CALLER, CALLER_PW), (PEER, PEER_PW)):
        assert api(edge, "PUT", f"/v1/orgs/demo/agents/{ext}", {"password": pw, "company": COMPANY})[0] in (200, 201)
    yield
    for ext in (CALLER, PEER):
        api(edge, "DELETE", f"/v1/orgs/demo/agents/{ext}?force=true")
    api(edge, "DELETE", f"/v1/orgs/demo/companies/{COMPANY}")


@pytest.fixture
def company(edge, agents):
    """Sets the test company's settings; restores the defaults afterwards."""

    def put(**settings: object) -> None:
        assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", settings)[0] == 200

    yield put
    put()
    api(edge, "PUT", f"/v1/orgs/demo/agents/{CALLER}/status", {"status": "available"})


def pause(edge, name: str | None) -> None:
    body = {"status": "paused", "pause": name} if name else {"status": "available"}
    assert api(edge, "PUT", f"/v1/orgs/demo/agents/{CALLER}/status", body)[0] == 200


PHONES: dict[str, int] = {}  # ext -> port of its current registration


def login(sipp: Sipp, ext: str = CALLER, password: str = CALLER_PW) -> int:
    """A fresh login: unregister the previous phone, then register from a new client session."""
    logout(sipp, ext, password)
    port = PHONES[ext] = sipp.next_port()
    ok(register(sipp, ext, port, password=password))
    return port


def logout(sipp: Sipp, ext: str, password: str) -> None:
    if ext in PHONES:
        ok(register(sipp, ext, PHONES.pop(ext), password=password, expires=0))


def session(edge, ext: str = CALLER) -> dict:
    status, body = api(edge, "GET", f"/v1/orgs/demo/agents/{ext}/session")
    assert status == 200
    return body["session"]


# -- pause blocking and the "next login" rule ------------------------------------------------

def test_blocking_applies_from_the_next_login_only(edge, sipp: Sipp, company, gateways) -> None:
    login(sipp)
    assert session(edge)["block_calls_during_pause"] is False
    pause(edge, "Break")
    company(block_calls_during_pause=True)
    # The running session keeps its snapshot: the paused agent still reaches the carrier.
    gw = peer(sipp, gateways[0], must_match=(ruri(BR_MOBILE),))
    ok(dial(sipp, BR_MOBILE))
    done(gw)
    # The next login snapshots the new setting: now the same call is refused, naming the pause.
    login(sipp)
    snapshot = session(edge)
    assert snapshot["block_calls_during_pause"] is True
    ok(dial(sipp, BR_MOBILE, 403, ("^SIP/2.0 403 Calls blocked during pause: Break", "X-Edge-Pause: Break")))
    # Turning the setting off again does not touch the running session either.
    company(block_calls_during_pause=False)
    ok(dial(sipp, BR_MOBILE, 403, ("X-Edge-Pause: Break",)))
    assert session(edge)["started_at"] == snapshot["started_at"]


def test_paused_agent_blocks_every_kind_of_call_but_emergency(edge, sipp: Sipp, company, gateways) -> None:
    company(block_calls_during_pause=True)
    login(sipp)
    pause(edge, "Training")
    refused = ("^SIP/2.0 403 Calls blocked during pause: Training", "X-Edge-Pause: Training")
    for number in ("11987654321", PEER, "300", "399", "+12125550100"):
        ok(dial(sipp, number, 403, refused))
    for emergency in ("190", "192", "193"):
        gw = peer(sipp, gateways[0], must_match=(ruri(emergency),))
        ok(dial(sipp, emergency))
        done(gw)
    # Available again: the external call reaches the gateway.
    pause(edge, None)
    gw = peer(sipp, gateways[0], must_match=(ruri(BR_MOBILE),))
    ok(dial(sipp, BR_MOBILE))
    done(gw)


def test_in_dialog_requests_pass_while_paused(edge, sipp: Sipp, company, gateways) -> None:
    """Paused (with blocking) during a call: hold and resume re-INVITEs and the BYE still pass."""
    company(block_calls_during_pause=True)
    login(sipp)
    gw = peer(sipp, gateways[0], "uas_echo.xml", ring_ms=100, offer_check="")
    steps = pause_ms(1200) + reinvite(3, "sendonly") + pause_ms(300) + reinvite(4, "sendrecv") + pause_ms(200)
    caller = sipp.start("uac_media.xml", [[CALLER, DEMO, CALLER_PW, BR_MOBILE]], port=sipp.next_port(),
                        values={"steps": steps, "bye_cseq": 5}, extra=["-au", CALLER, "-ap", CALLER_PW])
    assert wait_for(edge, CALLER, "calls", 1)["calls"] == 1
    pause(edge, "Meeting")
    done(caller)  # every re-INVITE was answered 200 and the BYE too
    done(gw)


# -- dial plan --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("dialled", "expected"),
    [("+5511987654321", "+5511987654321"), ("005511987654321", "+5511987654321"),
     ("11987654321", "+5511987654321"), ("011 3333-4444".replace(" ", ""), "+551133334444")],
)
def test_external_numbers_reach_the_gateway_in_e164(edge, sipp: Sipp, agents, gateways, dialled, expected) -> None:
    gw = peer(sipp, gateways[0], must_match=(ruri(expected),))
    ok(dial(sipp, dialled))
    done(gw)


@pytest.mark.parametrize(
    ("dialled", "status", "reason"),
    [("+12125550100", 403, "International destination not authorised"),
     ("0035121234567", 403, "International destination not authorised"),
     ("12", 484, "Address Incomplete"),
     ("119876", 484, "Address Incomplete"),
     ("abcdef", 404, "Invalid Number"),
     ("999", 404, "Service Not Found"),
     ("1555", 404, "Extension Not Found")],
)
def test_dial_plan_refusals(edge, sipp: Sipp, agents, dialled: str, status: int, reason: str) -> None:
    ok(dial(sipp, dialled, status, (f"^SIP/2.0 {status} {reason}",)))


def test_allowed_countries_follow_the_company(edge, sipp: Sipp, company, gateways) -> None:
    company(allowed_country_codes=["55", "1"])
    gw = peer(sipp, gateways[0], must_match=(ruri("+12125550100"),))
    ok(dial(sipp, "+12125550100"))
    done(gw)


# -- carrier gateways -------------------------------------------------------------------------

def test_failover_to_the_next_gateway_on_503(edge, sipp: Sipp, agents, gateways) -> None:
    failing = peer(sipp, gateways[0], "gateway_refuse.xml", status=503, reason="Service Unavailable")
    working = peer(sipp, gateways[1], must_match=(ruri(BR_MOBILE),))
    ok(dial(sipp, BR_MOBILE))
    done(failing)
    done(working)


def test_failover_on_timeout(edge, sipp: Sipp, agents, gateways) -> None:
    # Nothing listens on the first gateway's port: the edge's own timer fails it over.
    working = peer(sipp, gateways[1], must_match=(ruri(BR_MOBILE),))
    started = time.monotonic()
    ok(dial(sipp, BR_MOBILE))
    done(working)
    assert time.monotonic() - started >= edge.settings.gateway_timeout_ms / 1000


def test_all_gateways_failing_gives_503(edge, sipp: Sipp, agents, gateways) -> None:
    first = peer(sipp, gateways[0], "gateway_refuse.xml", status=500, reason="Server Error")
    second = peer(sipp, gateways[1], "gateway_refuse.xml", status=503, reason="Service Unavailable")
    ok(dial(sipp, BR_MOBILE, 503, ("^SIP/2.0 503 All Gateways Failed",)))
    done(first)
    done(second)


def test_a_busy_callee_is_not_failed_over(edge, sipp: Sipp, agents, gateways) -> None:
    busy = peer(sipp, gateways[0], "gateway_refuse.xml", status=486, reason="Busy Here")
    ok(dial(sipp, BR_MOBILE, 486))
    done(busy)


def test_no_gateway_gives_503(edge, sipp: Sipp, agents, state) -> None:
    saved = state.directory.list_gateways()
    for gw in saved:
        state.directory.delete_gateway(gw.id)
    try:
        ok(dial(sipp, BR_MOBILE, 503, ("^SIP/2.0 503 No Carrier Gateway",)))
    finally:
        for gw in saved:
            state.directory.save_gateway(gw)


# -- services, DND and agent state -----------------------------------------------------------

def test_conference_service_is_relayed_to_its_uri(edge, sipp: Sipp, agents) -> None:
    port = sipp.next_port()
    body = {"kind": "conference", "name": "Room", "target_uri": f"sip:room388@127.0.0.1:{port}"}
    assert api(edge, "PUT", "/v1/orgs/demo/services/388", body)[0] == 201
    try:
        room = peer(sipp, port, must_match=("^INVITE sip:room388@127.0.0.1",))
        ok(dial(sipp, "388"))
        done(room)
    finally:
        api(edge, "DELETE", "/v1/orgs/demo/services/388")


def test_dnd_agent_gets_486(edge, sipp: Sipp, agents) -> None:
    login(sipp, PEER, PEER_PW)
    assert api(edge, "PUT", f"/v1/orgs/demo/agents/{PEER}/dnd", {"dnd": True})[0] == 200
    try:
        ok(dial(sipp, PEER, 486, ("^SIP/2.0 486 Do Not Disturb",)))
    finally:
        assert api(edge, "PUT", f"/v1/orgs/demo/agents/{PEER}/dnd", {"dnd": False})[0] == 200


def presence_of(edge, ext: str) -> dict:
    status, body = api(edge, "GET", f"/v1/orgs/demo/agents/{ext}/presence")
    assert status == 200
    return body


def wait_for(edge, ext: str, field: str, value: object, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = presence_of(edge, ext)
        if body[field] == value or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_presence_follows_calls_pause_and_registration(edge, sipp: Sipp, company, gateways) -> None:
    phone = login(sipp, PEER, PEER_PW)
    login(sipp)
    assert presence_of(edge, CALLER)["state"] == "available"
    pause(edge, "Restroom")
    p = presence_of(edge, CALLER)
    assert (p["state"], p["pause"]) == ("paused", "Restroom") and 0 <= p["seconds_in_state"] < 5
    pause(edge, None)
    # Two calls at once: one to another agent, one to the carrier.
    callee = peer(sipp, phone)
    gw = peer(sipp, gateways[0])
    calls = [
        sipp.start("uac_call.xml", [[CALLER, DEMO, CALLER_PW, number]], port=sipp.next_port(),
                   values={"hold_ms": 2500}, extra=["-au", CALLER, "-ap", CALLER_PW])
        for number in (PEER, BR_MOBILE)
    ]
    busy = wait_for(edge, CALLER, "calls", 2)
    assert (busy["state"], busy["calls"]) == ("in-call", 2)
    assert presence_of(edge, PEER)["state"] == "in-call"
    listing = {a["ext"]: a for a in api(edge, "GET", "/v1/orgs/demo/presence")[1]}
    assert listing[CALLER]["state"] == "in-call" and listing[PEER]["calls"] == 1
    for proc in (*calls, callee, gw):
        done(proc)
    assert wait_for(edge, CALLER, "calls", 0)["state"] == "available"
    # The last binding gone: offline.
    logout(sipp, CALLER, CALLER_PW)
    logout(sipp, PEER, PEER_PW)
    p = presence_of(edge, CALLER)
    assert p["state"] == "offline" and 0 <= p["seconds_in_state"] < 5


def test_deleting_an_agent_in_a_call_needs_force(edge, sipp: Sipp, agents, gateways, state) -> None:
    gw = peer(sipp, gateways[0])
    caller = sipp.start("uac_call.xml", [[CALLER, DEMO, CALLER_PW, BR_MOBILE]], port=sipp.next_port(),
                        values={"hold_ms": 2000}, extra=["-au", CALLER, "-ap", CALLER_PW])
    assert wait_for(edge, CALLER, "calls", 1)["calls"] == 1
    status, body = api(edge, "DELETE", f"/v1/orgs/demo/agents/{CALLER}")
    assert status == 409 and "call" in body["error"]
    assert api(edge, "DELETE", "/v1/orgs/demo")[0] == 409
    assert api(edge, "DELETE", f"/v1/orgs/demo/agents/{CALLER}?force=true")[0] == 200
    done(caller)  # the call in progress is not cut: it ends with its BYE
    done(gw)
    assert calls_of(state, "demo", CALLER) == 0
    assert api(edge, "PUT", f"/v1/orgs/demo/agents/{CALLER}", {"password": CALLER_PW, "company": COMPANY})[0] == 201


def test_force_deleting_an_org_keeps_its_calls_up(edge, sipp: Sipp, gateways, state) -> None:
    assert api(edge, "PUT", "/v1/orgs/doomed", {"domain": "doomed.test"})[0] == 201
    assert api(edge, "PUT", "/v1/orgs/doomed/agents/6001", {"password": "doomed-6001"})[0] == 201
    gw = peer(sipp, gateways[0])
    caller = sipp.start("uac_call.xml", [["6001", "doomed.test", "doomed-6001", BR_MOBILE]], port=sipp.next_port(),
                        values={"hold_ms": 2000}, extra=["-au", "6001", "-ap", "doomed-6001"])
    deadline = time.monotonic() + 10
    while calls_of(state, "doomed", "6001") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api(edge, "DELETE", "/v1/orgs/doomed")[0] == 409
    assert api(edge, "DELETE", "/v1/orgs/doomed?force=true")[0] == 200
    assert api(edge, "GET", "/v1/orgs/doomed")[0] == 404
    done(caller)  # answered, talked, hung up with a BYE that still found its way
    done(gw)
    # Only the call's history remains (kept for its retention, like every call's).
    state.dialog_events.settle()  # the call's end, on its way to Redis when the BYE was answered
    left = state.r.keys("edge:*doomed*")
    kept = ("edge:recent:", "edge:idle:", "edge:version:")
    assert [k for k in left if not k.startswith(kept)] == [], left


def test_a_restarted_edge_forgets_the_calls_it_lost(edge, sipp: Sipp, agents, gateways, state) -> None:
    """Kamailio keeps dialogs in memory: after a restart no end event will come for them, so the
    node drops their records at start instead of leaving the agent in-call for hours."""
    gw = peer(sipp, gateways[0])
    caller = sipp.start("uac_call.xml", [[CALLER, DEMO, CALLER_PW, BR_MOBILE]], port=sipp.next_port(),
                        values={"hold_ms": 4000}, extra=["-au", CALLER, "-ap", CALLER_PW])
    assert wait_for(edge, CALLER, "calls", 1)["state"] == "in-call"
    edge.restart_kamailio()
    assert calls_of(state, "demo", CALLER) == 0
    assert presence_of(edge, CALLER)["state"] != "in-call"
    finish(caller)  # its BYE still follows the Record-Route through the new Kamailio
    finish(gw)
    # The lost dialog cannot delete its media session; rtpengine would time it out later.
    ng_command(edge.settings.rtpengine_ng, {"command": "delete", "call-id": f"1-{caller.pid}@127.0.0.1"})


def test_a_new_websocket_connection_starts_a_new_session(edge, sipp: Sipp, agents, state) -> None:
    """Same client Call-ID, new connection after the old one closed: a new login."""
    logout(sipp, PEER, PEER_PW)
    url = f"ws://127.0.0.1:{edge.settings.ws_port}"
    first = WsAgent(url, PEER, DEMO, PEER_PW)
    assert first.register() == 200
    before = session(edge, PEER)
    first.ws.close()
    deadline = time.monotonic() + 10
    while state.registrations.bindings("demo", PEER) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert presence_of(edge, PEER)["state"] == "offline"
    second = WsAgent(url, PEER, DEMO, PEER_PW)
    second.call_id = first.call_id
    assert second.register() == 200
    after = session(edge, PEER)
    assert after["call_id"] == before["call_id"] and after["started_at"] > before["started_at"]
    second.ws.close()
