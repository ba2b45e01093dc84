"""Media checks at rtpengine (its own counters, over the ng protocol) and sipp media steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from kemi_app.rtpengine_ng import command

T = TypeVar("T")

# sipp's packaged G.711 a-law sample: 236 RTP packets over about 7 s.
PCAP = "/usr/share/sip-tester/g711a.pcap"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def call_ids(ng: str) -> list[str]:
    return [_text(c) for c in command(ng, {"command": "list"}).get("calls", [])]  # type: ignore[union-attr]


def sessions(ng: str) -> int:
    stats = command(ng, {"command": "statistics"})["statistics"]
    return int(stats["currentstatistics"]["sessionsown"])  # type: ignore[index]


def packets_from(ng: str) -> dict[int, int]:
    """RTP packets rtpengine received, per sending endpoint port, over all live calls."""
    out: dict[int, int] = {}
    for call_id in call_ids(ng):
        answer = command(ng, {"command": "query", "call-id": call_id})
        for tag in (answer.get("tags") or {}).values():  # type: ignore[union-attr]
            for media in tag.get("medias", []):
                for stream in media.get("streams", []):
                    port = stream.get("endpoint", {}).get("port")
                    if port and b"RTP" in stream.get("flags", []):
                        out[port] = out.get(port, 0) + stream["stats"]["packets"]
    return out


def packets_by_tag(ng: str) -> list[int]:
    """RTP packets rtpengine received from each call participant (monologue), all live calls."""
    out = []
    for call_id in call_ids(ng):
        answer = command(ng, {"command": "query", "call-id": call_id})
        for tag in (answer.get("tags") or {}).values():  # type: ignore[union-attr]
            out.append(sum(
                stream["stats"]["packets"] for media in tag.get("medias", []) for stream in media.get("streams", [])
                if b"RTP" in stream.get("flags", [])
            ))
    return out


def transcoded(ng: str) -> int:
    stats = command(ng, {"command": "statistics"})["statistics"]
    return int(stats["currentstatistics"]["transcodedmedia"])  # type: ignore[index]


def wait_for(check: Callable[[], T], timeout: float = 10.0, step: float = 0.2) -> T:
    """Polls `check` until it gives something truthy, and returns that (or its last falsy answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(step)
    return check()


@contextmanager
def no_media_left(ng: str, after: float = 10.0) -> Iterator[None]:
    """rtpengine holds no session before the block, and none again within `after` seconds."""
    assert wait_for(lambda: sessions(ng) == 0, 10), "a previous test left rtpengine sessions"
    yield
    assert wait_for(lambda: sessions(ng) == 0, after), f"rtpengine sessions leaked: {sessions(ng)}"


def sample(ng: str, seconds: float, step: float = 0.25) -> list[tuple[float, dict[int, int]]]:
    """Counters sampled over a while: (seconds since start, packets per endpoint port)."""
    start = time.monotonic()
    out = []
    while time.monotonic() - start < seconds:
        out.append((time.monotonic() - start, packets_from(ng)))
        time.sleep(step)
    return out


# -- steps for tests/sipp/uac_media.xml ($steps, after the ACK) ---------------------------
def play(pcap: str = PCAP) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{ms}"/>\n'


AGENT_FROM = 'From: "Agent [field0]" <sip:[field0]@[field1]>;tag=[call_number]c[pid]'


def reinvite(cseq: int, direction: str, method: str = "INVITE", from_line: str = AGENT_FROM) -> str:
    """An in-dialog offer from the caller, re-INVITE (answered, then ACKed) or UPDATE: hold
    (sendonly/inactive) or resume (sendrecv). `from_line`: the caller's From (an agent's by
    default; `[last_From:]` for a scenario whose From sipp takes from the answers)."""
    ack = "" if method == "UPDATE" else f"""  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      {from_line}
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
    return f"""  <send retrans="500">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      {from_line}
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=uac 1 {cseq} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a={direction}

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
{ack}"""
