"""Carrier calls into a queue: who is offered the call, in which order, and what happens
when nobody answers. Real Kamailio, Redis, rtpengine; customers and agents are sipp."""

from __future__ import annotations

import threading
import time
from xml.sax.saxutils import escape

import pytest

from edgeops.stack import Stack
from kemi_app.provisioning.service import Service
from tests.integration.contact_centre import AGENTS, DID, ORG, QUEUE, ContactCentre
from tests.integration.helpers import answer_one, finish
from tests.integration.test_registration import raw_udp, sip_request, status_line
from tests.sipp import Sipp


@pytest.fixture
def cc(centre: ContactCentre) -> ContactCentre:
    centre.reset()
    return centre


def test_longest_idle_available_agent_answers_skipping_a_paused_one(cc: ContactCentre, sipp: Sipp) -> None:
    # 3001 idle longest but paused; 3002 next: it gets the call, with the attendance header.
    cc.pause("3001")
    for ext in ("3001", "3002", "3003"):
        cc.login(ext)
    phone = answer_one(sipp, cc.agent_ports["3002"], "uas_headers.xml",
                       header_regexp="X-Edge-Attendance: att-[0-9a-f-]+")
    result = cc.customer()
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out
    story = cc.story(cc.last_attendance("3002"))
    assert story[0][0] == "start"
    assert [s for s in story if s[0] in ("offer", "ring", "answer")][:3] == [
        ("offer", "3002", ""), ("ring", "3002", ""), ("answer", "3002", "")]
    assert story[-1][:1] == ("end",)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        # Provisioned text travels in the call state as JSON: a '|' must not break it.
        ("Sales | Tier 1", r'X-Edge-Queue: 800;name="Sales \| Tier 1"'),
        # Quotes and a backslash stay inside X-Edge-Queue's quoted name: "Sales \"VIP\" \\ desk|2"
        ('Sales "VIP" \\ desk|2', r'X-Edge-Queue: 800;name="Sales \\"VIP\\" \\\\ desk\|2"'),
    ],
)
def test_any_queue_name_is_answered_and_quoted_in_the_queue_header(
    cc: ContactCentre, sipp: Sipp, name: str, header: str
) -> None:
    cc.state.directory.save_service(ORG, Service(QUEUE, "queue", name, members=list(AGENTS), ring_timeout=5))
    cc.login("3001")
    # sipp reads backslash escapes in the attribute once more; XML needs its own for the quotes.
    regexp = escape(header.replace("\\", "\\\\"), {'"': "&quot;"})
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas_headers.xml", header_regexp=regexp)
    result = cc.customer()
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out
    assert ("answer", "3001", "") in cc.story(cc.last_attendance("3001"))


@pytest.mark.parametrize(
    ("phone", "refusals"),
    [
        # A phone that lets it ring is cancelled by the edge at the ring timeout (or times out).
        ("uas_ring.xml", {"cancelled", "no-answer"}),
        ("uas_busy.xml", {"refused 486"}),
    ],
)
def test_unanswered_offer_moves_to_the_next_agent(cc: ContactCentre, sipp: Sipp, phone: str, refusals: set) -> None:
    cc.login("3001")
    cc.login("3002")
    first = answer_one(sipp, cc.agent_ports["3001"], phone)
    answering = answer_one(sipp, cc.agent_ports["3002"], "uas.xml")
    result = cc.customer()
    assert result.ok, result.output + result.errors
    assert finish(first)[0] == 0 and finish(answering)[0] == 0
    offers = [s for s in cc.story(cc.last_attendance("3002")) if s[0] == "offer"]
    assert offers[0] == ("offer", "3001", "") and offers[2] == ("offer", "3002", "") and len(offers) == 3
    assert offers[1][:2] == ("offer", "3001") and offers[1][2] in refusals


def test_nobody_available_overflows_to_the_org_ivr(cc: ContactCentre, sipp: Sipp) -> None:
    cc.reset(overflow_ivr=True)
    for ext in ("3001", "3002"):
        cc.login(ext)
        cc.pause(ext)
    ivr = answer_one(sipp, cc.ivr_port)
    result = cc.customer()
    assert result.ok, result.output + result.errors
    assert finish(ivr)[0] == 0


def test_nobody_and_no_ivr_gets_480(cc: ContactCentre) -> None:
    result = cc.customer("customer_refused.xml", expect=480)
    assert result.ok, result.output + result.errors


def test_a_write_to_the_org_is_seen_by_the_next_call_of_every_worker(cc: ContactCentre, sipp: Sipp) -> None:
    # Workers keep the DID's route once read (state/lookups.py); more calls than SIP workers
    # make each of them keep it. Nobody is free and there is no IVR: 480.
    for _ in range(6):
        result = cc.customer("customer_refused.xml", expect=480)
        assert result.ok, result.output + result.errors
    cc.reset(overflow_ivr=True)  # the org now overflows to its IVR: no worker may miss it
    for _ in range(4):
        ivr = answer_one(sipp, cc.ivr_port)
        result = cc.customer()
        assert result.ok, result.output + result.errors
        assert finish(ivr)[0] == 0


def test_each_answered_call_on_a_route_the_workers_keep_has_one_offer_after_its_start(
    cc: ContactCentre, sipp: Sipp
) -> None:
    # More calls than SIP workers: the later ones are offered on the route a worker kept, their
    # first offer written with the attendance's start (sip/inbound.py).
    cc.login("3001")
    seen = set()
    for _ in range(5):
        phone = answer_one(sipp, cc.agent_ports["3001"], "uas.xml")
        result = cc.customer()
        assert result.ok, result.output + result.errors
        assert finish(phone)[0] == 0
        att = cc.last_attendance("3001")
        assert att not in seen
        seen.add(att)
        events = cc.state.history.attendance_history(att)
        assert [(e.event, e.target) for e in events if e.event in ("start", "offer", "answer")] == [
            ("start", QUEUE), ("offer", "3001"), ("answer", "3001")]
        assert [e.at for e in events] == sorted(e.at for e in events)
        assert abs(cc.state.history.attendance(att).created_at - events[0].at) < 0.001  # stored to the ms


def test_auto_answer_hint_for_agents_who_want_it(cc: ContactCentre, sipp: Sipp, state) -> None:
    agent = state.directory.get_agent("cc", "3001")
    state.directory.save_agent("cc", type(agent)(**{**agent.__dict__, "auto_answer": True}))
    cc.login("3001")
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas_headers.xml",
                       header_regexp="Call-Info: [^\\r\\n]*answer-after=0")
    result = cc.customer()
    assert result.ok, result.output + result.errors
    assert finish(phone)[0] == 0


def test_two_simultaneous_calls_never_ring_the_same_single_free_agent(cc: ContactCentre, sipp: Sipp) -> None:
    # One free agent who lets it ring: one call rings it until the ring timeout, the other
    # finds nobody at once. Both end with 480; the agent was offered exactly one of them.
    cc.login("3001")
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas_ring.xml")
    started = time.time()
    results = {}
    callers = [
        threading.Thread(target=lambda i=i: results.setdefault(i, cc.customer("customer_refused.xml", i, expect=480)))
        for i in (0, 1)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(30)
    assert [r.ok for r in results.values()] == [True, True], [r.errors for r in results.values()]
    assert finish(phone)[0] == 0
    history = cc.state.history
    atts = [a for a in history.recent_attendances("cc", "3001") if history.attendance(a).created_at >= started]
    offers = [s for att in atts for s in cc.story(att) if s == ("offer", "3001", "")]
    assert len(offers) == 1


def test_unknown_did_and_strangers_are_refused(cc: ContactCentre, sipp: Sipp) -> None:
    # From a gateway, a DID nobody owns: 404. From anywhere else: no trust, no relay.
    unknown = sipp.run("customer_refused.xml", [["+551149999999"]], port=cc.customer_ports[0], values={"expect": 404})
    assert unknown.ok, unknown.output + unknown.errors
    stranger = sipp.run("customer_refused.xml", [[DID]], port=sipp.next_port(), values={"expect": 403})
    assert stranger.ok, stranger.output + stranger.errors


def test_no_open_relay_to_carriers(edge: Stack) -> None:
    # Claiming to be an agent without credentials: challenged, never relayed to a gateway.
    msg = sip_request("INVITE", "sip:+5511987654321@demo.test", "sip:1001@demo.test")
    assert status_line(raw_udp(edge.settings.sip_port, msg)).startswith("SIP/2.0 407")
