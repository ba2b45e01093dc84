"""Customers' numbers masked toward the agents of companies that ask for it, on queue calls
and after transfers, while the history keeps the real number: real Kamailio, Redis,
rtpengine; customers (through a carrier gateway) and agents are sipp."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from kemi_app.policy.digest import ha1
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from kemi_app.state.lookups import ORG_CACHE_SECONDS
from tests.integration.contact_centre import DID, DOMAIN, ORG, PASSWORD, ContactCentre
from tests.integration.helpers import answer_one, checks, finish
from tests.integration.rtp import pause, reinvite
from tests.integration.sip_trace import header, received, topology_leaks, traced_peer
from tests.sipp import Sipp
from tests.ws_agent import WsAgent

CUSTOMER = "+5511999990000"  # the number tests/sipp/customer_*.xml call from
MASKED = "+*********0000"
# The customer's phone gets its own identity back in the answer: the dialog as it started it.
OWN_FROM = checks(r"From: .Customer. .sip:\+5511999990000@")


def join_company(cc: ContactCentre, ext: str, company: Company) -> None:
    cc.state.directory.save_company(ORG, company)
    cc.state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD), company=company.id,
                                             display_name=f"Agent {ext}"))


MASKED_CO = Company("masked", "Masked", mask_customer_numbers=True)


@pytest.fixture(scope="module")
def masking_org(centre: ContactCentre) -> Iterator[None]:
    """The org has a masking company from the start: workers learn that an org masks within
    ORG_CACHE_SECONDS (kemi_app/state/lookups.py)."""
    centre.state.directory.save_company(ORG, MASKED_CO)
    time.sleep(ORG_CACHE_SECONDS + 0.2)
    yield
    for ext in ("3001", "3002"):
        centre.state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD), display_name=f"Agent {ext}"))
    for company in ("masked", "open"):
        centre.state.directory.delete_company(ORG, company)


@pytest.fixture
def cc(centre: ContactCentre, masking_org: None) -> ContactCentre:
    centre.reset()
    return centre


def test_agents_of_a_masking_company_see_the_customer_masked_history_keeps_it(cc: ContactCentre,
                                                                              sipp: Sipp) -> None:
    join_company(cc, "3001", MASKED_CO)
    phone, log = traced_peer(sipp, cc.login("3001"), "uas.xml")
    result = cc.customer(checks=OWN_FROM)
    code, out = finish(phone)
    assert code == 0, out[-3000:]
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    invite, bye = received(log, "INVITE ")[-1], received(log, "BYE ")[-1]
    assert header(invite, "From")[0].startswith(f'"{MASKED}" <sip:{MASKED}@'), invite
    assert CUSTOMER[1:] not in invite, invite
    # The customer's BYE reaches the agent with the masked From too.
    assert header(bye, "From")[0].startswith(f'"{MASKED}" <sip:{MASKED}@'), bye
    start = next(e for e in cc.state.history.attendance_history(cc.last_attendance("3001")) if e.event == "start")
    assert start.actor == CUSTOMER


def test_the_agents_requests_reach_the_customer_with_its_real_number(cc: ContactCentre, sipp: Sipp) -> None:
    """The agent's phone knows the customer only masked; the edge restores the real number in
    the REFER and BYE it sends (here a REFER the edge refuses, then the agent hangs up)."""
    cc.reset(linked=False)
    join_company(cc, "3001", MASKED_CO)
    cc.login("3001")
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to="sip:ivr@dest.test",
                       refer_status=403, hold_ms=300)
    result = cc.customer("customer_hungup.xml", checks=checks(r"To: .Customer. .sip:\+5511999990000@"))
    assert finish(agent)[0] == 0
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


# The customer's sipp fails the call if the agent's answer reaches it with its phone's details.
NO_PHONE_DETAILS = (
    '<action><ereg regexp="User-Agent|Server|X-Agent" search_in="msg" check_it_inverse="true" assign_to="leak"/>'
    '<log message="leaked [$leak]"/></action>'
)


def test_an_agents_answer_reaches_the_carrier_without_its_phones_details(cc: ContactCentre, sipp: Sipp) -> None:
    phone = answer_one(sipp, cc.login("3001"), "uas.xml",
                       extra_header="\nUser-Agent: DeskPhone/9.1\nServer: DeskPhone\nX-Agent-Ext: 3001")
    result = cc.customer(checks=NO_PHONE_DETAILS)
    assert finish(phone)[0] == 0
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


@pytest.mark.parametrize(("customer", "phone"), [("customer_call.xml", "uas.xml"),  # the customer hangs up
                                                ("customer_hungup.xml", "gateway_hangs_up.xml")])  # the agent does
def test_the_carrier_never_sees_the_agents_address_port_or_extension(edge: Stack, cc: ContactCentre, sipp: Sipp,
                                                                      customer: str, phone: str) -> None:
    """The agent's answer and BYE reach the carrier with the edge's Via, Record-Route and
    Contact only; the carrier's ACK and BYE find the agent through the masked Contact."""
    agent = answer_one(sipp, cc.login("3001"), phone, hold_ms=300)
    messages = carrier_sees(edge, cc, customer)
    assert finish(agent)[0] == 0
    for message in messages:
        assert topology_leaks(message, {edge.settings.sip_port, cc.customer_ports[0]}, ("3001",)) == [], message


def test_a_carriers_re_invite_reaches_the_agent_and_its_answer_hides_it(edge: Stack, cc: ContactCentre,
                                                                         sipp: Sipp) -> None:
    """The customer's side holds the call: its re-INVITE reaches the agent through the masked
    Contact, and the agent's 200 comes back with nothing of the agent in it."""
    agent = answer_one(sipp, cc.login("3001"), "uas_echo.xml", ring_ms=100, offer_check="")
    steps = pause(200) + reinvite(2, "sendonly", from_line="[last_From:]") + pause(200)
    messages = carrier_sees(edge, cc, "customer_call.xml", steps=steps, bye_cseq=3)
    assert finish(agent)[0] == 0  # it answered the re-INVITE and the BYE
    assert [m for m in messages if m.startswith("SIP/2.0 200") and header(m, "CSeq") == ["2 INVITE"]], messages
    for message in messages:
        assert topology_leaks(message, {edge.settings.sip_port, cc.customer_ports[0]}, ("3001",)) == [], message


def test_the_carrier_never_sees_a_websocket_agents_address(edge: Stack, cc: ContactCentre) -> None:
    """A browser's Contact (*.invalid;transport=ws, given an ;alias= by the edge) is hidden too,
    and the customer's BYE still reaches the browser over its WebSocket."""
    agent = WsAgent(f"ws://127.0.0.1:{edge.settings.ws_port}", "3001", DOMAIN, PASSWORD)
    assert agent.register() == 200
    calls: list[str] = []

    def browser() -> None:
        calls.append(agent.answer_next_invite())
        calls.append(agent.answer_bye())

    thread = threading.Thread(target=browser, daemon=True)
    thread.start()
    messages = carrier_sees(edge, cc, "customer_call.xml")
    thread.join(10)
    agent.ws.close()
    assert len(calls) == 2 and calls[0] == calls[1], calls
    # The edge's own WebSocket port is in its second Record-Route (the agent's side): an edge
    # detail, no agent's.
    edge_ports = {edge.settings.sip_port, edge.settings.ws_port, cc.customer_ports[0]}
    for message in messages:
        assert topology_leaks(message, edge_ports, ("3001", agent.host, "alias=")) == [], message


def carrier_sees(edge: Stack, cc: ContactCentre, customer: str, **values: object) -> list[str]:
    """A customer's call through the carrier gateway; every message the carrier received."""
    log = cc.sipp.workdir / f"carrier-{time.monotonic_ns()}.log"
    result = cc.sipp.run(customer, [[DID]], port=cc.customer_ports[0], values={"checks": "", **values},
                         extra=["-trace_msg", "-message_file", str(log)])
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    messages = received(log, "")
    assert any(m.startswith("SIP/2.0 200") and "INVITE" in header(m, "CSeq")[0] for m in messages), messages
    return messages


def test_agents_of_other_companies_see_the_real_number(cc: ContactCentre, sipp: Sipp) -> None:
    join_company(cc, "3001", Company("open", "Open"))
    phone, log = traced_peer(sipp, cc.login("3001"), "uas.xml")
    result = cc.customer(checks=OWN_FROM)
    assert finish(phone)[0] == 0 and result.ok, result.output[-3000:]
    assert f"<sip:{CUSTOMER}@" in header(received(log, "INVITE ")[-1], "From")[0]


def test_a_transferred_customer_stays_masked(cc: ContactCentre, sipp: Sipp) -> None:
    join_company(cc, "3001", MASKED_CO)
    join_company(cc, "3002", MASKED_CO)
    cc.login("3001")
    cc.pause("3002")  # queue calls go to 3001; 3002 only takes the transfer
    agent = answer_one(sipp, cc.agent_ports["3001"], "agent_refer.xml", refer_to=f"sip:3002@{DOMAIN}",
                       refer_status=202, hold_ms=500)
    target, log = traced_peer(sipp, cc.login("3002"), "uas.xml")
    referred, dialled = cc.transferred_customer()
    assert referred.ok, referred.output[-3000:] + referred.errors[-3000:]
    assert dialled is not None and dialled.ok, dialled.output[-3000:] if dialled else ""
    assert finish(agent)[0] == 0 and finish(target)[0] == 0
    invite = received(log, "INVITE ")[-1]
    assert header(invite, "From")[0].startswith(f'"{MASKED}" <sip:{MASKED}@'), invite
    assert CUSTOMER[1:] not in invite, invite


def test_the_mask_holds_when_the_queue_offers_the_call_twice(cc: ContactCentre, sipp: Sipp) -> None:
    """3001 lets it ring, 3002 answers: each offer is masked on its own branch, and the
    answering agent's REFER and BYE still reach the customer with the real number."""
    cc.reset(linked=False)
    join_company(cc, "3001", MASKED_CO)
    join_company(cc, "3002", MASKED_CO)
    ringing, ring_log = traced_peer(sipp, cc.login("3001"), "uas_ring.xml")
    cc.login("3002")
    agent = answer_one(sipp, cc.agent_ports["3002"], "agent_refer.xml", refer_to="sip:ivr@dest.test",
                       refer_status=403, hold_ms=300)
    result = cc.customer("customer_hungup.xml", checks=checks(r"To: .Customer. .sip:\+5511999990000@"))
    assert finish(agent)[0] == 0
    finish(ringing)
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    assert header(received(ring_log, "INVITE ")[-1], "From")[0].startswith(f'"{MASKED}" <sip:{MASKED}@')
