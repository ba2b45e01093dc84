"""Media policy: which rtpengine flags each SDP gets, decided from the kinds of the two legs.

A leg is either a browser (WebRTC: DTLS-SRTP, ICE, rtcp-mux, Opus) or plain SIP/RTP (RTP/AVP,
G.711). Flags always describe the SDP as it must look for the leg that RECEIVES it: an offer
is shaped for the callee, an answer for the caller. Pure functions over plain data only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache


class LegKind(Enum):
    WEBRTC = "webrtc"
    RTP = "rtp"


class HoldChange(Enum):
    NONE = "none"
    HOLD = "hold"
    RESUME = "resume"


# Codecs rtpengine can offer (and transcode to) toward a gateway; others in its settings
# (G.729: no codec here) are ignored, and a gateway left with none takes what the caller sends.
GATEWAY_CODECS = ("PCMU", "PCMA", "G722", "opus", "telephone-event")  # telephone-event: always offered
# What a plain SIP/RTP leg without a codec setting gets when browsers are kept on Opus.
PLAIN_RTP_CODECS = ("PCMU", "PCMA")

# RFC 4733 DTMF survives every codec filter: masking all codecs would strip telephone-event
# too. It is offered to the callee at the clock rate of the codecs it gets (8000 next to
# G.711, 48000 next to Opus); rtpengine converts the events when it transcodes. Not
# `codec-accept`: it would promise the caller events that rtpengine drops when the callee
# answers them under a payload type it was not offered; without it such a caller falls
# back to SIP INFO or in-band tones.
DTMF = "telephone-event"
_KEEP_DTMF = (f"codec-transcode-{DTMF}",)

# rtpengine keeps one session per branch (via-branch=extra, the branch index), so forked
# and serial attempts are independent and a failed branch is deleted alone.
_COMMON = ("trust-address", "replace-origin", "replace-session-connection")
_TO_WEBRTC_OFFER = ("ICE=force", "UDP/TLS/RTP/SAVPF", "DTLS=passive", "SDES-off", "rtcp-mux-offer", "generate-mid")
_TO_WEBRTC_ANSWER = ("ICE=force", "rtcp-mux-require")
_TO_RTP_OFFER = ("ICE=remove", "RTP/AVP", "DTLS=off", "SDES-off", "rtcp-mux-demux")
_TO_RTP_ANSWER = ("ICE=remove", "rtcp-mux-demux")


@dataclass(frozen=True)
class MediaSettings:
    anchor_rtp: bool  # relay plain RTP <-> plain RTP calls through rtpengine too
    force_opus: bool  # browser legs always get Opus; the RTP side is transcoded to G.711


def leg_kind(transport: str, sdp: str = "") -> LegKind:
    """WebSocket transports carry browsers; an SDP with DTLS fingerprints is WebRTC too."""
    if transport.lower() in ("ws", "wss"):
        return LegKind.WEBRTC
    if "UDP/TLS/RTP/SAVP" in sdp or "a=fingerprint:" in sdp:
        return LegKind.WEBRTC
    return LegKind.RTP


def engaged(caller: LegKind, callee: LegKind, settings: MediaSettings) -> bool:
    """Browser legs always need rtpengine (DTLS/ICE termination); RTP<->RTP only if anchored."""
    if caller is LegKind.RTP and callee is LegKind.RTP:
        return settings.anchor_rtp
    return True


def gateway_codecs(raw: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """A gateway's codec setting ("PCMA,PCMU" or a list) normalised, unknown names dropped."""
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    by_lower = {c.lower(): c for c in GATEWAY_CODECS}
    out: list[str] = []
    for item in items:
        codec = by_lower.get(item.strip().lower())
        if codec and codec not in out:
            out.append(codec)
    return tuple(out)


@lru_cache(maxsize=256)  # few distinct arguments (leg kinds, the settings, gateways' codecs); asked per branch
def offer_flags(
    caller: LegKind, callee: LegKind, settings: MediaSettings, callee_codecs: tuple[str, ...] = ()
) -> str:
    """Flags for an offer going to `callee`. `callee_codecs`: the callee's allowed codecs
    (a gateway's setting) in preference order; empty means the callee takes whatever it likes."""
    flags = list(_COMMON)
    flags += _TO_WEBRTC_OFFER if callee is LegKind.WEBRTC else _TO_RTP_OFFER
    flags += _codec_flags(caller, callee, settings, gateway_codecs(callee_codecs))
    return " ".join(flags)


@lru_cache(maxsize=8)
def answer_flags(caller: LegKind) -> str:
    """Flags for an answer going back to `caller` (the offerer). Codecs follow the offer."""
    return " ".join(_COMMON + (_TO_WEBRTC_ANSWER if caller is LegKind.WEBRTC else _TO_RTP_ANSWER))


def _codec_flags(
    caller: LegKind, callee: LegKind, settings: MediaSettings, callee_codecs: tuple[str, ...]
) -> list[str]:
    forced = settings.force_opus and LegKind.WEBRTC in (caller, callee) and caller is not callee
    if not callee_codecs and forced and callee is LegKind.RTP:
        callee_codecs = PLAIN_RTP_CODECS
    if callee_codecs:
        # Only the callee's codecs go out; masked ones stay usable on the caller's side, so
        # rtpengine transcodes only when the caller offered none of them (or Opus is forced).
        flags = ["codec-mask-all"] + [f"codec-transcode-{c}" for c in callee_codecs if c != DTMF]
        if forced and "opus" not in callee_codecs and callee is LegKind.RTP:
            flags.append("always-transcode")
        return flags + list(_KEEP_DTMF)
    if forced:
        # The browser gets Opus only; its answer is transcoded back to the caller's codec.
        return ["codec-mask-all", "codec-transcode-opus", *_KEEP_DTMF]
    return []


_DIRECTION = re.compile(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", re.MULTILINE)
_AUDIO_PORT = re.compile(r"^m=audio (\d+) ", re.MULTILINE)
_NULL_CONNECTION = re.compile(r"^c=IN IP4 0\.0\.0\.0\s*$", re.MULTILINE)


def sdp_direction(sdp: str) -> str:
    """The audio stream's direction (media-level attribute wins over the session-level one)."""
    audio_at = sdp.find("m=audio")
    if audio_at < 0:
        return "sendrecv"
    media_level = _DIRECTION.findall(sdp[audio_at:])
    session_level = _DIRECTION.findall(sdp[:audio_at])
    if media_level:
        return media_level[0]
    if session_level:
        return session_level[0]
    port = _AUDIO_PORT.search(sdp)
    if (port and port.group(1) == "0") or _NULL_CONNECTION.search(sdp):
        return "inactive"  # RFC 2543-style hold
    return "sendrecv"


def hold_change(offer_sdp: str, on_hold: bool) -> HoldChange:
    """What a re-INVITE/UPDATE offer from one party means for the OTHER party's music.

    The offerer holding (sendonly/inactive) starts music toward the other party; sending or
    receiving again (sendrecv/recvonly) stops it. Nothing changes when the state is the same.
    """
    holding = sdp_direction(offer_sdp) in ("sendonly", "inactive")
    if holding and not on_hold:
        return HoldChange.HOLD
    if not holding and on_hold:
        return HoldChange.RESUME
    return HoldChange.NONE


_PAYLOADS = re.compile(r"^m=audio \d+ \S+ ([\d ]+)", re.MULTILINE)


def black_hole_answer(offer_sdp: str) -> str:
    """An SDP answer from a party that only sends and sits nowhere (the discard port of
    loopback): rtpengine then answers the caller itself, for music played to it while it
    waits. It accepts the offer's first codec."""
    found = _PAYLOADS.search(offer_sdp)
    if not found:
        raise ValueError("no audio stream in the offer")
    pt = found.group(1).split()[0]
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", f"m=audio 9 RTP/AVP {pt}"]
    lines += [ln.rstrip("\r") for ln in offer_sdp.splitlines() if ln.startswith((f"a=rtpmap:{pt} ", f"a=fmtp:{pt} "))]
    lines.append("a=sendonly")
    return "\r\n".join(lines) + "\r\n"
