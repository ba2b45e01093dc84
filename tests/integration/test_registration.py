"""Digest-authenticated registration against a real Kamailio + Redis."""

from __future__ import annotations

import json
import socket
import uuid

from kemi_app.policy.digest import ha1
from tests.integration.helpers import DEMO, register
from tests.sipp import Sipp
from tests.state_kit import put_agent

RETRY_ON_CHALLENGE = '<recv response="401" auth="true" optional="true" next="retry"/>'


def bindings(state, ext: str) -> list:
    return state.registrations.bindings("demo", ext)


def test_register_with_digest_auth_stores_binding(sipp: Sipp, state) -> None:
    port = sipp.next_port()
    result = register(sipp, "1001", port)
    assert result.ok, result.output + result.errors
    found = bindings(state, "1001")
    assert [b.received for b in found] == [f"sip:127.0.0.1:{port};transport=udp"]
    assert 250 < found[0].ttl(__import__("time").time()) <= 300


def test_register_over_tcp(sipp: Sipp, state) -> None:
    port = sipp.next_port()
    result = register(sipp, "1002", port, transport="t1")
    assert result.ok, result.output + result.errors
    assert any(b.received.endswith(";transport=tcp") for b in bindings(state, "1002"))


def test_expires_zero_unregisters(sipp: Sipp, state) -> None:
    port = sipp.next_port()
    assert register(sipp, "1002", port).ok
    before = len(bindings(state, "1002"))
    assert register(sipp, "1002", port, expires=0).ok
    assert len(bindings(state, "1002")) == before - 1


def test_interval_too_brief_gets_423(sipp: Sipp) -> None:
    assert register(sipp, "1002", sipp.next_port(), expires=5, expect=423).ok


def test_wrong_password_is_challenged_then_refused(sipp: Sipp, state) -> None:
    # The test edge allows 3 failures: 2 fresh challenges, then 403 (and 403 straight away after).
    # A dedicated agent: the lockout is per agent and source, and every test sends from 127.0.0.1.
    put_agent(state, "demo", "1077", {"ha1": ha1("1077", DEMO, "right")})
    port = sipp.next_port()
    result = sipp.run(
        "register.xml", [["1077", DEMO, "wrong", "300"]], port=port,
        values={"expect": 403, "retry": RETRY_ON_CHALLENGE}, extra=["-au", "1077", "-ap", "wrong"],
    )
    assert result.ok, result.output + result.errors
    result = register(sipp, "1077", port, password="wrong", expect=403)
    assert result.ok, result.output + result.errors
    # A correct password from the same source is still refused while the window lasts.
    assert register(sipp, "1077", port, password="right", expect=403).ok
    assert state.registrations.bindings("demo", "1077") == []


def test_unknown_agent_looks_like_wrong_password(sipp: Sipp) -> None:
    result = sipp.run(
        "register.xml", [["1999", DEMO, "whatever", "300"]], port=sipp.next_port(),
        values={"expect": 403, "retry": RETRY_ON_CHALLENGE}, extra=["-au", "1999", "-ap", "whatever"],
    )
    assert result.ok, result.output + result.errors


def raw_udp(port: int, message: str, timeout: float = 3.0) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        local = s.getsockname()[1]
        s.sendto(message.replace("LOCALPORT", str(local)).encode(), ("127.0.0.1", port))
        return s.recv(65535).decode(errors="replace")


def sip_request(method: str, ruri: str, from_uri: str, extra: str = "", max_forwards: int = 70) -> str:
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <{from_uri}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <{from_uri}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )


def status_line(response: str) -> str:
    return response.split("\r\n", 1)[0]


def test_unknown_domain_is_refused(edge) -> None:
    msg = sip_request("REGISTER", "sip:nowhere.test", "sip:1001@nowhere.test",
                      "Contact: <sip:1001@127.0.0.1:LOCALPORT>\r\n")
    assert status_line(raw_udp(edge.settings.sip_port, msg)) == "SIP/2.0 403 Unknown Domain"


def test_register_without_credentials_is_challenged_with_org_realm(edge) -> None:
    msg = sip_request("REGISTER", f"sip:{DEMO}", f"sip:1001@{DEMO}", "Contact: <sip:1001@127.0.0.1:LOCALPORT>\r\n")
    response = raw_udp(edge.settings.sip_port, msg)
    assert status_line(response).startswith("SIP/2.0 401")
    assert f'realm="{DEMO}"' in response


def test_max_forwards_exhausted_gets_483(edge) -> None:
    msg = sip_request("OPTIONS", f"sip:1001@{DEMO}", f"sip:1002@{DEMO}", max_forwards=0)
    assert status_line(raw_udp(edge.settings.sip_port, msg)) == "SIP/2.0 483 Too Many Hops"


def test_malformed_request_gets_400(edge) -> None:
    msg = sip_request("REGISTER", f"sip:{DEMO}", f"sip:1001@{DEMO}", "Expires: soon\r\n")
    assert status_line(raw_udp(edge.settings.sip_port, msg)).startswith("SIP/2.0 400")


def test_health_reports_all_components(edge) -> None:
    status, body = edge.health()
    assert status == 200
    assert body["components"] == {"kamailio": "ok", "redis": "ok", "rtpengine": "ok"}
    assert json.dumps(body)
