"""Caller ID toward carriers, carriers that want digest credentials, and what never reaches a
carrier: real Kamailio, Redis, rtpengine and sipp on both sides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from kemi_app.provisioning.gateway import parse_gateway
from kemi_app.state import EdgeState, keys
from tests.integration.api_client import api
from tests.integration.helpers import DEMO, call, checks, finish
from tests.integration.rtp import pause, reinvite
from tests.integration.sip_trace import header, received, topology_leaks, traced_peer
from tests.integration.test_edgectl import edgectl, out
from tests.sipp import Sipp

COMPANY = "callerid"
AGENT, PASSWORD = "1401", "agent-1401-pw"
DID = "+551140000900"
NUMBER = "+5511987654321"
# What an agent's phone adds that says something about the inside.
PHONE_HEADERS = "\n".join(["User-Agent: DeskPhone/9.1 (ext 1401)", "x-internal-queue: sales-team",  # any case
                           "P-Asserted-Identity: <sip:1401@demo.test>"])


@pytest.fixture(scope="module")
def agent(edge: Stack) -> Iterator[None]:
    assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", {"name": "Sells Ltd"})[0] in (200, 201)
    body = {"password": PASSWORD, "company": COMPANY}
    assert api(edge, "PUT", f"/v1/orgs/demo/agents/{AGENT}", body)[0] in (200, 201)
    yield
    api(edge, "DELETE", f"/v1/orgs/demo/agents/{AGENT}?force=true")
    api(edge, "DELETE", f"/v1/orgs/demo/companies/{COMPANY}")


def company(edge: Stack, **settings: object) -> None:
    assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", {"name": "Sells Ltd", **settings})[0] == 200


def outbound_call(sipp: Sipp, gateway_port: int, extra_header: str = PHONE_HEADERS,
                  scenario: str = "uas.xml", **values: object) -> tuple[str, str]:
    """The agent calls NUMBER; returns the INVITE and the BYE the carrier gateway received."""
    gw, log = traced_peer(sipp, gateway_port, scenario, **values)
    result = call(sipp, AGENT, NUMBER, password=PASSWORD, domain=DEMO, extra_header=extra_header)
    code, out = finish(gw)
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    assert code == 0, out[-3000:]
    invites, byes = received(log, "INVITE "), received(log, "BYE ")
    assert invites and byes, log.read_text()[-3000:]
    return invites[-1], byes[-1]


def inside_details(message: str) -> list[str]:
    """Whatever in a message toward a carrier names the agent or its phone."""
    head = message.split("\n\n", 1)[0]
    found = [line for line in head.splitlines() if line.lower().startswith(("x-", "user-agent:"))]
    found += [line for line in head.splitlines()
              if line.lower().startswith(("from:", "p-asserted-identity:")) and AGENT in line]
    return found


def test_outbound_calls_present_the_company_did_never_the_extension(edge: Stack, sipp: Sipp, agent,
                                                                    gateways) -> None:
    company(edge, caller_id=DID)
    invite, bye = outbound_call(sipp, gateways[0])
    assert header(invite, "From")[0].startswith(f'"Sells Ltd" <sip:{DID}@'), invite
    assert header(invite, "P-Asserted-Identity") == [f"<sip:{DID}@127.0.0.1>"], invite
    assert not header(invite, "Privacy"), invite
    assert inside_details(invite) == [], invite
    # The agent's BYE carries its own From; the carrier sees the dialog as it started it.
    assert header(bye, "From")[0].startswith(f'"Sells Ltd" <sip:{DID}@'), bye
    assert inside_details(bye) == [], bye


def test_the_carrier_sees_no_agent_address_port_or_extension(edge: Stack, sipp: Sipp, agent, gateways) -> None:
    """Via, Record-Route and Contact of the agent's INVITE and BYE name only the edge."""
    company(edge, caller_id=DID)
    invite, bye = outbound_call(sipp, gateways[0])
    for message in (invite, bye):
        assert topology_leaks(message, {edge.settings.sip_port}, (AGENT,)) == [], message
    assert header(invite, "Contact")[0].startswith("<sip:127.0.0.1;line="), invite


def test_an_agents_re_invite_reaches_the_carrier_masked(edge: Stack, sipp: Sipp, agent, gateways) -> None:
    """Hold and resume re-INVITEs from the agent: the carrier answers them (and the BYE) through
    the masked Via, and sees no agent detail in them."""
    company(edge, caller_id=DID)
    gw, log = traced_peer(sipp, gateways[0], "uas_echo.xml", ring_ms=100, offer_check="", audio="", steps="")
    steps = pause(300) + reinvite(3, "sendonly") + pause(200) + reinvite(4, "sendrecv") + pause(200)
    result = sipp.run("uac_media.xml", [[AGENT, DEMO, PASSWORD, NUMBER]], values={"steps": steps, "bye_cseq": 5},
                      extra=["-au", AGENT, "-ap", PASSWORD])
    assert finish(gw)[0] == 0
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    reinvites = [m for m in received(log, "INVITE ") if not header(m, "CSeq")[0].startswith("2 ")]
    assert len(reinvites) == 2, reinvites
    for message in received(log, ""):
        assert topology_leaks(message, {edge.settings.sip_port, gateways[0]}, (AGENT,)) == [], message


def test_the_next_gateway_after_a_failure_gets_the_same_identity(edge: Stack, sipp: Sipp, agent, gateways) -> None:
    company(edge, caller_id=DID)
    failing, _ = traced_peer(sipp, gateways[0], "gateway_refuse.xml", status=503, reason="Service Unavailable")
    invite, bye = outbound_call(sipp, gateways[1])
    finish(failing)
    assert header(invite, "From")[0].startswith(f'"Sells Ltd" <sip:{DID}@'), invite
    assert inside_details(invite) == [] and inside_details(bye) == []


@pytest.mark.parametrize(("settings", "phone_asks"), [({"hide_caller_id": True}, False), ({}, True)])
def test_privacy_withholds_the_did_from_the_callee_but_asserts_it_to_the_carrier(
    edge: Stack, sipp: Sipp, agent, gateways, settings: dict, phone_asks: bool
) -> None:
    company(edge, caller_id=DID, **settings)
    invite, _ = outbound_call(sipp, gateways[0], PHONE_HEADERS + ("\nPrivacy: id" if phone_asks else ""))
    assert header(invite, "From")[0].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>'), invite
    assert header(invite, "P-Asserted-Identity") == [f"<sip:{DID}@127.0.0.1>"], invite
    assert header(invite, "Privacy") == ["id"], invite


def test_a_company_without_a_did_calls_anonymously(edge: Stack, sipp: Sipp, agent, gateways) -> None:
    company(edge)
    invite, bye = outbound_call(sipp, gateways[0])
    assert header(invite, "From")[0].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>'), invite
    assert not header(invite, "P-Asserted-Identity"), invite
    assert inside_details(invite) == [] and inside_details(bye) == []


def trunk(state: EdgeState, port: int, password: str, realm: str = "") -> None:
    """Credentials provisioned straight into Redis: at debug level Kamailio logs every HTTP
    body it receives, so one sent through the API would be in the log the test reads."""
    body = {"address": f"sip:127.0.0.1:{port}", "auth_username": "trunk-demo", "auth_password": password,
            "auth_realm": realm}
    state.directory.save_gateway(parse_gateway("test-gw0", body))


@pytest.mark.parametrize("realm", ["", "carrier.test"])  # a known realm: HA1 stored, never the password
def test_a_carrier_that_challenges_gets_the_gateways_credentials(edge: Stack, state: EdgeState, sipp: Sipp, agent,
                                                                 gateways, realm: str) -> None:
    company(edge, caller_id=DID)
    secret = "trunk-Secret-7731"
    trunk(state, gateways[0], secret, realm)
    assert (secret in str(state.r.hgetall(keys.gateway("test-gw0")))) is not bool(realm)
    invite, _ = outbound_call(sipp, gateways[0], scenario="gateway_auth.xml", user="trunk-demo", password=secret)
    # The answer to the challenge is a new request of the dialog: the next CSeq.
    assert header(invite, "CSeq") == ["3 INVITE"], invite
    assert header(invite, "Authorization")[0].startswith('Digest username="trunk-demo"'), invite
    assert secret not in str(api(edge, "GET", "/v1/gateways")[1])
    assert secret not in str(api(edge, "GET", "/v1/gateways/test-gw0")[1])
    assert secret not in (edge.data_dir / "logs" / "kamailio.log").read_text(errors="replace")


def test_the_api_takes_gateway_credentials_and_never_shows_the_password(edge: Stack, gateways) -> None:
    body = {"address": f"sip:127.0.0.1:{gateways[0]}", "auth_username": "trunk-demo", "auth_password": "pw-via-api"}
    status, shown = api(edge, "PUT", "/v1/gateways/test-gw0", body)
    assert status == 200 and shown["auth_username"] == "trunk-demo" and "auth_password" not in shown
    assert "pw-via-api" not in str(api(edge, "GET", "/v1/gateways/test-gw0")[1])
    status, error = api(edge, "PUT", "/v1/gateways/test-gw0", {**body, "auth_username": ""})
    assert status == 400 and "auth_username" in str(error)


def test_wrong_gateway_credentials_end_the_call_after_one_try(edge: Stack, state: EdgeState, sipp: Sipp, agent,
                                                              gateways) -> None:
    trunk(state, gateways[0], "not-the-one")
    gw, _ = traced_peer(sipp, gateways[0], "gateway_auth.xml", user="trunk-demo", password="the-real-one")
    result = call(sipp, AGENT, NUMBER, scenario="uac_refused.xml", password=PASSWORD, domain=DEMO, expect=403)
    assert finish(gw)[0] != 0  # the gateway saw wrong credentials once, and no second try
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


QUEUE_DID = "+551140000901"


@pytest.fixture
def callback_queue(edge: Stack, agent) -> Iterator[str]:
    body = {"kind": "queue", "name": "Callbacks", "members": [AGENT], "caller_id": QUEUE_DID}
    assert api(edge, "PUT", "/v1/orgs/demo/services/801", body)[0] in (200, 201)
    yield "801"
    api(edge, "DELETE", "/v1/orgs/demo/services/801")


def test_a_queue_member_may_present_the_queues_did(edge: Stack, sipp: Sipp, gateways, callback_queue: str) -> None:
    company(edge, caller_id=DID)
    invite, _ = outbound_call(sipp, gateways[0], f"{PHONE_HEADERS}\nX-Edge-Caller-Id: {callback_queue}")
    assert header(invite, "From")[0].startswith(f'"Sells Ltd" <sip:{QUEUE_DID}@'), invite
    assert header(invite, "P-Asserted-Identity") == [f"<sip:{QUEUE_DID}@127.0.0.1>"], invite
    assert inside_details(invite) == [], invite


@pytest.mark.parametrize("asked", ["802", "not-a-queue"])
def test_a_did_the_agent_may_not_use_is_refused(edge: Stack, sipp: Sipp, gateways, callback_queue: str,
                                                asked: str) -> None:
    result = call(sipp, AGENT, NUMBER, scenario="uac_refused.xml", password=PASSWORD, domain=DEMO, expect=403,
                  extra_header=f"X-Edge-Caller-Id: {asked}")
    assert result.ok, result.output[-3000:] + result.errors[-3000:]


def test_edgectl_sets_caller_id_masking_and_carrier_credentials(edge: Stack, state: EdgeState, agent,
                                                               gateways) -> None:
    company = out(edgectl(edge, "company", "set", "demo", COMPANY, "--caller-id", DID, "--mask-customer-numbers",
                          "on", "--mask-visible-digits", "3"))
    assert (company["caller_id"], company["mask_customer_numbers"], company["mask_visible_digits"]) == (DID, True, 3)
    shown = out(edgectl(edge, "gateway", "set", "test-gw0", "--auth-username", "trunk-demo", "--password-stdin",
                        stdin="from-stdin-secret\n"))
    assert shown["auth_username"] == "trunk-demo" and "from-stdin-secret" not in str(shown)
    # Changing something else keeps the password the API never shows.
    assert out(edgectl(edge, "gateway", "set", "test-gw0", "--priority", "7"))["priority"] == 7
    stored = state.directory.get_gateway("test-gw0")
    assert stored is not None and stored.auth_secret == "from-stdin-secret"


def test_a_cancelled_outbound_call_cancels_with_the_presented_identity(edge: Stack, sipp: Sipp, agent,
                                                                      gateways) -> None:
    company(edge, caller_id=DID)
    gw, log = traced_peer(sipp, gateways[0], "uas_ring.xml")
    result = call(sipp, AGENT, NUMBER, scenario="uac_cancel.xml", password=PASSWORD, domain=DEMO)
    assert finish(gw)[0] == 0
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    cancel = received(log, "CANCEL ")[-1]
    assert header(cancel, "From")[0].startswith(f'"Sells Ltd" <sip:{DID}@'), cancel


def test_the_carriers_bye_reaches_the_agent_as_its_own_dialog(edge: Stack, sipp: Sipp, agent, gateways) -> None:
    """The carrier knows the caller as the DID; the agent's phone gets its own identity back
    in the To of the carrier's BYE, which the edge routes to the phone it hid from the carrier."""
    company(edge, caller_id=DID)
    gw, log = traced_peer(sipp, gateways[0], "gateway_hangs_up.xml", hold_ms=300)
    own = checks(f"To: .Agent {AGENT}. .sip:{AGENT}@{DEMO}")
    result = sipp.run("uac_hungup.xml", [[AGENT, DEMO, PASSWORD, NUMBER]], values={"checks": own},
                      extra=["-au", AGENT, "-ap", PASSWORD])
    assert finish(gw)[0] == 0
    assert result.ok, result.output[-3000:] + result.errors[-3000:]
    # Found through the edge's masked Contact; the ACK and the answer to the BYE hide the agent too.
    for message in received(log, ""):
        assert topology_leaks(message, {edge.settings.sip_port, gateways[0]}, (AGENT,)) == [], message
