"""RFC 4733 DTMF over real RTP for the media tests: a test's own UDP socket sends a digit as
telephone-event packets (with G.711 around it, as a phone does) and reads what arrives."""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass

DIGITS = "0123456789*#"
EVENT_DURATION = 160 * 8  # 160 ms at 8 kHz, in steps of one 20 ms packet


@dataclass(frozen=True)
class Event:
    payload_type: int
    digit: str
    end: bool


def media_address(sdp: str) -> tuple[str, int]:
    """Where an SDP wants its audio: the c= address and the m=audio port."""
    host = re.search(r"^c=IN IP4 (\S+)", sdp, re.MULTILINE)
    port = re.search(r"^m=audio (\d+) ", sdp, re.MULTILINE)
    assert host and port, sdp
    return host.group(1), int(port.group(1))


def event_payload_type(sdp: str, rate: int = 8000) -> int:
    found = re.search(rf"^a=rtpmap:(\d+) telephone-event/{rate}", sdp, re.MULTILINE | re.IGNORECASE)
    assert found, f"no telephone-event/{rate} in\n{sdp}"
    return int(found.group(1))


# A carrier's sipp answers telephone-event with the payload type it was offered (RFC 3264
# section 6.1): OFFERED_EVENT_PT in its $audio, filled in by this action ($offer_check).
OFFERED_EVENT_PT = "[$event_pt]"
TAKE_OFFERED_EVENT_PT = (
    '<action><ereg regexp="a=rtpmap:([0-9]+) telephone-event/8000" search_in="body" check_it="true" '
    'assign_to="event_line,event_pt"/><log message="offered [$event_line]"/></action>'
)


def sdp_audio(port: int, codec: str, codec_pt: int, event_pt: int | str = 101) -> str:
    """An m=audio line (for a sipp scenario's $audio) that sends the media to `port`."""
    return (f"m=audio {port} RTP/AVP {codec_pt} {event_pt}\na=rtpmap:{codec_pt} {codec}/8000"
            f"\na=rtpmap:{event_pt} telephone-event/8000\na=fmtp:{event_pt} 0-16")


def _packet(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc) + payload


def send_digit(sock: socket.socket, to: tuple[str, int], digit: str, codec_pt: int, event_pt: int) -> None:
    """20 ms packets: audio, the digit's event (marker first, three end packets), audio again."""
    silence = b"\xff" * 160 if codec_pt == 0 else b"\xd5" * 160
    seq, ts, ssrc = 1, 160, 0x5EED
    packets = [_packet(codec_pt, seq + i, ts * (i + 1), ssrc, silence) for i in range(10)]
    seq, start = seq + 10, ts * 11
    steps = range(160, EVENT_DURATION + 1, 160)
    for i, duration in enumerate(steps):
        end = duration == EVENT_DURATION
        body = struct.pack("!BBH", DIGITS.index(digit), (0x80 if end else 0) | 10, duration)
        packets += [_packet(event_pt, seq + i, start, ssrc, body, marker=i == 0)] * (3 if end else 1)
    seq += len(steps)
    packets += [_packet(codec_pt, seq + i, start + EVENT_DURATION + ts * i, ssrc, silence) for i in range(10)]
    for packet in packets:
        sock.sendto(packet, to)
        time.sleep(0.02)


def events_received(sock: socket.socket, seconds: float) -> list[Event]:
    """The telephone-event-shaped packets (4-byte payload, known event code) read meanwhile,
    whatever their payload type; the caller checks that against the SDP."""
    out: list[Event] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) == 16 and data[12] < len(DIGITS):
            out.append(Event(data[1] & 0x7F, DIGITS[data[12]], bool(data[13] & 0x80)))
    return out


def info_step(cseq: int, digit: str) -> str:
    """A step for tests/sipp/uac_media.xml: the agent's phone sends `digit` as SIP INFO
    (application/dtmf-relay, the form most phones use) and expects 200."""
    return f"""  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Agent [field0]" <sip:[field0]@[field1]>;tag=[call_number]c[pid]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
      User-Agent: DeskPhone/9.1
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160

    ]]>
  </send>
  <recv response="200"/>
"""
