"""One-shot SIP requests over UDP from the test itself, with the time each answer took:
OPTIONS keepalives and carrier INVITEs whose final answer (and headers) a test checks."""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass, field

SDP = ("v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@dataclass
class Answer:
    status: int  # 0: no final answer within the timeout
    reason: str = ""
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def _parse(data: bytes) -> tuple[int, str, dict[str, str]]:
    head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
    _, code, reason = [*head[0].split(" ", 2), ""][:3]
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(code), reason, headers


def request(target: tuple[str, int], method: str, ruri: str, local_port: int = 0, body: str = "",
            timeout: float = 3.0) -> Answer:
    """Sends one request and waits for its final answer (provisional ones are skipped). A
    non-2xx final answer to an INVITE is ACKed so the edge stops retransmitting it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", local_port))
        port = s.getsockname()[1]
        branch, tag, call_id = (f"z9hG4bK{secrets.token_hex(6)}", secrets.token_hex(4),
                                f"probe-{secrets.token_hex(8)}")
        common = (f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
                  f"From: <sip:probe@127.0.0.1:{port}>;tag={tag}\r\n")
        msg = (f"{method} {ruri} SIP/2.0\r\n{common}To: <{ruri}>\r\nCall-ID: {call_id}\r\n"
               f"CSeq: 1 {method}\r\nContact: <sip:probe@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
               + ("Content-Type: application/sdp\r\n" if body else "")
               + f"Content-Length: {len(body)}\r\n\r\n{body}")
        start = time.monotonic()
        s.sendto(msg.encode(), target)
        deadline = start + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(65535)
            except TimeoutError:
                return Answer(0, "timeout", time.monotonic() - start)
            status, reason, headers = _parse(data)
            if status >= 200:
                break
        answer = Answer(status, reason, time.monotonic() - start, headers)
        if method == "INVITE" and status >= 300:
            s.sendto((f"ACK {ruri} SIP/2.0\r\n{common}To: {headers.get('to', '')}\r\nCall-ID: {call_id}\r\n"
                      "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), target)
        return answer


def options(target: tuple[str, int], timeout: float = 3.0) -> Answer:
    return request(target, "OPTIONS", f"sip:{target[0]}:{target[1]}", timeout=timeout)


def carrier_invite(target: tuple[str, int], gateway_port: int, did: str, timeout: float = 3.0) -> Answer:
    """An INVITE to a DID from a configured carrier gateway's address (no digest needed)."""
    return request(target, "INVITE", f"sip:{did}@{target[0]}:{target[1]}", gateway_port, SDP, timeout)
