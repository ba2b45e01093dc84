"""Transfers with real peers: a customer whose phone honours REFER, agents that REFER, IVRs.

Blind and attended transfers inside the org, inter-org transfers to the destination org's
IVR by REFER and by the API, each eligibility rule, and the history they leave."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from urllib.parse import quote

import pytest

from edgeops.stack import Stack
from kemi_app.provisioning.did import Did
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from tests.conftest import API_TOKEN
from tests.integration.contact_centre import DEST_DOMAIN, DOMAIN, PASSWORD, ContactCentre
from tests.integration.helpers import answer_one, call, finish
from tests.integration.rtp import wait_for
from tests.integration.test_edgectl import edgectl
from tests.sipp import Sipp

REFER_OK = {"refer_status": 202, "hold_ms": 500}


@pytest.fixture
def cc(centre: ContactCentre) -> ContactCentre:
    centre.reset()
    for ext in ("3001", "3002"):
        centre.login(ext)
    centre.pause("3002")  # queue calls go to 3001; 3002 only takes transfers
    return centre


def events(cc: ContactCentre, att: str) -> list[tuple[str, str, str, str]]:
    return [(e.event, e.target or e.actor, e.result, e.detail) for e in cc.state.history.attendance_history(att)]


def api(edge: Stack, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(
        edge.admin_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_blind_transfer_to_another_agent_keeps_the_attendance(cc: ContactCentre, sipp: Sipp) -> None:
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:3002@{DOMAIN}", **REFER_OK)
    target = answer_one(sipp, cc.agent_ports["3002"])
    referred, dialled = cc.transferred_customer()
    assert referred.ok, referred.output + referred.errors
    assert dialled is not None and dialled.ok, dialled.output + dialled.errors if dialled else ""
    assert finish(agent)[0] == 0 and finish(target)[0] == 0
    att = cc.last_attendance("3001")
    story = events(cc, att)
    assert ("transfer", "3002", "requested", "blind") in story
    transfer = next(e for e in cc.state.history.attendance_history(att) if e.event == "transfer")
    assert transfer.actor == "3001"
    assert ("transfer", "3002", "connecting", "blind") in story
    assert [e[:2] for e in story if e[0] == "answer"] == [("answer", "3001"), ("answer", "3002")]
    assert [e[0] for e in story].count("end") == 2
    record = cc.state.history.attendance(att)
    assert record is not None and len(record.legs) == 2 and not record.interorg_transferred
    assert cc.last_attendance("3002") == att
    # The whole story, in order, as the history stream holds it.
    assert [(e[0], e[1], e[2]) for e in story] == [
        ("start", "800", ""), ("offer", "3001", ""), ("ring", "3001", ""), ("answer", "3001", ""),
        ("transfer", "3002", "requested"), ("end", "3001", "ended"), ("transfer", "3002", "connecting"),
        ("ring", "3002", ""), ("answer", "3002", ""), ("end", "3002", "ended"),
    ]


def test_edgectl_prints_the_history_and_recent_calls(cc: ContactCentre, sipp: Sipp, edge: Stack) -> None:
    phone = answer_one(sipp, cc.agent_ports["3001"])
    assert cc.customer().ok
    assert finish(phone)[0] == 0
    att = cc.last_attendance("3001")
    history = edgectl(edge, "attendance", att)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].startswith(f"{att}  org cc  inbound via queue  queue 800")
    assert [line.split()[1] for line in lines[2:]] == ["start", "offer", "ring", "answer", "end"]
    recent = edgectl(edge, "calls", "cc", "3001", "--limit", "1")
    assert recent.returncode == 0, recent.stderr
    assert att in recent.stdout.splitlines()[1]


def test_interorg_transfer_by_refer_lands_at_the_destination_ivr(cc: ContactCentre, sipp: Sipp) -> None:
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}", **REFER_OK)
    ivr = answer_one(sipp, cc.dest_ivr_port, "uas_headers.xml", header_regexp="X-Edge-Attendance: att-")
    referred, dialled = cc.transferred_customer()
    assert referred.ok, referred.output + referred.errors
    assert dialled is not None and dialled.ok, dialled.output + dialled.errors if dialled else ""
    assert finish(agent)[0] == 0 and finish(ivr)[0] == 0
    att = cc.last_attendance("3001")
    assert ("transfer", "dest", "requested", "interorg") in events(cc, att)
    destination_attendance(cc, att)


@pytest.mark.parametrize(
    ("setup", "rule"),
    [
        ({"interorg": False}, "source-org-disabled"),
        ({"linked": False}, "destination-not-linked"),
    ],
)
def test_interorg_refer_refused_names_the_rule(cc: ContactCentre, sipp: Sipp, setup: dict, rule: str) -> None:
    cc.reset(**setup)
    cc.login("3001")
    refused = {**REFER_OK, "refer_status": 403}
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}", **refused)
    result = cc.customer("customer_hungup.xml")
    assert result.ok, result.output + result.errors
    assert finish(agent)[0] == 0
    story = events(cc, cc.last_attendance("3001"))
    assert [e for e in story if e[0] == "refused"] == [("refused", "dest", rule, "inter-org transfer")]
    assert not any(e[0] == "transfer" for e in story)


def answered_queue_call(cc: ContactCentre, started: float) -> str:
    """The attendance of the queue call 3001 answered after `started`."""
    att = wait_for(lambda: next((a for a in cc.state.history.recent_attendances("cc", "3001")
                                 if cc.state.history.attendance(a).created_at >= started
                                 and ("answer", "3001", "", "") in events(cc, a)), ""))
    assert att, "the queue call was never answered"
    return att


def transfer_status(edge: Stack, att: str, final: bool = True) -> dict:
    """GET .../transfer-org, once the transfer is no longer pending (when `final`)."""
    found: dict = {}

    def done() -> bool:
        status, body = api(edge, "GET", f"/v1/calls/{att}/transfer-org")
        found.update(body)
        return status == 200 and (not final or body["status"] != "pending")

    wait_for(done)
    return found


def agent_leg_ended(cc: ContactCentre, att: str) -> None:
    """The agent's leg of `att` ended: its history says so, and 3001 is in-call no more."""
    assert wait_for(lambda: [e[0] for e in events(cc, att)].count("end") == 1), events(cc, att)
    assert wait_for(lambda: cc.state.r.hlen(keys.calls("cc", "3001")) == 0)


def destination_attendance(cc: ContactCentre, att: str) -> str:
    """The destination org's own attendance for an inter-org transfer of `att`, checked."""
    record = cc.state.history.attendance(att)
    assert record is not None and record.interorg_transferred and record.transferred_to
    dest = cc.state.history.attendance(record.transferred_to)
    assert dest is not None and (dest.org, dest.direction, dest.transferred_from) == ("dest", "inbound", att)
    assert dest.interorg_transferred  # it came from another org: never transferred between orgs again
    return dest.id


def test_interorg_by_api_ends_the_agent_leg_once_the_phone_reports_success(
        cc: ContactCentre, sipp: Sipp, edge: Stack) -> None:
    agent = answer_one(sipp, cc.agent_ports["3001"], "uas.xml", hold_ms=0)
    ivr = answer_one(sipp, cc.dest_ivr_port, "uas_headers.xml", header_regexp="X-Edge-Attendance: att-")
    outcome: list = []
    started = time.time()
    customer = threading.Thread(target=lambda: outcome.extend(
        cc.transferred_customer(scenario="customer_refer_notify.xml", frag="SIP/2.0 200 OK")))
    customer.start()
    att = answered_queue_call(cc, started)
    time.sleep(0.5)  # the customer's ACK reaches the agent before the REFER
    status, body = api(edge, "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})
    assert (status, body.get("target"), body.get("status")) == (202, f"sip:ivr@127.0.0.1:{cc.dest_ivr_port}",
                                                                 "pending"), body
    customer.join(30)
    referred, dialled = outcome
    assert referred.ok, referred.output + referred.errors  # hung up on only after its NOTIFY said 200
    assert dialled is not None and dialled.ok, dialled.output + dialled.errors if dialled else ""
    for phone in (ivr, agent):
        code, out = finish(phone)
        assert code == 0, out
    assert transfer_status(edge, att)["status"] == "succeeded"
    printed = edgectl(edge, "transfer-status", att)
    assert printed.returncode == 0 and '"succeeded"' in printed.stdout, printed.stdout + printed.stderr
    status, body = api(edge, "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})
    assert (status, body["rule"]) == (403, "already-transferred")
    status, record = api(edge, "GET", f"/v1/attendances/{att}")
    assert status == 200 and record["interorg_transferred"] is True
    story = events(cc, att)
    assert ("transfer", "dest", "requested", "interorg") in story
    assert ("transfer", "dest", "succeeded", "interorg") in story
    agent_leg_ended(cc, att)
    dest = destination_attendance(cc, att)
    assert [e[0] for e in events(cc, dest)] == ["start", "ring", "answer", "end"]


def test_interorg_by_api_succeeds_on_the_new_calls_answer(cc: ContactCentre, sipp: Sipp, edge: Stack) -> None:
    # A phone that sends no NOTIFY: the new call's answer tells, and only then the agent's
    # leg ends (so the first call below is hung up on only after the second is answered).
    agent = answer_one(sipp, cc.agent_ports["3001"], "uas.xml", hold_ms=0)
    ivr = answer_one(sipp, cc.dest_ivr_port, "uas.xml", hold_ms=500)
    log = sipp.workdir / f"refer-to-{time.monotonic_ns()}.log"
    started = time.time()
    first = sipp.start("customer_transfer.xml", [], port=cc.customer_ports[0],
                       values={"target_uri": cc.did_uri()}, extra=["-trace_logs", "-log_file", str(log)])
    att = answered_queue_call(cc, started)
    time.sleep(0.5)
    assert api(edge, "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})[0] == 202
    assert wait_for(lambda: log.exists() and "refer-to" in log.read_text()), "no REFER reached the customer"
    time.sleep(0.5)
    assert first.poll() is None, "the agent's leg ended before the transfer succeeded"
    assert transfer_status(edge, att, final=False)["status"] == "pending"
    refer_to = re.search(r"refer-to (\S+)", log.read_text())
    assert refer_to is not None
    dialled = sipp.run("customer_dial.xml", [], port=cc.customer_ports[1], values={"target_uri": refer_to.group(1)})
    assert dialled.ok, dialled.output + dialled.errors
    for name, phone in (("customer", first), ("ivr", ivr), ("agent", agent)):
        code, out = finish(phone)
        assert code == 0, name + out
    status = transfer_status(edge, att)
    assert (status["status"], status["reason"]) == ("succeeded", "new call answered")
    agent_leg_ended(cc, att)
    destination_attendance(cc, att)


def test_interorg_by_api_that_fails_keeps_the_customer(cc: ContactCentre, sipp: Sipp, edge: Stack) -> None:
    agent = answer_one(sipp, cc.agent_ports["3001"], "uas.xml", hold_ms=0)
    outcome: list = []
    started = time.time()
    customer = threading.Thread(target=lambda: outcome.append(cc.referred(
        cc.did_uri(), "customer_refer_failed.xml", frag="SIP/2.0 486 Busy Here", hold_ms=1500)))
    customer.start()
    att = answered_queue_call(cc, started)
    time.sleep(0.5)
    assert api(edge, "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})[0] == 202
    customer.join(30)
    result, _ = outcome[0]
    # The customer stayed with the agent and hung up itself: its BYE reached the agent.
    assert result.ok, result.output + result.errors
    code, out = finish(agent)
    assert code == 0, out
    status = transfer_status(edge, att)
    assert (status["status"], status["reason"]) == ("failed", "customer's phone reported 486")
    record = cc.state.history.attendance(att)
    assert record is not None and not record.interorg_transferred  # not transferred: it may try again
    assert ("transfer", "dest", "failed", "interorg") in events(cc, att)


def test_transfer_status_of_an_attendance_without_one(edge: Stack) -> None:
    status, body = api(edge, "GET", "/v1/calls/att-000000000000-000000000000/transfer-org")
    assert status == 404 and "error" in body


def test_a_call_transferred_inside_the_org_is_not_transferred_to_another(cc: ContactCentre, sipp: Sipp) -> None:
    # 3001 sends the customer to 3002 (paused: a transfer rings it like a direct call would);
    # 3002 then tries another org: the call was already transferred.
    first = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:3002@{DOMAIN}", **REFER_OK)
    refused = {**REFER_OK, "refer_status": 403}
    second = answer_one(sipp, cc.agent_ports["3002"], "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}",
                        **refused)
    referred, refer_to = cc.referred(cc.did_uri())
    assert referred.ok and refer_to, referred.output + referred.errors
    dialled = sipp.run("customer_hungup.xml", [], port=cc.customer_ports[0], values={"target_uri": refer_to})
    assert dialled.ok, dialled.output + dialled.errors
    assert finish(first)[0] == 0 and finish(second)[0] == 0
    att = cc.last_attendance("3002")
    story = events(cc, att)
    assert ("transfer", "3002", "connecting", "blind") in story
    assert ("refused", "dest", "already-transferred", "inter-org transfer") in story
    record = cc.state.history.attendance(att)
    assert record is not None and record.transferred and not record.interorg_transferred


def test_blind_transfer_to_an_agent_on_dnd_is_refused_like_a_direct_call(cc: ContactCentre, sipp: Sipp) -> None:
    cc.login("3003")
    cc.state.directory.set_dnd("cc", "3003", True)
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:3003@{DOMAIN}", **REFER_OK)
    referred, refer_to = cc.referred(cc.did_uri())
    assert referred.ok and refer_to, referred.output + referred.errors
    dialled = sipp.run("customer_refused.xml", [], port=cc.customer_ports[0],
                       values={"target_uri": refer_to, "expect": 486})
    assert dialled.ok, dialled.output + dialled.errors
    assert finish(agent)[0] == 0
    att = cc.last_attendance("3001")
    assert ("transfer", "3003", "refused 486", "blind") in events(cc, att)
    transfer = [e for e in cc.state.history.attendance_history(att) if e.result == "refused 486"]
    assert transfer[0].reason == "Do Not Disturb"


def test_a_did_call_an_ivr_sends_to_the_queue_can_go_to_another_org(cc: ContactCentre, sipp: Sipp) -> None:
    # DID -> IVR 900 -> (the IVR's REFER) queue 800 -> 3001 -> (REFER) the destination org's IVR.
    ivr_port = sipp.next_port()
    cc.state.directory.save_service("cc", Service("900", "ivr", "Menu", target_uri=f"sip:menu@127.0.0.1:{ivr_port}"))
    cc.state.directory.save_did(Did("+551140000900", "cc", "900"))
    menu = answer_one(sipp, ivr_port, "agent_refer.xml", refer_to=f"sip:800@{DOMAIN}", **REFER_OK)
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}",
                       **REFER_OK)
    ivr = answer_one(sipp, cc.dest_ivr_port, "uas_headers.xml", header_regexp="X-Edge-Transferred-From: cc")
    to_menu, to_queue = cc.referred(cc.did_uri("+551140000900"))
    assert to_menu.ok and to_queue, to_menu.output + to_menu.errors
    in_queue, to_dest = cc.referred(to_queue)
    assert in_queue.ok and to_dest, in_queue.output + in_queue.errors
    dialled = sipp.run("customer_dial.xml", [], port=cc.customer_ports[0], values={"target_uri": to_dest})
    assert dialled.ok, dialled.output + dialled.errors
    for phone in (menu, agent, ivr):
        code, out = finish(phone)
        assert code == 0, out
    att = cc.last_attendance("3001")
    record = cc.state.history.attendance(att)
    assert record is not None and (record.origin, record.entered_through_queue, record.queue) == ("direct", True, "800")
    assert not record.transferred  # the IVR routed the call; no agent transferred it
    story = events(cc, att)
    assert ("transfer", "800", "connecting", "blind") in story
    assert ("transfer", "dest", "requested", "interorg") in story
    dest = cc.state.history.attendance(destination_attendance(cc, att))
    assert dest is not None and dest.legs == [dest.customer_call]  # the customer's call to the IVR


def test_interorg_transfer_of_an_outbound_call_is_refused(cc: ContactCentre, sipp: Sipp) -> None:
    carrier_port = sipp.next_port()
    cc.state.directory.save_gateway(Gateway("cc-outbound", f"sip:127.0.0.1:{carrier_port}", 0))
    time.sleep(0.1)
    refused = {**REFER_OK, "refer_status": 403}
    carrier = answer_one(sipp, carrier_port, "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}", **refused)
    try:
        result = call(sipp, "3001", "+5511988887777", scenario="uac_hungup.xml", domain=DOMAIN, password=PASSWORD)
        assert result.ok, result.output + result.errors
        assert finish(carrier)[0] == 0
    finally:
        cc.state.directory.delete_gateway("cc-outbound")
    story = events(cc, cc.last_attendance("3001"))
    assert ("refused", "dest", "not-inbound", "inter-org transfer") in story


def test_api_refuses_unknown_attendance_and_bad_body(edge: Stack) -> None:
    assert api(edge, "POST", "/v1/calls/att-000000000000-000000000000/transfer-org", {"org": "dest"})[0] == 404
    status, body = api(edge, "POST", "/v1/calls/att-000000000000-000000000000/transfer-org", {"org": 5})
    assert (status, body.get("field")) == (400, "org")
    assert api(edge, "GET", "/v1/attendances/nope")[0] == 404


def test_attended_transfer_replaces_the_consultation_call(cc: ContactCentre, sipp: Sipp) -> None:
    # 3001 takes the customer, consults 3002 (a second call), then REFERs the customer to 3002
    # with Replaces naming the consultation. The customer's new call reaches 3002 carrying it.
    trace = sipp.workdir / f"target-{time.monotonic_ns()}.log"
    target = sipp.start("uas.xml", [], port=cc.agent_ports["3002"], calls=2,
                        extra=["-trace_msg", "-message_file", str(trace)])
    consult = sipp.start("uac_call.xml", [["3001", DOMAIN, PASSWORD, "3002"]], port=sipp.next_port(),
                         values={"delay_ms": 1500, "hold_ms": 5000}, extra=["-au", "3001", "-ap", PASSWORD])
    replaces = f"1-{consult.pid}@127.0.0.1;to-tag={target.pid}u1;from-tag=1c{consult.pid}"
    refer_to = f"sip:3002@{DOMAIN}?Replaces={quote(replaces, safe='')}"
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=refer_to,
                       refer_status=202, hold_ms=3000)
    referred, dialled = cc.transferred_customer()
    assert referred.ok, referred.output + referred.errors
    assert dialled is not None and dialled.ok, dialled.output + dialled.errors if dialled else ""
    assert finish(agent)[0] == 0
    assert finish(consult)[0] == 0
    assert finish(target)[0] == 0
    assert f"Replaces: {replaces}" in trace.read_text()
    att = cc.last_attendance("3001")
    story = events(cc, att)
    assert ("transfer", "3002", "requested", "attended") in story
    assert ("transfer", "3002", "replaces", "attended") in story
    record = cc.state.history.attendance(att)
    assert record is not None and f"1-{consult.pid}@127.0.0.1" in record.legs


def test_conference_legs_join_the_agents_attendance(cc: ContactCentre, sipp: Sipp) -> None:
    # While 3001 talks to a customer, it dials the conference service, and then 3002 with
    # its client marking the call as a conference leg: both legs join the customer's attendance.
    bridge_port = sipp.next_port()
    bridge_uri = f"sip:conf@127.0.0.1:{bridge_port}"
    cc.state.directory.save_service("cc", Service("850", "conference", "Bridge", target_uri=bridge_uri))
    agent = answer_one(sipp, cc.agent_ports["3001"], "uas.xml")
    bridge = answer_one(sipp, bridge_port)
    target = answer_one(sipp, cc.agent_ports["3002"])
    outcome: list = []
    started = time.time()
    customer = threading.Thread(target=lambda: outcome.append(cc.customer(hold_ms=4000)))
    customer.start()
    att = wait_for(lambda: next((a for a in cc.state.history.recent_attendances("cc", "3001")
                                 if cc.state.history.attendance(a).created_at >= started
                                 and ("answer", "3001", "", "") in events(cc, a)), ""))
    assert att, "the queue call was never answered"
    creds = {"domain": DOMAIN, "password": PASSWORD}
    assert call(sipp, "3001", "850", **creds).ok
    marked = call(sipp, "3001", "3002", extra_header="X-Edge-Conference: yes", **creds)
    assert marked.ok, marked.output + marked.errors
    customer.join(15)
    assert outcome and outcome[0].ok
    assert finish(agent)[0] == 0 and finish(bridge)[0] == 0 and finish(target)[0] == 0
    story = events(cc, att)
    assert [e[:2] for e in story if e[0] == "conference"] == [("conference", "850"), ("conference", "3002")]
    record = cc.state.history.attendance(att)
    assert record is not None and len(record.legs) == 3


def test_refer_to_a_domain_no_org_has_is_refused(cc: ContactCentre, sipp: Sipp) -> None:
    refused = {**REFER_OK, "refer_status": 403}
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to="sip:ivr@nowhere.test", **refused)
    result = cc.customer("customer_hungup.xml")
    assert result.ok, result.output + result.errors
    assert finish(agent)[0] == 0
    story = events(cc, cc.last_attendance("3001"))
    assert ("refused", "nowhere.test", "unknown-destination", "inter-org transfer") in story


def test_interorg_transfer_of_a_call_not_from_a_queue_is_refused(cc: ContactCentre, sipp: Sipp) -> None:
    # A DID straight to an IVR: inbound, but not through a queue. The IVR tries to pass it on.
    ivr_port = sipp.next_port()
    cc.state.directory.save_service("cc", Service("900", "ivr", "Menu", target_uri=f"sip:menu@127.0.0.1:{ivr_port}"))
    cc.state.directory.save_did(Did("+551140000900", "cc", "900"))
    refused = {**REFER_OK, "refer_status": 403}
    ivr = answer_one(sipp, ivr_port, "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}", **refused)
    result = sipp.run("customer_hungup.xml", [], port=cc.customer_ports[0],
                      values={"target_uri": cc.did_uri("+551140000900")})
    assert result.ok, result.output + result.errors
    assert finish(ivr)[0] == 0
    # No agent took part: find the refusal in the stream of every attendance's events.
    cc.state.history.settle()  # the stream is written by the edge's history writer, moments after the call
    latest = [fields for _, fields in cc.state.r.xrevrange(keys.HISTORY, count=50)]
    refusal = next(f for f in latest if f["event"] == "refused" and f.get("actor") == "900")
    assert (refusal["result"], refusal["target"]) == ("direct-extension-call", "dest")
    record = cc.state.history.attendance(refusal["attendance"])
    assert record is not None and (record.direction, record.origin) == ("inbound", "direct")
