from __future__ import annotations

import pytest

from kemi_app.policy.feature_codes import Feature
from kemi_app.policy.supervision import (
    Offer,
    Refusal,
    Sides,
    answer_to_supervisor,
    codec_names,
    count_media,
    hears_supervisor,
    media_toward,
    mirror_to,
    parse_offer,
    refusal,
    sides,
)
from kemi_app.provisioning.agent import Agent

BOSS = Agent(ext="1090", ha1="0" * 32, supervisor=True)
AGENT = Agent(ext="1002", ha1="0" * 32)


@pytest.mark.parametrize(("supervisor", "target", "ext", "calls", "expected"), [
    (BOSS, AGENT, "1002", 1, None),
    (AGENT, BOSS, "1090", 1, Refusal(403, "Not A Supervisor", True)),
    (None, AGENT, "1002", 1, Refusal(403, "Not A Supervisor", True)),
    (BOSS, None, "1003", 1, Refusal(404, "Agent Not Found")),
    (BOSS, None, "", 0, Refusal(404, "Agent Not Found")),
    (BOSS, BOSS, "1090", 1, Refusal(403, "Cannot Supervise Yourself", True)),
    (BOSS, AGENT, "1002", 0, Refusal(480, "Agent Not On A Call")),
])
def test_refusal(supervisor: Agent | None, target: Agent | None, ext: str, calls: int,
                 expected: Refusal | None) -> None:
    assert refusal(supervisor, target, ext, calls) == expected


def test_who_hears_the_supervisor() -> None:
    assert hears_supervisor(Feature.LISTEN) == (False, False)
    assert hears_supervisor(Feature.WHISPER) == (True, False)
    assert hears_supervisor(Feature.BARGE) == (True, True)


@pytest.mark.parametrize(("from_uri", "expected"), [
    ("sip:1002@demo.test", Sides(agent="ft", other="tt")),
    ('"Agent" <sip:1002@demo.test>', Sides(agent="ft", other="tt")),
    ("sip:+5511999990000@carrier", Sides(agent="tt", other="ft")),
    ("sip:10021@demo.test", Sides(agent="tt", other="ft")),
])
def test_sides(from_uri: str, expected: Sides) -> None:
    assert sides("1002", from_uri, "ft", "tt") == expected


PHONE = ("v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:96 opus/48000/2\r\na=sendrecv\r\n")


def test_the_supervisor_offer_is_its_first_audio_stream() -> None:
    offer = parse_offer(PHONE)
    assert offer == Offer("10.0.0.9", 4000, "RTP/AVP", "0 8 101",
                          "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\n"
                          "a=fmtp:101 0-15")
    assert parse_offer(PHONE.replace("m=audio 4000", "m=audio 0")) is None
    assert parse_offer("v=0\r\n") is None


def test_media_toward_the_supervisor_repeats_its_stream() -> None:
    offer = parse_offer(PHONE)
    assert offer is not None
    sdp = media_toward(offer, "recvonly", 2)
    assert count_media(sdp) == 2
    assert sdp.count("a=recvonly\r\n") == 2 and "c=IN IP4 10.0.0.9\r\n" in sdp
    assert "\n" not in sdp.replace("\r\n", "")


ENGINE = ("v=0\r\no=- 77 77 IN IP4 127.0.0.1\r\ns=rtpengine\r\nt=0 0\r\n"
          "m=audio 43026 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n"
          "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\na=rtcp:43027\r\n"
          "m=audio 43042 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=rtcp:43043\r\n")


def test_mirror_to_points_every_stream_at_one_endpoint_and_accepts_every_codec() -> None:
    sdp = mirror_to(ENGINE, "127.0.0.7", 5000)
    assert sdp.count("m=audio 5000 RTP/AVP 0 101\r\n") == 1 and sdp.count("m=audio 5000 RTP/AVP 0\r\n") == 1
    assert sdp.count("c=IN IP4 127.0.0.7") == 2 and "a=rtcp" not in sdp
    assert sdp.count("a=recvonly") == 2 and "sendonly" not in sdp


@pytest.mark.parametrize(("mode", "direction"), [
    (Feature.LISTEN, "a=sendonly"), (Feature.WHISPER, "a=sendrecv"), (Feature.BARGE, "a=sendrecv"),
])
def test_answer_to_supervisor_direction(mode: Feature, direction: str) -> None:
    published = ENGINE.split("m=audio 43042")[0].replace("a=sendonly", "a=recvonly")
    sdp = answer_to_supervisor(published, mode)
    assert sdp.count("a=s") + sdp.count("a=recvonly") == 1 and direction + "\r\n" in sdp
    assert sdp.endswith("\r\n") and "\n" not in sdp.replace("\r\n", "")


def test_codec_names_follow_the_offer_without_events() -> None:
    offer = parse_offer(PHONE)
    assert offer is not None and codec_names(offer) == ["PCMU", "PCMA"]
    bare = Offer("10.0.0.9", 4000, "RTP/AVP", "8 0 18", "")
    assert codec_names(bare) == ["PCMA", "PCMU", "G729"]
