"""Media through rtpengine for RTP <-> RTP calls between sipp agents: anchoring, early media,
hold with music, forking, CANCEL and failures, and no session left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from tests.integration.helpers import PASSWORDS, answer_one, call, finish, register
from tests.integration.rtp import no_media_left, packets_from, pause, play, reinvite, sample, wait_for
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

MEDIA_PORT_OFFSET = 10000  # tests/sipp.py gives every sipp -mp port+10000


@pytest.fixture(autouse=True)
def no_leaks(edge: Stack) -> Iterator[None]:
    with no_media_left(edge.settings.rtpengine_ng):
        yield


def phones(sipp: Sipp, state, count: int) -> list[int]:
    """Agent 1002 registered from `count` fresh ports (so its calls fork to all of them)."""
    drop_bindings(state, "demo", "1002")
    ports = [sipp.next_port() for _ in range(count)]
    for port in ports:
        result = register(sipp, "1002", port)
        assert result.ok, result.output + result.errors
    return ports


def echo_phone(sipp: Sipp, port: int, ring_ms: int = 200):
    values = {"ring_ms": ring_ms, "offer_check": ""}
    return sipp.start("uas_echo.xml", [], port=port, values=values, extra=["-rtp_echo"])


def media_call(sipp: Sipp, steps: str, bye_cseq: int = 3):
    port = sipp.next_port()
    proc = sipp.start("uac_media.xml", [["1001", "demo.test", PASSWORDS["1001"], "1002"]], port=port,
                      values={"steps": steps, "bye_cseq": bye_cseq}, extra=["-au", "1001", "-ap", PASSWORDS["1001"]])
    return proc, port + MEDIA_PORT_OFFSET


def test_rtp_call_is_anchored_and_carries_media_both_ways(edge: Stack, sipp: Sipp, state) -> None:
    (callee,) = phones(sipp, state, 1)
    phone = echo_phone(sipp, callee)
    caller, caller_media = media_call(sipp, play() + pause(3000))
    callee_media = callee + MEDIA_PORT_OFFSET
    ng = edge.settings.rtpengine_ng
    both_ways = wait_for(
        lambda: min(packets_from(ng).get(caller_media, 0), packets_from(ng).get(callee_media, 0)) >= 25, 6
    )
    seen = packets_from(ng)
    code, out = finish(caller)
    assert code == 0, out
    code, out = finish(phone)
    assert code == 0, out
    assert both_ways, f"rtpengine did not relay both ways: {seen}"


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_hold_plays_music_to_the_other_party_and_resume_stops_it(edge: Stack, sipp: Sipp, state, method) -> None:
    (callee,) = phones(sipp, state, 1)
    phone = echo_phone(sipp, callee)
    # The caller itself sends no RTP: whatever the callee echoes back can only be music.
    steps = pause(1500) + reinvite(3, "sendonly", method) + pause(3000) + reinvite(4, "sendrecv", method) + pause(2500)
    caller, _ = media_call(sipp, steps, bye_cseq=5)
    callee_media = callee + MEDIA_PORT_OFFSET
    samples = sample(edge.settings.rtpengine_ng, 6.5)
    code, out = finish(caller)
    assert code == 0, out
    code, out = finish(phone)
    assert code == 0, out
    echoed = [(round(t, 1), counts.get(callee_media, 0)) for t, counts in samples]
    before_hold = [n for t, n in echoed if t < 1.2]
    during_hold = [n for t, n in echoed if 2.0 < t < 4.3]
    after_resume = [n for t, n in echoed if t > 5.3]
    assert before_hold and max(before_hold) == 0, echoed
    assert during_hold and during_hold[-1] - during_hold[0] >= 40, echoed  # ~50 packets/s of music
    assert after_resume and after_resume[-1] - after_resume[0] <= 3, echoed


def test_forked_call_keeps_the_answered_branch_and_drops_the_other(edge: Stack, sipp: Sipp, state) -> None:
    answering, ringing = phones(sipp, state, 2)
    phone = echo_phone(sipp, answering, ring_ms=500)
    other = answer_one(sipp, ringing, "uas_ring.xml")
    caller, caller_media = media_call(sipp, play() + pause(2500))
    ng = edge.settings.rtpengine_ng
    echoed = wait_for(lambda: packets_from(ng).get(answering + MEDIA_PORT_OFFSET, 0) >= 20, 6)
    for proc in (caller, phone, other):
        code, out = finish(proc)
        assert code == 0, out
    assert echoed


def test_every_branch_failing_after_early_media_leaves_nothing(sipp: Sipp, state) -> None:
    ports = phones(sipp, state, 2)
    busy = [answer_one(sipp, port, "uas_busy.xml") for port in ports]
    result = call(sipp, "1001", "1002", scenario="uac_refused.xml", expect=486)
    assert result.ok, result.output + result.errors
    for proc in busy:
        code, out = finish(proc)
        assert code == 0, out


def test_cancelled_call_leaves_nothing(sipp: Sipp, state) -> None:
    (callee,) = phones(sipp, state, 1)
    phone = answer_one(sipp, callee, "uas_ring.xml")
    result = call(sipp, "1001", "1002", scenario="uac_cancel.xml")
    code, out = finish(phone)
    assert result.ok, result.output + result.errors
    assert code == 0, out
