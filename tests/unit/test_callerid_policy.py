"""Caller ID toward carriers, masking toward agents, headers kept from carriers."""

from __future__ import annotations

import re

import pytest

from kemi_app.policy.callerid import (
    ANONYMOUS_URI,
    TOWARD_CARRIER_STRIPPED,
    mask,
    masked_identity,
    outbound_identity,
    presented_did,
    privacy_asked,
    stripped_toward_carrier,
)
from kemi_app.policy.digest import ha1
from kemi_app.provisioning.company import Company, parse_company
from kemi_app.provisioning.errors import ValidationError
from kemi_app.provisioning.gateway import parse_gateway
from kemi_app.provisioning.service import Service, parse_service

DID = "+551140000800"
SELLS = Company(id="sells", name="Sells Ltd", caller_id=DID)


def test_outbound_calls_present_the_did() -> None:
    identity = outbound_identity(SELLS, DID, "edge.example", privacy_asked=False, emergency=False)
    assert identity.uri == f"sip:{DID}@edge.example"
    assert identity.display == '"Sells Ltd"'
    assert identity.headers() == (f"P-Asserted-Identity: <sip:{DID}@edge.example>",)


@pytest.mark.parametrize("company, asked", [(Company("c", "C", caller_id=DID, hide_caller_id=True), False),
                                            (SELLS, True)])
def test_privacy_hides_the_number_from_the_callee_but_asserts_it_to_the_carrier(company, asked) -> None:
    identity = outbound_identity(company, DID, "edge.example", privacy_asked=asked, emergency=False)
    assert identity.uri == ANONYMOUS_URI
    assert identity.headers() == (f"P-Asserted-Identity: <sip:{DID}@edge.example>", "Privacy: id")


def test_emergency_calls_always_show_the_number() -> None:
    company = Company("c", "C", caller_id=DID, hide_caller_id=True)
    identity = outbound_identity(company, DID, "edge.example", privacy_asked=True, emergency=True)
    assert identity.uri == f"sip:{DID}@edge.example"
    assert "Privacy: id" not in identity.headers()


def test_a_company_without_a_did_calls_anonymously_never_with_the_extension() -> None:
    identity = outbound_identity(Company("c", "C"), "", "edge.example", privacy_asked=False, emergency=False)
    assert identity.uri == ANONYMOUS_URI
    assert identity.headers() == ("Privacy: id",)
    emergency = outbound_identity(Company("c", "C"), "", "edge.example", privacy_asked=True, emergency=True)
    assert emergency.uri == ANONYMOUS_URI and emergency.headers() == ()


@pytest.mark.parametrize("header, asked", [("id", True), ("none", False), ("", False), ("header;id", True),
                                           ("user, critical", True), ("critical", False)])
def test_privacy_header_values(header: str, asked: bool) -> None:
    assert privacy_asked(header) is asked


@pytest.mark.parametrize("number, visible, shown", [
    ("+5511987654321", 4, "+*********4321"),
    ("11987654321", 4, "*******4321"),
    ("+5511987654321", 0, "+*************"),
    ("4321", 4, "**21"),  # never more than half the digits
    ("anonymous", 4, "anonymous"),
])
def test_mask_keeps_only_the_last_digits(number: str, visible: int, shown: str) -> None:
    assert mask(number, visible) == shown


def test_masked_identity_only_for_companies_that_mask() -> None:
    assert masked_identity("+5511987654321", "edge", SELLS) is None
    masking = Company("m", "M", mask_customer_numbers=True, mask_visible_digits=3)
    identity = masked_identity("+5511987654321", "edge", masking)
    assert identity is not None
    assert identity.uri == "sip:+**********321@edge"
    assert identity.display == '"+**********321"'


@pytest.mark.parametrize("name", ["X-Edge-Attendance", "x-anything", "User-Agent", "Server", "P-Asserted-Identity",
                                  "Remote-Party-ID", "Privacy", "Diversion", "Referred-By"])
def test_inside_details_never_reach_carriers(name: str) -> None:
    assert re.match(TOWARD_CARRIER_STRIPPED, name, re.IGNORECASE)


@pytest.mark.parametrize("name", ["Via", "Contact", "Record-Route", "Content-Type", "Allow", "Supported",
                                  "Max-Forwards", "Xyz"])
def test_what_sip_needs_passes(name: str) -> None:
    assert not re.match(TOWARD_CARRIER_STRIPPED, name, re.IGNORECASE)


def test_the_headers_stripped_toward_a_carrier_are_named_as_written_and_only_once() -> None:
    headers = ("Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
               "From: <sip:1001@demo.test>;tag=a\r\nTo: <sip:+5511@demo.test>;tag=b\r\n"
               "user-agent : Phone 1.2\r\nX-Edge-Attendance: att-1\r\nx-inside:\r\n"
               "Subject: a folded\r\n X-Not-A-Header: value\r\nP-Asserted-Identity: <sip:1001@demo.test>\r\n"
               "P-Asserted-Identity: <tel:1001>\r\nContent-Type: application/sdp\r\nServerish: no\r\n")
    assert stripped_toward_carrier(headers) == {"user-agent", "X-Edge-Attendance", "x-inside", "P-Asserted-Identity"}


def test_no_header_to_strip_names_nothing() -> None:
    assert stripped_toward_carrier("Via: SIP/2.0/UDP h\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n") == set()


def test_company_caller_id_must_be_e164() -> None:
    with pytest.raises(ValidationError) as e:
        parse_company("c", {"caller_id": "1140000800"})
    assert e.value.field == "caller_id"
    assert parse_company("c", {"caller_id": DID}).caller_id == DID


def test_gateway_password_is_never_shown_and_needs_a_username() -> None:
    gw = parse_gateway("gw", {"address": "sip:10.0.0.5:5060", "auth_username": "trunk", "auth_password": "s3cret!"})
    assert (gw.auth_secret, gw.auth_secret_is_ha1) == ("s3cret!", False)
    assert "s3cret!" not in str(gw.public())
    with pytest.raises(ValidationError) as e:
        parse_gateway("gw", {"address": "sip:10.0.0.5:5060", "auth_password": "s3cret!"})
    assert e.value.field == "auth_username"


QUEUE_DID = "+551140000801"
QUEUE = Service("801", "queue", "Callbacks", members=["1401"], caller_id=QUEUE_DID)


@pytest.mark.parametrize(("caller", "asked", "queue", "did"), [
    ("1401", "", None, DID),  # not asked: the company's
    ("1401", "801", QUEUE, QUEUE_DID),  # a member asks for its queue's
    ("1402", "801", QUEUE, None),  # not a member
    ("1401", "802", None, None),  # no such queue
    ("1401", "801", Service("801", "queue", "Q", members=["1401"]), None),  # a queue without a DID
    ("1401", "801", Service("801", "ivr", "IVR", target_uri="sip:ivr@x"), None),
])
def test_a_queue_did_only_for_its_members(caller: str, asked: str, queue: Service | None, did: str | None) -> None:
    assert presented_did(SELLS, caller, asked, queue) == did


def test_only_queues_have_a_caller_id() -> None:
    assert parse_service("801", {"kind": "queue", "caller_id": QUEUE_DID}).caller_id == QUEUE_DID
    with pytest.raises(ValidationError) as e:
        parse_service("700", {"kind": "ivr", "target_uri": "sip:ivr@10.0.0.1", "caller_id": QUEUE_DID})
    assert e.value.field == "caller_id"
    with pytest.raises(ValidationError):
        parse_service("801", {"kind": "queue", "caller_id": "801"})


def test_an_update_without_the_password_keeps_it_for_the_same_user() -> None:
    current = parse_gateway("gw", {"address": "sip:10.0.0.5:5060", "auth_username": "trunk", "auth_password": "pw-1"})
    kept = parse_gateway("gw", {"address": "sip:10.0.0.5:5060", "priority": 5, "auth_username": "trunk"}, current)
    assert kept.auth_secret == "pw-1" and kept.priority == 5
    with pytest.raises(ValidationError):  # another user needs its own password
        parse_gateway("gw", {"address": "sip:10.0.0.5:5060", "auth_username": "other"}, current)
    cleared = parse_gateway("gw", {"address": "sip:10.0.0.5:5060"}, current)
    assert (cleared.auth_username, cleared.auth_secret) == ("", "")


def test_with_a_realm_only_ha1_is_kept() -> None:
    body = {"address": "sip:10.0.0.5:5060", "auth_username": "trunk", "auth_password": "pw-1", "auth_realm": "c.test"}
    gw = parse_gateway("gw", body)
    assert (gw.auth_secret, gw.auth_secret_is_ha1) == (ha1("trunk", "c.test", "pw-1"), True)
    assert "pw-1" not in str(gw)
    with pytest.raises(ValidationError):  # HA1 is bound to its realm: another needs the password again
        parse_gateway("gw", {**body, "auth_password": None, "auth_realm": "other.test"}, gw)
