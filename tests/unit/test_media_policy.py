"""Media policy: rtpengine flags per leg kind, codecs, anchoring and hold detection."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.media import (
    GATEWAY_CODECS,
    HoldChange,
    LegKind,
    MediaSettings,
    answer_flags,
    engaged,
    gateway_codecs,
    hold_change,
    leg_kind,
    offer_flags,
    sdp_direction,
)

W, R = LegKind.WEBRTC, LegKind.RTP
SETTINGS = [MediaSettings(anchor_rtp=a, force_opus=f) for a, f in itertools.product((True, False), repeat=2)]
PLAIN = MediaSettings(anchor_rtp=True, force_opus=False)
OPUS = MediaSettings(anchor_rtp=True, force_opus=True)


def sdp(*lines: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", *lines]) + "\r\n"


# -- leg kinds and anchoring ----------------------------------------------------------
@pytest.mark.parametrize(
    ("transport", "body", "kind"),
    [
        ("ws", "", W), ("WSS", "", W), ("udp", "", R), ("tcp", "", R), ("tls", "", R),
        ("udp", sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111"), W),
        ("udp", sdp("m=audio 4000 RTP/AVP 0", "a=fingerprint:sha-256 AB"), W),
        ("udp", sdp("m=audio 4000 RTP/AVP 0"), R),
    ],
)
def test_leg_kind(transport: str, body: str, kind: LegKind) -> None:
    assert leg_kind(transport, body) is kind


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize(("caller", "callee"), itertools.product(LegKind, repeat=2))
def test_browser_legs_are_always_anchored_rtp_only_when_configured(
    settings: MediaSettings, caller: LegKind, callee: LegKind
) -> None:
    expected = settings.anchor_rtp if (caller, callee) == (R, R) else True
    assert engaged(caller, callee, settings) is expected


# -- flags per leg kind ---------------------------------------------------------------
@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize(("caller", "callee"), itertools.product(LegKind, repeat=2))
def test_offer_is_shaped_for_the_callee(settings: MediaSettings, caller: LegKind, callee: LegKind) -> None:
    flags = offer_flags(caller, callee, settings).split()
    assert {"trust-address", "replace-origin", "replace-session-connection", "SDES-off"} <= set(flags)
    if callee is W:
        assert {"ICE=force", "UDP/TLS/RTP/SAVPF", "DTLS=passive", "rtcp-mux-offer", "generate-mid"} <= set(flags)
        assert "RTP/AVP" not in flags and "ICE=remove" not in flags
    else:
        assert {"ICE=remove", "RTP/AVP", "DTLS=off", "rtcp-mux-demux"} <= set(flags)
        assert "UDP/TLS/RTP/SAVPF" not in flags and "ICE=force" not in flags
    assert not any(f.startswith("via-branch") for f in flags)  # the adapter adds the branch key


@pytest.mark.parametrize("caller", list(LegKind))
def test_answer_is_shaped_for_the_caller(caller: LegKind) -> None:
    flags = answer_flags(caller).split()
    if caller is W:
        assert {"ICE=force", "rtcp-mux-require"} <= set(flags)
    else:
        assert {"ICE=remove", "rtcp-mux-demux"} <= set(flags)
    assert not any(f.startswith("codec") for f in flags)


# -- codecs ----------------------------------------------------------------------------
def codecs(flags: str) -> list[str]:
    """The codec flags but those that keep DTMF (tested on their own below)."""
    return [f for f in flags.split() if not f.endswith("-telephone-event")]


@pytest.mark.parametrize(("caller", "callee", "settings", "gateway"), [
    (W, R, PLAIN, ("PCMA", "PCMU")), (R, R, PLAIN, ("PCMU",)), (W, R, OPUS, ("PCMU",)), (R, W, OPUS, ()),
    (W, R, OPUS, ()), (R, R, PLAIN, ("PCMU", "telephone-event")),
])
def test_every_codec_filter_keeps_rfc4733_dtmf(caller: LegKind, callee: LegKind, settings: MediaSettings,
                                               gateway: tuple[str, ...]) -> None:
    flags = offer_flags(caller, callee, settings, gateway).split()
    assert "codec-mask-all" in flags
    assert flags.count("codec-transcode-telephone-event") == 1


@pytest.mark.parametrize(("caller", "callee"), itertools.product(LegKind, repeat=2))
def test_no_codec_changes_without_gateway_codecs_or_forced_opus(caller: LegKind, callee: LegKind) -> None:
    assert not [f for f in offer_flags(caller, callee, PLAIN).split() if "codec" in f or "transcode" in f]


def test_browser_to_gateway_offers_only_the_gateway_codecs() -> None:
    flags = codecs(offer_flags(W, R, PLAIN, ("PCMA", "PCMU")))
    assert flags[-3:] == ["codec-mask-all", "codec-transcode-PCMA", "codec-transcode-PCMU"]
    assert "always-transcode" not in flags  # the browser also offers G.711: pass it through


def test_forced_opus_browser_to_gateway_always_transcodes() -> None:
    flags = codecs(offer_flags(W, R, OPUS, ("PCMU",)))
    assert flags[-3:] == ["codec-mask-all", "codec-transcode-PCMU", "always-transcode"]


def test_unknown_gateway_codecs_are_not_offered() -> None:
    assert codecs(offer_flags(W, R, PLAIN, ("G729", "PCMA")))[-2:] == ["codec-mask-all", "codec-transcode-PCMA"]
    assert offer_flags(W, R, PLAIN, ("G729",)) == offer_flags(W, R, PLAIN)


def test_forced_opus_to_an_opus_gateway_needs_no_transcoding() -> None:
    assert "always-transcode" not in offer_flags(W, R, OPUS, ("opus", "PCMU")).split()


def test_forced_opus_plain_caller_to_browser_gets_opus_only() -> None:
    flags = codecs(offer_flags(R, W, OPUS))
    assert flags[-2:] == ["codec-mask-all", "codec-transcode-opus"]


def test_forced_opus_browser_to_plain_rtp_offers_g711_transcoded_from_opus() -> None:
    flags = codecs(offer_flags(W, R, OPUS))
    assert flags[-4:] == ["codec-mask-all", "codec-transcode-PCMU", "codec-transcode-PCMA", "always-transcode"]


@pytest.mark.parametrize(("caller", "callee"), [(W, W), (R, R)])
def test_forced_opus_changes_nothing_without_a_browser_rtp_pair(caller: LegKind, callee: LegKind) -> None:
    assert offer_flags(caller, callee, OPUS) == offer_flags(caller, callee, PLAIN)
    assert codecs(offer_flags(caller, callee, OPUS, ("PCMA",)))[-2:] == ["codec-mask-all", "codec-transcode-PCMA"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ()), ("", ()), ("PCMA", ("PCMA",)), ("pcmu, PCMA", ("PCMU", "PCMA")), ("PCMU,PCMU", ("PCMU",)),
        ("G729,PCMA", ("PCMA",)), (["OPUS", "g722"], ("opus", "G722")), (["PCMU", "telephone-event"],
        ("PCMU", "telephone-event")),
    ],
)
def test_gateway_codecs(raw, expected: tuple[str, ...]) -> None:
    assert gateway_codecs(raw) == expected


@given(st.lists(st.text(max_size=8), max_size=6))
def test_gateway_codecs_are_known_and_unique(raw: list[str]) -> None:
    out = gateway_codecs(raw)
    assert set(out) <= set(GATEWAY_CODECS)
    assert len(out) == len(set(out))
    assert gateway_codecs(",".join(raw)) == gateway_codecs([p for r in raw for p in r.split(",")])


# -- hold --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "direction"),
    [
        (sdp("m=audio 4000 RTP/AVP 0"), "sendrecv"),
        (sdp("m=audio 4000 RTP/AVP 0", "a=sendonly"), "sendonly"),
        (sdp("m=audio 4000 RTP/AVP 0", "a=inactive"), "inactive"),
        (sdp("m=audio 4000 RTP/AVP 0", "a=recvonly"), "recvonly"),
        (sdp("a=sendonly", "m=audio 4000 RTP/AVP 0"), "sendonly"),
        (sdp("a=sendonly", "m=audio 4000 RTP/AVP 0", "a=sendrecv"), "sendrecv"),
        (sdp("m=audio 0 RTP/AVP 0"), "inactive"),
        ("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n", "inactive"),
        ("", "sendrecv"),
    ],
)
def test_sdp_direction(body: str, direction: str) -> None:
    assert sdp_direction(body) == direction


@pytest.mark.parametrize(
    ("direction", "on_hold", "change"),
    [
        ("sendonly", False, HoldChange.HOLD), ("inactive", False, HoldChange.HOLD),
        ("sendonly", True, HoldChange.NONE), ("inactive", True, HoldChange.NONE),
        ("sendrecv", True, HoldChange.RESUME), ("recvonly", True, HoldChange.RESUME),
        ("sendrecv", False, HoldChange.NONE), ("recvonly", False, HoldChange.NONE),
    ],
)
def test_hold_change(direction: str, on_hold: bool, change: HoldChange) -> None:
    assert hold_change(sdp("m=audio 4000 RTP/AVP 0", f"a={direction}"), on_hold) is change
