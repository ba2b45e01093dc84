"""Timed one-shot requests over UDP (raw_sip.RawSip underneath): OPTIONS keepalives and
carrier INVITEs whose final answer a test checks, with the time each answer took."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from tests.integration.raw_sip import RawSip, Response

SDP = ("v=0\no=probe 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
       "m=audio 49170 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n")


@dataclass
class Answer:
    response: Response | None  # None: no final answer within the timeout
    seconds: float

    @property
    def status(self) -> int:
        return self.response.status if self.response else 0

    @property
    def reason(self) -> str:
        return self.response.raw.split("\r\n", 1)[0].split(" ", 2)[-1] if self.response else ""

    def header(self, name: str) -> str:
        return self.response.header(name) if self.response else ""


def _timed(client: RawSip, text: str, timeout: float) -> Answer:
    start = time.monotonic()
    client.send(text)
    response = client.final(timeout)
    return Answer(response, time.monotonic() - start)


def options(edge: tuple[str, int], timeout: float = 3.0) -> Answer:
    client = RawSip(edge)
    try:
        return _timed(client, client.request("OPTIONS", f"sip:{edge[0]}:{edge[1]}", "probe", edge[0]), timeout)
    finally:
        client.close()


def carrier_invite(edge: tuple[str, int], gateway_port: int, did: str, timeout: float = 3.0) -> Answer:
    """An INVITE to a DID from a configured carrier gateway's address (no digest needed); a
    refusal is ACKed (same branch) so the edge stops retransmitting it."""
    client = RawSip(edge, local_port=gateway_port)
    try:
        invite = client.request("INVITE", f"sip:{did}@{edge[0]}:{edge[1]}", "customer", edge[0], sdp=SDP)
        answer = _timed(client, invite, timeout)
        if answer.status >= 300:
            head = invite.split("\n\n", 1)[0].replace("INVITE ", "ACK ", 1).replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
            head = re.sub(r"^To: .*$", "To: " + answer.header("To"), head, flags=re.M)
            head = re.sub(r"^(Content-Type|Content-Length): .*\n?", "", head, flags=re.M)
            client.send(head.rstrip("\n") + "\nContent-Length: 0\n\n")
        return answer
    finally:
        client.close()
