"""Feature codes dialled from a plain SIP client (sipp): each code changes the agent's own
state, and the final answer's status and reason phrase say what happened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_client import api
from tests.integration.contact_centre import DOMAIN as CC_DOMAIN
from tests.integration.contact_centre import ORG as CC_ORG
from tests.integration.contact_centre import PASSWORD as CC_PASSWORD
from tests.integration.contact_centre import ContactCentre
from tests.integration.helpers import DEMO, answer_one, finish, register
from tests.integration.test_agent_calls import checks
from tests.sipp import Sipp, SippResult
from tests.state_kit import drop_bindings, log_out

COMPANY = "selfserve"
AGENT, PASSWORD = "1401", "agent-1401-pw"
CALLEE = "1402"
PAUSE_TYPES = [{"code": "1", "name": "Lunch", "blocks_calls": False}, {"code": "2", "name": "Break"}]


def dial(sipp: Sipp, dialled: str, expect: int, *must_match: str, ext: str = AGENT, domain: str = DEMO,
         password: str = PASSWORD) -> SippResult:
    return sipp.run("uac_refused.xml", [[ext, domain, password, dialled]], extra=["-au", ext, "-ap", password],
                    values={"expect": expect, "checks": checks(*must_match) if must_match else ""})


def ok(result: SippResult) -> None:
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


def status(edge) -> dict:
    code, body = api(edge, "GET", f"/v1/orgs/demo/agents/{AGENT}/status")
    assert code == 200, body
    return body


@pytest.fixture(scope="module")
def agent(edge, sipp: Sipp, state) -> Iterator[int]:
    """Agent 1401 of a company that blocks calls during pause, logged in (its session blocks)."""
    body = {"name": "Self Service", "block_calls_during_pause": True, "pause_types": PAUSE_TYPES}
    assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", body)[0] in (200, 201)
    for ext in (AGENT, CALLEE):
        body = {"password": PASSWORD, "company": COMPANY}
        assert api(edge, "PUT", f"/v1/orgs/demo/agents/{ext}", body)[0] in (200, 201)
    drop_bindings(state, "demo", AGENT)
    port = sipp.next_port()
    ok(register(sipp, AGENT, port, password=PASSWORD))
    yield port
    for ext in (AGENT, CALLEE):
        api(edge, "DELETE", f"/v1/orgs/demo/agents/{ext}?force=true")
    api(edge, "DELETE", f"/v1/orgs/demo/companies/{COMPANY}")


@pytest.fixture(autouse=True)
def available(edge, agent) -> Iterator[None]:
    yield
    api(edge, "PUT", f"/v1/orgs/demo/agents/{AGENT}/status", {"status": "available"})
    api(edge, "PUT", f"/v1/orgs/demo/agents/{AGENT}/dnd", {"dnd": False})


def test_pause_with_a_type_digit_then_unpause_while_calls_are_blocked(edge, sipp: Sipp) -> None:
    ok(dial(sipp, "*402", 603, "SIP/2.0 603 Paused: Break", "X-Edge-Pause: Break"))
    assert status(edge)["status"] == "paused" and status(edge)["pause"] == "Break"
    # Break blocks: a call now is refused by the pause rule...
    ok(dial(sipp, CALLEE, 403, "Calls blocked during pause: Break"))
    # ...but the unpause code is not a call: it is answered before the pause rule.
    ok(dial(sipp, "*41", 603, "SIP/2.0 603 Available"))
    assert status(edge)["status"] == "available"
    ok(dial(sipp, CALLEE, 480, "Agent Not Registered"))


def test_a_pause_type_that_does_not_block_lets_the_agent_call(edge, sipp: Sipp) -> None:
    ok(dial(sipp, "*401", 603, "SIP/2.0 603 Paused: Lunch"))
    assert status(edge)["pause"] == "Lunch"
    ok(dial(sipp, CALLEE, 480, "Agent Not Registered"))  # past the pause rule: the callee is just offline


def test_pause_without_a_digit_takes_the_company_s_first_pause_type(edge, sipp: Sipp) -> None:
    ok(dial(sipp, "*40", 603, "SIP/2.0 603 Paused: Lunch"))
    assert status(edge)["pause"] == "Lunch"


@pytest.mark.parametrize(("dialled", "reason"), [("*409", "Unknown Pause Type"), ("*4012", "Unknown Feature Code"),
                                                 ("*411", "Unknown Feature Code"), ("*99", "Unknown Feature Code")])
def test_unknown_codes_and_pause_types_are_refused_and_change_nothing(edge, sipp: Sipp, dialled: str,
                                                                      reason: str) -> None:
    ok(dial(sipp, dialled, 404, f"SIP/2.0 404 {reason}"))
    assert status(edge)["status"] == "available"


def test_dnd_on_and_off(edge, sipp: Sipp, state) -> None:
    ok(dial(sipp, "*42", 603, "SIP/2.0 603 Do Not Disturb On"))
    assert state.directory.get_agent("demo", AGENT).dnd
    ok(dial(sipp, AGENT, 486, "Do Not Disturb", ext=CALLEE))  # a call to the agent meets the DND
    ok(dial(sipp, "*43", 603, "SIP/2.0 603 Do Not Disturb Off"))
    assert not state.directory.get_agent("demo", AGENT).dnd


def test_codes_need_the_agent_s_credentials(edge, sipp: Sipp, state) -> None:
    ok(dial(sipp, "*42", 407, password="wrong-password"))  # challenged again, nothing changed
    assert not state.directory.get_agent("demo", AGENT).dnd


# -- auto-answer for this login session, seen on a queue offer --------------------------------
AUTO = "Call-Info: [^\\r\\n]*answer-after=0"


@pytest.fixture
def cc(state, sipp: Sipp) -> ContactCentre:
    centre = ContactCentre.provision(state, sipp)
    for ext in ("3002", "3003"):  # 3001 alone takes the queue's calls
        centre.pause(ext)
    return centre


def cc_dial(sipp: Sipp, dialled: str, expect: int, *must_match: str) -> None:
    ok(dial(sipp, dialled, expect, *must_match, ext="3001", domain=CC_DOMAIN, password=CC_PASSWORD))


def test_auto_answer_codes_last_one_login_session(cc: ContactCentre, sipp: Sipp, state) -> None:
    log_out(state, CC_ORG, "3001")  # other tests' logins share this Redis
    cc_dial(sipp, "*44", 403, "SIP/2.0 403 Not Logged In")  # no session to set it in
    cc.login("3001")
    cc_dial(sipp, "*44", 603, "SIP/2.0 603 Auto-Answer On")
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas_headers.xml", header_regexp=AUTO)
    ok(cc.customer())
    assert finish(phone)[0] == 0

    cc_dial(sipp, "*45", 603, "SIP/2.0 603 Auto-Answer Off")
    phone = answer_one(sipp, cc.agent_ports["3001"], "uas_headers.xml", header_regexp=AUTO,
                       header_check="check_it_inverse")  # the offer must not carry the hint
    ok(cc.customer())
    assert finish(phone)[0] == 0
    assert state.agents.get_session(CC_ORG, "3001").auto_answer is False

    drop_bindings(state, CC_ORG, "3001")  # a new login is a new session: the choice is gone
    cc.login("3001")
    assert state.agents.get_session(CC_ORG, "3001").auto_answer is None
