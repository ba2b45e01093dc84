"""A small SIP phone over UDP with its own RTP socket, for tests that measure who hears whom.

Each phone sends G.711 packets whose payload is filled with its own marker byte, and counts
the packets it receives per marker: a party's audio is recognised wherever it arrives.
Loopback only.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field

from tests.integration.raw_sip import authorization

PAYLOAD = 160  # 20 ms of PCMU
LOUD = 1000  # peak of a packet carrying audio rather than silence (16-bit scale)


def _header(msg: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", msg, re.M | re.I)
    return m.group(1).strip() if m else ""


def _headers(msg: str, name: str) -> list[str]:
    return [v.strip() for v in re.findall(rf"^{name}:\s*(.*)$", msg.split("\r\n\r\n", 1)[0], re.M | re.I)]


def _body(msg: str) -> str:
    return msg.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in msg else ""


def _uri(value: str) -> str:
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";", 1)[0]


def media_address(sdp: str) -> tuple[str, int]:
    conn = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    port = re.search(r"^m=audio (\d+)", sdp, re.M)
    assert conn and port, sdp
    return conn.group(1), int(port.group(1))


@dataclass
class Dialog:
    call_id: str
    local: str  # our From/To header value, with tag
    remote: str
    target: str  # remote Contact URI
    routes: list[str]
    cseq: int
    remote_sdp: str
    status: int = 200
    reason: str = ""


@dataclass
class Phone:
    edge: tuple[str, int]
    user: str
    password: str
    domain: str
    marker: int
    sip: socket.socket = field(init=False)
    rtp: socket.socket = field(init=False)
    heard: dict[int, int] = field(default_factory=dict)
    loud: dict[int, int] = field(default_factory=dict)  # per source port: PCMU packets that are not silence
    peer: tuple[str, int] | None = None  # where our RTP goes

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp.setblocking(False)
        self.seq = 0

    @property
    def port(self) -> int:
        return int(self.sip.getsockname()[1])

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def sdp(self) -> str:
        port = self.rtp.getsockname()[1]
        return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

    # -- SIP ----------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        self.sip.sendto(text.encode(), self.edge)

    def _receive(self, timeout: float) -> str:
        self.sip.settimeout(timeout)
        try:
            return self.sip.recv(65535).decode(errors="replace")
        except TimeoutError:
            return ""

    def _final(self, call_id: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._receive(deadline - time.monotonic())
            if msg.startswith("SIP/2.0 ") and _header(msg, "Call-ID") == call_id and int(msg.split()[1]) >= 200:
                return msg
        raise AssertionError(f"{self.user}: no final answer for {call_id}")

    def _request(self, method: str, ruri: str, to: str, call_id: str, cseq: int, from_value: str,
                 extra: str = "", body: str = "") -> str:
        return (
            f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
            f"From: {from_value}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{self.user}@127.0.0.1:{self.port}>\r\nMax-Forwards: 70\r\n{extra}"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )

    def _authorised(self, method: str, ruri: str, to: str, body: str = "") -> tuple[str, str, str, int]:
        """Sends the request, answers the digest challenge (and, as phones do, a stale one once
        more: the nonce was refused, not the password); returns (final, call-id, from, cseq)."""
        call_id, from_value = uuid.uuid4().hex, f"<sip:{self.user}@{self.domain}>;tag={uuid.uuid4().hex[:8]}"
        self._send(self._request(method, ruri, to, call_id, 1, from_value, body=body))
        answer, cseq = self._final(call_id), 1
        for _ in range(2):
            status = int(answer.split()[1])
            if status not in (401, 407) or (cseq > 1 and "stale=true" not in answer):
                break
            name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            cred = authorization(_header(answer, name), method, ruri, self.user, self.password)
            header = "Authorization" if status == 401 else "Proxy-Authorization"
            cseq += 1
            self._send(self._request(method, ruri, to, call_id, cseq, from_value, f"{header}: {cred}\r\n", body))
            answer = self._final(call_id)
        return answer, call_id, from_value, cseq

    def register(self) -> None:
        answer, *_ = self._authorised("REGISTER", f"sip:{self.domain}", f"<sip:{self.user}@{self.domain}>")
        assert answer.startswith("SIP/2.0 200"), answer

    def call(self, dialled: str) -> Dialog:
        ruri = f"sip:{dialled}@{self.domain}"
        answer, call_id, from_value, cseq = self._authorised("INVITE", ruri, f"<{ruri}>", self.sdp())
        status = int(answer.split()[1])
        reason = answer.split("\r\n", 1)[0].split(" ", 2)[2]
        dialog = Dialog(call_id, from_value, _header(answer, "To"), _uri(_header(answer, "Contact")),
                        list(reversed(_headers(answer, "Record-Route"))), cseq, _body(answer), status, reason)
        if status >= 300:
            self._send(self._request("ACK", ruri, dialog.remote, call_id, cseq, from_value))
            return dialog
        self._in_dialog(dialog, "ACK", cseq)
        self.peer = media_address(dialog.remote_sdp)
        return dialog

    def _in_dialog(self, d: Dialog, method: str, cseq: int) -> None:
        routes = "".join(f"Route: {r}\r\n" for r in d.routes)
        self._send(self._request(method, d.target, d.remote, d.call_id, cseq, d.local, routes))

    def hang_up(self, d: Dialog) -> int:
        d.cseq += 1
        self._in_dialog(d, "BYE", d.cseq)
        return int(self._final(d.call_id).split()[1])

    def _next_request(self, method: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._receive(deadline - time.monotonic())
            if msg.startswith(method + " "):
                return msg
        raise AssertionError(f"{self.user}: no {method}")

    def _ok(self, msg: str, to_tag: str = "", body: str = "") -> None:
        vias = "".join(f"Via: {v}\r\n" for v in _headers(msg, "Via"))
        rrs = "".join(f"Record-Route: {r}\r\n" for r in _headers(msg, "Record-Route"))
        to = _header(msg, "To") + (f";tag={to_tag}" if to_tag else "")
        self._send(
            "SIP/2.0 200 OK\r\n" + vias + rrs
            + f"From: {_header(msg, 'From')}\r\nTo: {to}\r\n"
            f"Call-ID: {_header(msg, 'Call-ID')}\r\nCSeq: {_header(msg, 'CSeq')}\r\n"
            f"Contact: <sip:{self.user}@127.0.0.1:{self.port}>\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )

    def answer(self, timeout: float = 5.0) -> Dialog:
        """Answers the next INVITE with 200 OK and our SDP."""
        msg = self._next_request("INVITE", timeout)
        self.peer = media_address(_body(msg))
        tag = uuid.uuid4().hex[:8]
        self._ok(msg, tag, self.sdp())
        return Dialog(_header(msg, "Call-ID"), f"{_header(msg, 'To')};tag={tag}", _header(msg, "From"),
                      _uri(_header(msg, "Contact")), _headers(msg, "Record-Route"), 1, _body(msg))

    def accept_bye(self, timeout: float = 5.0) -> str:
        bye = self._next_request("BYE", timeout)
        self._ok(bye)
        return bye

    # -- RTP ----------------------------------------------------------------------------
    def tick(self, talking: bool = True) -> None:
        """One 20 ms packet out (if talking and we know where), everything pending in."""
        if talking and self.peer:
            self.seq += 1
            header = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.seq * PAYLOAD, self.marker)
            self.rtp.sendto(header + bytes([self.marker]) * PAYLOAD, self.peer)
        while True:
            try:
                data, (_, port) = self.rtp.recvfrom(2048)
            except BlockingIOError:
                return
            if len(data) > 12:
                self.heard[data[12]] = self.heard.get(data[12], 0) + 1
                if data[1] & 0x7F == 0 and max(abs(ulaw_sample(b)) for b in data[12:]) > LOUD:
                    self.loud[port] = self.loud.get(port, 0) + 1


def ulaw_sample(code: int) -> int:
    """G.711 mu-law byte -> 14-bit linear sample."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return -(magnitude - 0x84) if code & 0x80 else magnitude - 0x84


def talk(phones: list[Phone], seconds: float) -> dict[str, dict[int, int]]:
    """Everyone talks for `seconds`; what each phone heard during that time, per marker."""
    for p in phones:
        p.tick(talking=False)
        p.heard.clear()
        p.loud.clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for p in phones:
            p.tick()
        time.sleep(0.02)
    time.sleep(0.1)
    for p in phones:
        p.tick(talking=False)
    return {p.user: dict(p.heard) for p in phones}
