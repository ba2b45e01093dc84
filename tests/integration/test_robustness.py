"""Robustness of a real edge: the route guard's answers, bytes that are not UTF-8, the RFC 4475
torture messages and a seeded fuzz run over UDP, TCP and WebSocket.

The edge here is this module's own (log level info, so the fuzz does not drown in debug
lines, and a clean log to count errors in). After every test: no Kamailio worker died, no
Python exception escaped the route guard, the guard met no unhandled error, /health is 200.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from edgeops.stack import Stack
from tests.conftest import edge_environment, pick_port_base
from tests.rawsip import Answers, Tcp, Udp, Ws, authorised, exchange, log_since, wait_for, workers
from tests.torture import fuzz
from tests.torture.rfc4475 import INVALID, VALID, Torture

FUZZ_SEED = int(os.environ.get("EDGE_FUZZ_SEED", "4475"))
FUZZ_COUNT = {"udp": 2600, "tcp": 1400, "ws": 1000}
FUZZ_RATE = 200  # messages per second, all transports together
SOURCES = [f"127.0.0.{n}" for n in range(2, 42)]  # spread over sources, as many agents would be
# Valid by the RFC, but Kamailio's own parser rejects them before any route runs: nothing can
# answer them (wsinv: CSeq folded over two lines; intmeth and esc02: header names with
# characters such as % or ! that the parser does not take).
PARSER_DROPS = {"wsinv", "intmeth", "esc02"}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = edge_environment(pick_port_base(), tmp_path_factory.mktemp("robust"), EDGE_LOG_LEVEL="2")
    stack = Stack(env, log_to_files=True)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture()
def unharmed(edge: Stack) -> Iterator[Path]:
    """Checks, after the test, that the edge came through unharmed. Yields its log file."""
    log = edge.data_dir / "logs" / "kamailio.log"
    offset, pid = log.stat().st_size, edge.procs["kamailio"].pid
    before = workers(pid)
    yield log
    time.sleep(0.2)  # the last messages' log lines
    text = log_since(log, offset)
    assert workers(pid) == before, "a Kamailio process died or was replaced"
    escaped = re.findall(r"^Traceback \(most recent call last\)", text, re.M)
    assert not escaped, "a Python exception escaped the route guard"
    guard_errors = [line for line in text.splitlines() if "unhandled error" in line]
    assert not guard_errors, guard_errors[:3]
    assert edge.health()[0] == 200


@pytest.fixture()
def sip(edge: Stack) -> Iterator[Udp]:
    udp = Udp(edge.settings.sip_port)
    yield udp
    udp.close()


def request(method: str, ruri: bytes, call_id: bytes, extra: bytes = b"", body: bytes = b"",
            user: str = "1001", display: bytes = b"Agent") -> bytes:
    return (method.encode() + b" " + ruri + b" SIP/2.0\r\n"
            + b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s;rport\r\n" % os.urandom(6).hex().encode()
            + b'From: "%s" <sip:%s@demo.test>;tag=r%s\r\n' % (display, user.encode(), os.urandom(4).hex().encode())
            + b"To: <" + (b"sip:%s@demo.test" % user.encode() if method == "REGISTER" else ruri) + b">\r\n"
            + b"Call-ID: " + call_id + b"\r\n"
            + f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\n".encode() + extra
            + b"Authorization: AUTH\r\n" + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def test_message_to_a_service_is_refused(sip: Udp, unharmed: Path) -> None:
    """MESSAGE is no call: services (here the demo's conference room 300) take only INVITEs."""
    msg = request("MESSAGE", b"sip:300@demo.test", b"msg-to-service-" + os.urandom(4).hex().encode(),
                  b"Content-Type: text/plain\r\n", b"hello room")
    assert authorised(sip, msg, "1001", "demo1001") == 405


SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\xff\xfe\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
NOT_UTF8 = {
    # where the bytes are: (method, R-URI, Call-ID suffix, extra headers, body, display name, refused by Python)
    "display name": ("MESSAGE", b"sip:1002@demo.test", b"", b"", b"", b"Agent \xff\xfe", False),
    "call-id": ("REGISTER", b"sip:demo.test", b"\xff\xfe", b"Contact: <sip:1001@127.0.0.1:9>\r\n", b"", b"A", True),
    "r-uri user": ("MESSAGE", b"sip:10\xff02@demo.test", b"", b"", b"", b"A", True),
    "header": ("REGISTER", b"sip:demo.test", b"", b"Contact: <sip:1001@127.0.0.1:9>;x=\xc3\x28\r\n", b"", b"A", True),
    "body": ("INVITE", b"sip:300@demo.test", b"", b"Content-Type: application/sdp\r\n", SDP, b"A", True),
}


@pytest.mark.parametrize("where", sorted(NOT_UTF8))
def test_bytes_that_are_not_utf8_are_answered_and_logged(edge: Stack, where: str, unharmed: Path) -> None:
    method, ruri, suffix, extra, body, display, refused = NOT_UTF8[where]
    call_id = b"utf8-" + os.urandom(4).hex().encode() + suffix
    msg = request(method, ruri, call_id, extra, body, display=display)
    tcp = Tcp(edge.settings.sip_port)  # TCP: the INVITE's answers need no ACK retransmission dance
    status = authorised(tcp, msg.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"), "1001", "demo1001")
    tcp.close()
    assert status is not None and status >= 200, f"unanswered ({status})"
    if refused:
        assert status == 400
        time.sleep(0.3)
        escaped = call_id.decode("utf-8", "backslashreplace")
        assert f"is not UTF-8 call-id={escaped} " in log_since(unharmed, 0)


def test_a_websocket_upgrade_logs_no_error(edge: Stack, unharmed: Path) -> None:
    """Kamailio parses its own 101 reply again (for KEMI); http_reply_parse lets it."""
    offset = unharmed.stat().st_size
    ws = Ws(edge.settings.ws_port)
    options = (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS ws.invalid;branch=z9hG4bKws1\r\n"
               b"From: <sip:1001@demo.test>;tag=ws1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ws-upgrade-1\r\n"
               b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    assert exchange(ws, options) == 200
    ws.close()
    time.sleep(0.3)
    assert "bad message" not in log_since(unharmed, offset)


def torture_id(t: Torture) -> str:
    return t.name


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("torture", VALID, ids=torture_id)
def test_valid_torture_messages_are_answered(edge: Stack, torture: Torture, transport: str, unharmed: Path) -> None:
    status = send_torture(edge, torture, transport)
    if torture.answerable and torture.name not in PARSER_DROPS:
        assert status is not None and status >= 200, f"{torture.name} unanswered ({status})"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("torture", INVALID, ids=torture_id)
def test_invalid_torture_messages_are_refused_or_dropped(
    edge: Stack, torture: Torture, transport: str, unharmed: Path
) -> None:
    """400, or no answer; messages Kamailio's parser takes leniently are still refused (4xx)."""
    status = send_torture(edge, torture, transport)
    assert status in (None, 0) or 400 <= status < 500, f"{torture.name} got {status}"


def send_torture(edge: Stack, torture: Torture, transport: str) -> int | None:
    port = edge.settings.sip_port
    channel = Udp(port) if transport == "udp" else Tcp(port)
    try:
        return exchange(channel, torture.render(f"127.0.0.1:{port}"), 1.0 if torture.answerable else 0.3)
    finally:
        channel.close()


def test_seeded_fuzz_over_udp_tcp_and_ws(edge: Stack, unharmed: Path) -> None:
    print(f"fuzz seed {FUZZ_SEED} (rerun with EDGE_FUZZ_SEED={FUZZ_SEED})")
    port = edge.settings.sip_port
    udp = [Udp(port, source) for source in SOURCES]
    tcp = [Tcp(port, source) for source in SOURCES]
    # Kamailio closes a WebSocket on a message it cannot frame: broken messages go on their own
    # (reopened) connection, so they cannot take well-formed ones down with them.
    ws, ws_broken = Ws(edge.settings.ws_port), ReopeningWs(edge.settings.ws_port)
    answers, expected, sent = Answers(), {}, 0
    start = time.monotonic()

    def collect() -> None:
        for channel in [*udp, *tcp, ws, ws_broken]:
            channel.drain(answers)

    for offset, (transport, count) in enumerate(FUZZ_COUNT.items()):
        for item in fuzz.messages(FUZZ_SEED + offset, count, lambda n, t=transport: via_of(t, n)):
            if transport == "ws":
                channel = ws if item.well_formed else ws_broken
            else:
                channel = {"udp": udp, "tcp": tcp}[transport][item.index % len(SOURCES)]
            channel.send(item.data)
            if item.well_formed:
                expected[item.call_id] = (transport, channel, item)
            sent += 1
            if sent % 50 == 0:  # a bounded rate; answers are collected between bursts
                collect()
                time.sleep(max(0.0, start + sent / FUZZ_RATE - time.monotonic()))
            if sent % 400 == 0:  # bounds the open TCP connections
                for channel in tcp:
                    channel.drain(answers)
                    channel.close(older_than=5)
    wait_for(answers, [*udp, *tcp, ws, ws_broken], set(expected), 10)
    # UDP may lose a datagram under load; a UA retransmits, so each unanswered one is resent once.
    for call_id, (transport, channel, item) in expected.items():
        if transport == "udp" and not answers.final(call_id):
            channel.send(item.data)
    wait_for(answers, [*udp, *tcp, ws, ws_broken], set(expected), 5)
    elapsed = time.monotonic() - start
    for channel in [*udp, *tcp, ws, ws_broken]:
        channel.close()
    unanswered = [(t, item.mutation, item.data[:100]) for c, (t, _, item) in expected.items() if not answers.final(c)]
    print(f"fuzz: {sent} messages in {elapsed:.1f}s, {len(expected)} well formed, {len(unanswered)} unanswered",
          dict(Counter((t, m) for t, m, _ in unanswered)))
    assert sent >= 5000
    assert not unanswered, unanswered[:3]


def via_of(transport: str, n: int) -> bytes:
    if transport == "ws":
        return b"WS fuzz.invalid"
    return f"{transport.upper()} {SOURCES[n % len(SOURCES)]}:9".encode()


class ReopeningWs(Ws):
    """A WebSocket the edge may close: then another one is opened, as a browser would."""

    def send(self, data: bytes) -> None:
        try:
            super().send(data)
        except (OSError, websocket.WebSocketException):
            self.ws.close()
            self.ws = websocket.create_connection(self.url, subprotocols=["sip"], timeout=5)
            super().send(data)
