"""Attacks on the SIP edge (#13): relay through in-dialog requests, stray responses,
replayed digest credentials, a hijacked Contact, a flood from one source, lockout abuse.
Outside hosts are UDP sockets on 127.0.0.5 that must never hear from the edge."""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from edgeops.stack import Stack
from kemi_app.policy.digest import ha1
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.org import Org
from kemi_app.state import EdgeState, keys
from tests.integration.raw_sip import RawSip, Response, authorization, heard, listener
from tests.integration.test_metrics import scrape, value

ORG, DOMAIN, PASSWORD = "sec", "sec.test", "secpass"
CALLER, CALLEE, OFFLINE = "5001", "5002", "5003"  # OFFLINE never registers: its calls end in 480
RELAY_METHODS = ("INVITE", "BYE", "MESSAGE", "NOTIFY", "OPTIONS", "REFER", "INFO", "UPDATE", "PRACK",
                 "SUBSCRIBE", "PUBLISH", "REGISTER")


@pytest.fixture(scope="module")
def org(state: EdgeState) -> str:
    state.directory.save_org(Org(ORG, DOMAIN, "Security tests"))
    for ext in (CALLER, CALLEE, OFFLINE):
        state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    return ORG


@pytest.fixture
def client(edge: Stack) -> Iterator[RawSip]:
    c = RawSip(("127.0.0.1", edge.settings.sip_port))
    yield c
    c.close()


def _authenticated(c: RawSip, method: str, ruri: str, user: str = CALLER, password: str = PASSWORD,
                   call_id: str = "", timeout: float = 2.0, cseq: int = 2, extra: str = ""
                   ) -> tuple[str, Response | None]:
    """Sends `method`, answers the challenge; returns the authenticated request and its answer."""
    c.send(c.request(method, ruri, user, DOMAIN, call_id=call_id))
    challenge = c.final(timeout)
    assert challenge is not None and challenge.status in (401, 407), challenge
    header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    auth_name = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
    value = authorization(challenge.header(header), method, ruri, user, password)
    text = c.request(method, ruri, user, DOMAIN, call_id=call_id, cseq=cseq, extra=f"{auth_name}: {value}\n{extra}")
    c.send(text)
    return text, c.final(timeout)


# -- relay through in-dialog requests ---------------------------------------------------------
@pytest.mark.parametrize("method", RELAY_METHODS)
@pytest.mark.parametrize("route", ["outside", "edge-unsigned", "edge-forged"])
def test_in_dialog_request_outside_an_edge_dialog_goes_nowhere(
    edge: Stack, client: RawSip, org: str, method: str, route: str
) -> None:
    outside = listener()
    host, port = outside.getsockname()
    edge_uri = f"sip:127.0.0.1:{edge.settings.sip_port}"
    routes = {
        "outside": f"<sip:{host}:{port};lr>",
        "edge-unsigned": f"<{edge_uri};lr>",
        "edge-forged": f"<{edge_uri};lr;ee=4102444800;es=0123456789abcdef0123>",
    }
    client.send(client.request(method, f"sip:victim@{host}:{port}", CALLER, DOMAIN, to_tag="abc123",
                               extra=f"Route: {routes[route]}\n"))
    answer = client.final()
    assert answer is not None and answer.status in (403, 404), answer
    assert heard(outside) == b""
    outside.close()


# -- stray responses ---------------------------------------------------------------------------
@pytest.mark.parametrize("top_via", ["foreign", "edge"])
def test_stray_response_is_not_forwarded(edge: Stack, client: RawSip, top_via: str) -> None:
    first, second = listener(), listener()
    foreign = "{}:{}".format(*first.getsockname())
    top = foreign if top_via == "foreign" else f"127.0.0.1:{edge.settings.sip_port}"
    next_hop = "{}:{}".format(*second.getsockname())
    client.send(
        "SIP/2.0 200 OK\n"
        f"Via: SIP/2.0/UDP {top};branch=z9hG4bK{uuid.uuid4().hex[:12]}\n"
        f"Via: SIP/2.0/UDP {next_hop};branch=z9hG4bK{uuid.uuid4().hex[:12]}\n"
        f"From: <sip:a@{DOMAIN}>;tag=1\nTo: <sip:b@{DOMAIN}>;tag=2\nCall-ID: {uuid.uuid4().hex}\n"
        "CSeq: 1 INVITE\nContent-Length: 0\n\n"
    )
    assert heard(second) == b"" and heard(first) == b""
    first.close()
    second.close()


# -- replayed credentials ---------------------------------------------------------------------
def _stale(answer: Response | None) -> bool:
    return answer is not None and answer.status in (401, 407) and "stale=true" in answer.raw.lower()


def test_replayed_register_is_stale_and_cannot_hijack_the_contact(
    edge: Stack, client: RawSip, state: EdgeState, org: str
) -> None:
    text, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=CALLEE)
    assert answer is not None and answer.status == 200, answer
    attacker = RawSip(client.edge, "127.0.0.7")
    try:
        _, legit_port = client.local
        hijack = text.replace(f"@127.0.0.1:{legit_port}>", f"@127.0.0.7:{attacker.local[1]}>")
        time.sleep(0.3)  # a copy arriving while the first is still routed is absorbed as a retransmission
        attacker.send(hijack)
        assert _stale(attacker.final())
        time.sleep(0.3)  # a copy arriving while the first is still routed is absorbed as a retransmission
        client.send(text)  # the very same request again, from the same address
        assert _stale(client.final())
    finally:
        attacker.close()
    assert all("127.0.0.7" not in b.contact and "127.0.0.7" not in b.received
               for b in state.registrations.bindings(ORG, CALLEE))


def test_password_change_takes_effect_on_the_next_refresh(client: RawSip, state: EdgeState, org: str) -> None:
    """A refresh is checked against the HA1 the node cached at the last REGISTER: once the
    password changed, the old one must fail on the very next refresh, the new one work."""
    ext = "5004"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    for _ in range(2):  # the second is a refresh of what the node cached
        _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
        assert answer is not None and answer.status == 200, answer
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, "changed")))
    for _ in range(2):
        _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
        assert answer is not None and answer.status in (401, 403), answer
    state.r.delete(keys.authfail(ORG, ext, "127.0.0.1"))
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext, password="changed")
    assert answer is not None and answer.status == 200, answer


def test_refresh_after_the_bindings_changed_elsewhere_is_decided_again(
    client: RawSip, state: EdgeState, org: str
) -> None:
    """Bindings changed since this node wrote them (another node, a vanished connection): the
    refresh is decided on what Redis holds, here a new login."""
    ext = "5005"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
    assert answer is not None and answer.status == 200, answer
    first = state.r.hget(keys.session(ORG, ext), "started_at")
    state.r.delete(keys.bindings(ORG, ext))
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext, call_id=uuid.uuid4().hex)
    assert answer is not None and answer.status == 200, answer
    assert len(state.registrations.bindings(ORG, ext)) == 1
    assert state.r.hget(keys.session(ORG, ext), "started_at") != first


def test_a_refresh_from_the_same_client_writes_what_the_registrar_decides(
    client: RawSip, state: EdgeState, org: str
) -> None:
    """A refresh the node recognises from its cache (same client, same request but for Call-ID
    and CSeq) changes the binding's expiry, Call-ID and CSeq and the agent's place in the
    registrations' index, nothing else (online_until is read from the bindings until they
    expire); a lower CSeq of the binding's Call-ID and another Expires are
    decided by the registrar (500, the new expiry)."""
    ext = "5006"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
    assert answer is not None and answer.status == 200, answer
    (first,) = state.registrations.bindings(ORG, ext)
    session = state.r.hgetall(keys.session(ORG, ext))
    call_id, before = uuid.uuid4().hex, time.time()
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext, call_id=call_id, cseq=7)
    assert answer is not None and answer.status == 200, answer
    (fresh,) = state.registrations.bindings(ORG, ext)
    assert fresh == replace(first, expires_at=fresh.expires_at, call_id=call_id, cseq=7)
    assert before + 3600 <= fresh.expires_at <= time.time() + 3600
    assert state.r.hgetall(keys.session(ORG, ext)) == session
    assert state.r.zscore(keys.REGISTRATIONS, keys.registration(ORG, ext)) == fresh.expires_at
    assert state.r.ttl(keys.bindings(ORG, ext)) == -1
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext, call_id=call_id, cseq=5)
    assert answer is not None and answer.status == 500, answer
    assert state.registrations.bindings(ORG, ext) == [fresh]
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext, extra="Expires: 600\n")
    assert answer is not None and answer.status == 200, answer
    (shorter,) = state.registrations.bindings(ORG, ext)
    assert shorter.expires_at <= time.time() + 600


def test_refreshes_of_an_agent_with_two_phones_keep_both_bindings(
    edge: Stack, client: RawSip, state: EdgeState, org: str
) -> None:
    """Each phone's refresh changes its own binding, in one round trip on what the node cached;
    both are answered with both contacts, newest first, and the registration expires with the
    latest."""
    ext = "5007"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    other = RawSip(client.edge)
    try:
        for i, (phone, then) in enumerate(((client, []), (other, [client]), (client, [other]), (other, [client]),
                                           (client, [other]))):
            if i == 2:
                before = scrape(edge)
            _, answer = _authenticated(phone, "REGISTER", f"sip:{DOMAIN}", user=ext)
            assert answer is not None and answer.status == 200, answer
            contacts = re.findall(r"^Contact: <sip:[^@]+@127.0.0.1:(\d+)>", answer.raw, re.M)
            assert contacts == [str(c.local[1]) for c in (phone, *then)], answer.raw
    finally:
        other.close()
    after = scrape(edge)
    ops = {op: value(after, "edge_redis_seconds_count", op=op) - value(before, "edge_redis_seconds_count", op=op)
           for op in ("register_view", "refresh_binding")}
    assert ops == {"register_view": 0, "refresh_binding": 3}
    bindings = state.registrations.bindings(ORG, ext)
    assert sorted(b.received for b in bindings) == sorted(
        f"sip:127.0.0.1:{c.local[1]};transport=udp" for c in (client, other))
    latest = max(b.expires_at for b in bindings)
    assert state.r.zscore(keys.REGISTRATIONS, keys.registration(ORG, ext)) == latest


def test_replayed_invite_with_a_new_call_id_is_stale(client: RawSip, org: str) -> None:
    text, answer = _authenticated(client, "INVITE", f"sip:{OFFLINE}@{DOMAIN}")
    assert answer is not None and answer.status == 480, answer  # authenticated, then routed
    old_call_id = text.split("Call-ID: ", 1)[1].split("\n", 1)[0]
    client.send(text.replace(old_call_id, uuid.uuid4().hex))
    assert _stale(client.final())


# -- flood and lockout --------------------------------------------------------------------------
def test_a_nonce_this_node_did_not_issue_is_stale_and_not_a_failed_attempt(
    client: RawSip, state: EdgeState, org: str
) -> None:
    """Each node makes its nonces with its own secret: one from another node (or from before a
    restart) never validates here, so it cannot be replayed here. The password was not checked:
    a stale challenge, no failure counted."""
    ext = "5006"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    ruri = f"sip:{DOMAIN}"
    client.send(client.request("REGISTER", ruri, ext, DOMAIN))
    challenge = client.final()
    assert challenge is not None and challenge.status == 401, challenge
    nonce = challenge.header("WWW-Authenticate").split('nonce="', 1)[1].split('"', 1)[0]
    raw = bytearray(base64.b64decode(nonce))
    raw[12] ^= 0xFF  # inside the MD5 that only the issuing node's secret reproduces
    foreign = challenge.header("WWW-Authenticate").replace(nonce, base64.b64encode(bytes(raw)).decode())
    value = authorization(foreign, "REGISTER", ruri, ext, PASSWORD)
    client.send(client.request("REGISTER", ruri, ext, DOMAIN, cseq=2, extra=f"Authorization: {value}\n"))
    assert _stale(client.final())
    assert state.r.get(keys.authfail(ORG, ext, "127.0.0.1")) is None
    _, answer = _authenticated(client, "REGISTER", ruri, user=ext)
    assert answer is not None and answer.status == 200, answer


def test_a_refresh_resent_is_stale_without_a_state_read(edge: Stack, client: RawSip, state: EdgeState, org: str
                                                        ) -> None:
    """A retransmission (or replay) of a refresh: its nonce is spent on this node, so it gets
    its stale challenge at once, without reading the agent from Redis first."""
    ext = "5008"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    for _ in range(2):  # the second is a refresh of what the node cached
        text, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
        assert answer is not None and answer.status == 200, answer
    before = scrape(edge)
    time.sleep(0.3)  # a copy arriving while the first is still routed is absorbed as a retransmission
    client.send(text)
    assert _stale(client.final())
    after = scrape(edge)
    assert all(value(after, "edge_redis_seconds_count", op=op) == value(before, "edge_redis_seconds_count", op=op)
               for op in ("register_view", "refresh"))


def test_a_failure_recorded_on_another_node_locks_out_the_next_refresh(
    edge: Stack, client: RawSip, state: EdgeState, org: str
) -> None:
    """A refresh reads the lockout counters only for an agent with a recent failure; a node
    learns of failures recorded on other nodes within about a second."""
    ext = "5007"
    state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD)))
    for _ in range(2):  # the second is a refresh of what the node cached
        _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
        assert answer is not None and answer.status == 200, answer
    for _ in range(edge.settings.auth_max_failures):  # as another node records them
        state.registrations.record_auth_failure(ORG, ext, "127.0.0.1", per_agent=True)
    time.sleep(1.5)
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
    assert answer is not None and answer.status == 403, answer
    state.r.delete(keys.authfail(ORG, ext, "127.0.0.1"))
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", user=ext)
    assert answer is not None and answer.status == 200, answer


def test_flood_from_one_source_is_throttled_while_an_agent_registers_and_calls(
    edge: Stack, client: RawSip, org: str
) -> None:
    flooder, flood, answered = RawSip(client.edge, "127.0.0.9"), 1000, []
    done = threading.Event()
    options = flooder.request("OPTIONS", f"sip:127.0.0.1:{edge.settings.sip_port}", "x", DOMAIN)

    def send() -> None:
        for i in range(flood):  # bounded in count and rate (the kernel would drop a faster burst)
            flooder.send(options.replace("CSeq: 1 ", f"CSeq: {i + 1} "))
            if i % 50 == 49:
                time.sleep(0.02)

    def count_answers() -> None:
        flooder.sock.settimeout(0.2)
        while not done.is_set():
            try:
                flooder.sock.recv(65535)
                answered.append(1)
            except TimeoutError:
                pass

    threads = [threading.Thread(target=send), threading.Thread(target=count_answers)]
    for t in threads:
        t.start()
    try:
        # While the flood runs: the workers may still drain its backlog, hence the timeouts.
        _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}", timeout=8)
        assert answer is not None and answer.status == 200, answer
        _, answer = _authenticated(client, "INVITE", f"sip:{OFFLINE}@{DOMAIN}", timeout=8)
        assert answer is not None and answer.status == 480, answer
    finally:
        threads[0].join()
        time.sleep(1)
        done.set()
        threads[1].join()
        flooder.close()
    assert len(answered) < flood // 2, f"{len(answered)} of {flood} flood requests answered"


def test_lockout_keys_are_bounded_and_an_attacker_cannot_lock_out_the_agent(
    edge: Stack, client: RawSip, state: EdgeState, org: str
) -> None:
    attacker = RawSip(client.edge, "127.0.0.8")
    try:
        for i in range(8):
            _authenticated(attacker, "REGISTER", f"sip:{DOMAIN}", user=f"9{i:03d}", password="guess")
        for _ in range(edge.settings.auth_max_failures + 1):
            _authenticated(attacker, "REGISTER", f"sip:{DOMAIN}", user=CALLER, password="guess")
        _, answer = _authenticated(attacker, "REGISTER", f"sip:{DOMAIN}", user=CALLER, password="guess")
        assert answer is not None and answer.status == 403, answer
    finally:
        attacker.close()
    failure_keys = list(state.r.scan_iter(keys.k("authfail", ORG, "*")))
    assert len(failure_keys) <= 2, failure_keys  # the agent's from 127.0.0.8, and one for made-up names
    _, answer = _authenticated(client, "REGISTER", f"sip:{DOMAIN}")
    assert answer is not None and answer.status == 200, answer


# -- connections per source ---------------------------------------------------------------------
def _tcp_options(edge: Stack, ip: str) -> tuple[socket.socket, bytes]:
    """A new TCP connection from ip that sends one OPTIONS; its answer, or b'' if closed."""
    s = socket.create_connection(("127.0.0.1", edge.settings.sip_port), timeout=3, source_address=(ip, 0))
    host, port = s.getsockname()
    s.sendall(
        f"OPTIONS sip:127.0.0.1:{edge.settings.sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
        f"From: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode()
    )
    try:
        return s, s.recv(65535)
    except (ConnectionError, TimeoutError):
        return s, b""


def test_connections_per_source_are_limited(edge: Stack) -> None:
    limit = edge.settings.tcp_per_source
    held = []
    try:
        for _ in range(limit):
            s, answer = _tcp_options(edge, "127.0.0.6")
            held.append(s)
            assert answer.startswith(b"SIP/2.0 200"), answer
        s, answer = _tcp_options(edge, "127.0.0.6")
        held.append(s)
        assert answer == b""  # closed unanswered: one connection too many from that source
        s, answer = _tcp_options(edge, "127.0.0.1")  # another source is not affected
        held.append(s)
        assert answer.startswith(b"SIP/2.0 200"), answer
    finally:
        for s in held:
            s.close()
    time.sleep(1)  # tcpops reports the closed connections
    s, answer = _tcp_options(edge, "127.0.0.6")
    s.close()
    assert answer.startswith(b"SIP/2.0 200"), answer
