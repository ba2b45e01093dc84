"""Supervision (listen, whisper, barge): who may supervise whom, and the SDP the edge builds
for rtpengine's media subscriptions. Pure: no Kamailio, no Redis.

rtpengine 10.5 forwards each party's RTP to every participant subscribed to it, without
mixing (README, "Supervision"). The edge publishes the supervisor's media and subscribes:
  listen   the supervisor to both parties;
  whisper  also the agent to the supervisor (the agent's port gets a second RTP stream);
  barge    also the other party to the supervisor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kemi_app.policy.feature_codes import Feature
from kemi_app.policy.registration import Binding
from kemi_app.provisioning.agent import Agent

MODES = (Feature.LISTEN, Feature.WHISPER, Feature.BARGE)


@dataclass(frozen=True)
class Refusal:
    status: int  # SIP
    reason: str
    about_supervisor: bool = False  # the supervisor's fault, not the agent's (the API names the field)


def refusal(supervisor: Agent | None, target: Agent | None, target_ext: str, calls: int) -> Refusal | None:
    """Both are agents of the supervisor's org (looked up in it): another org's agent is not found."""
    if supervisor is None or not supervisor.supervisor:
        return Refusal(403, "Not A Supervisor", True)
    if not target_ext or target is None:
        return Refusal(404, "Agent Not Found")
    if target.ext == supervisor.ext:
        return Refusal(403, "Cannot Supervise Yourself", True)
    if calls == 0:
        return Refusal(480, "Agent Not On A Call")
    return None


def callable_binding(bindings: list[Binding]) -> Binding | None:
    """The edge calls a supervisor's plain SIP client (a browser would need ICE and DTLS in the
    edge's own offer); the most recently registered one."""
    plain = [b for b in bindings if not b.on_websocket]
    return max(plain, key=lambda b: b.expires_at) if plain else None


def contact_uri(value: str) -> str:
    """`"Name" <sip:u@h:p;transport=udp>;expires=60` -> `sip:u@h:p;transport=udp`."""
    inner = re.search(r"<([^>]*)>", value)
    return inner.group(1) if inner else value.split(";", 1)[0].strip()


def received_host(received: str) -> str:
    """`sip:203.0.113.7:5060;transport=udp` -> `203.0.113.7`."""
    hostport = received.split(":", 1)[-1].split(";", 1)[0]
    return hostport.rsplit(":", 1)[0].strip("[]")


def hears_supervisor(mode: Feature) -> tuple[bool, bool]:
    """(agent, other party) receive the supervisor's audio in this mode."""
    return mode in (Feature.WHISPER, Feature.BARGE), mode is Feature.BARGE


@dataclass(frozen=True)
class Sides:
    """rtpengine tags (the SIP dialog's tags) of the supervised agent and the other party."""

    agent: str
    other: str


def sides(agent_ext: str, from_uri: str, from_tag: str, to_tag: str) -> Sides:
    """The agent placed the call when the From names it; otherwise it answered."""
    caller = re.match(r"^(?:.*<)?sips?:([^@;>]+)@", from_uri)
    if caller and caller.group(1) == agent_ext:
        return Sides(agent=from_tag, other=to_tag)
    return Sides(agent=to_tag, other=from_tag)


_MEDIA = re.compile(r"^m=audio (\d+) (\S+) ([\d ]+)$", re.M)
_CONN = re.compile(r"^c=IN IP[46] (\S+)$", re.M)
_DIRECTION = re.compile(r"^a=(sendrecv|sendonly|recvonly|inactive)\r?\n", re.M)


@dataclass(frozen=True)
class Offer:
    """The supervisor's one audio stream: where it receives, and what it offered."""

    address: str
    port: int
    profile: str
    payloads: str
    attributes: str  # its a=rtpmap / a=fmtp lines


def parse_offer(sdp: str) -> Offer | None:
    sdp = sdp.replace("\r\n", "\n")
    media, conn = _MEDIA.search(sdp), _CONN.search(sdp)
    if media is None or conn is None or int(media.group(1)) == 0:
        return None
    section = sdp[media.end():].split("\nm=", 1)[0]
    wanted = set(media.group(3).split())
    attrs = [line for line in section.split("\n")
             if re.match(r"^a=(rtpmap|fmtp):(\d+) ", line) and line.split(":", 1)[1].split(" ", 1)[0] in wanted]
    return Offer(conn.group(1), int(media.group(1)), media.group(2), media.group(3), "\n".join(attrs))


STATIC_PAYLOADS = {"0": "PCMU", "8": "PCMA", "9": "G722", "18": "G729"}


def codec_names(offer: Offer) -> list[str]:
    """The codecs the supervisor offered, by name, in its order (no telephone-event)."""
    mapped = dict(STATIC_PAYLOADS)
    for line in offer.attributes.split("\n"):
        found = re.match(r"^a=rtpmap:(\d+) ([^/\s]+)", line)
        if found:
            mapped[found.group(1)] = found.group(2)
    names = [mapped[pt] for pt in offer.payloads.split() if pt in mapped]
    return [n for n in names if n.lower() not in ("telephone-event", "cn")]


def placeholder(address: str) -> Offer:
    """The supervisor's stream before its answer names it: rtpengine only receives from it."""
    return Offer(address, 9, "RTP/AVP", "0 8", "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000")


def _session(address: str) -> str:
    return f"v=0\no=- 1 1 IN IP4 {address}\ns=edge\nc=IN IP4 {address}\nt=0 0\n"


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def media_toward(offer: Offer, direction: str, count: int = 1) -> str:
    """SDP naming the supervisor's address `count` times (one m= line per subscribed source)."""
    stream = f"m=audio {offer.port} {offer.profile} {offer.payloads}\n" + (
        offer.attributes + "\n" if offer.attributes else "") + f"a={direction}\n"
    return _crlf(_session(offer.address) + stream * count)


def count_media(sdp: str) -> int:
    return len(_MEDIA.findall(sdp.replace("\r\n", "\n")))


def answer_to_supervisor(published: str, mode: Feature) -> str:
    """rtpengine's answer to the published stream (where the supervisor sends), with the
    direction the mode gives: listen only receives, whisper and barge talk too."""
    direction = "sendonly" if mode is Feature.LISTEN else "sendrecv"
    text = published.replace("\r\n", "\n")
    text = _DIRECTION.sub("", text) if _DIRECTION.search(text) else text
    return _crlf(text.rstrip("\n") + f"\na={direction}\n")


def mirror_to(offer_sdp: str, address: str, port: int) -> str:
    """The answer to rtpengine's subscription offer that accepts every codec it offered and
    sends each stream to one endpoint (a party's existing RTP port)."""
    text = offer_sdp.replace("\r\n", "\n")
    text = _CONN.sub(f"c=IN IP4 {address}", text)
    text = re.sub(r"^o=.*$", f"o=- 1 1 IN IP4 {address}", text, flags=re.M)
    text = re.sub(r"^m=audio \d+ ", f"m=audio {port} ", text, flags=re.M)
    text = re.sub(r"^a=(rtcp|ice-\S+|candidate|fingerprint|setup|crypto)[:\n].*\n?", "", text, flags=re.M)
    return _crlf(_DIRECTION.sub("a=recvonly\n", text))
