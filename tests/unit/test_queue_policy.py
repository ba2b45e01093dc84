from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.media import black_hole_answer
from kemi_app.policy.queue import (
    MIN_WAIT_LEFT,
    Waiter,
    answered_outcome,
    try_next_agent,
    wait_left,
    when_nobody_left,
)


def test_overflow_goes_to_ivr_or_480() -> None:
    assert when_nobody_left("sip:ivr@10.0.0.1").target_uri == "sip:ivr@10.0.0.1"
    nobody = when_nobody_left("")
    assert (nobody.status, nobody.reason) == (480, "No Agent Available")


def test_next_agent_on_no_answer_busy_decline_but_not_after_caller_cancel() -> None:
    for status in (408, 480, 486, 603, 500, 503):
        assert try_next_agent(status, caller_cancelled=False)
    assert not try_next_agent(487, caller_cancelled=True)
    assert not try_next_agent(404, caller_cancelled=False)


def test_no_waiting_without_max_wait() -> None:
    assert wait_left(0, 0.0, 1000.0) == 0.0


def test_first_wait_gets_the_whole_max_wait_and_later_waits_what_is_left() -> None:
    assert wait_left(60, 0.0, 1000.0) == 60
    assert wait_left(60, 1000.0, 1045.0) == 15
    assert wait_left(60, 1000.0, 1060.0 - MIN_WAIT_LEFT / 2) == 0.0  # too little left to wait again


@given(st.integers(0, 3600), st.floats(0, 1e6), st.floats(0, 7200))
def test_wait_left_never_exceeds_max_wait_nor_goes_negative(max_wait: int, since: float, waited: float) -> None:
    left = wait_left(max_wait, since, since + waited)
    assert 0 <= left <= max_wait
    assert left == 0 or left >= MIN_WAIT_LEFT


def test_service_level_counts_answers_within_the_threshold() -> None:
    assert answered_outcome(20.0, 20) == "answered-in-sl"
    assert answered_outcome(20.5, 20) == "answered-late"


def test_a_waiter_encodes_to_the_same_text_and_back() -> None:
    w = Waiter("sip:127.0.0.1:5060", "acme", "800", 123, 456, "att-1", 25000, 1e9)
    assert Waiter.decode(w.encode()) == w
    assert w.encode() == Waiter(**{**w.__dict__}).encode()


def test_black_hole_answer_accepts_the_first_codec_and_only_sends() -> None:
    offer = ("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
             "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    answer = black_hole_answer(offer)
    assert "m=audio 9 RTP/AVP 8\r\n" in answer
    assert "a=rtpmap:8 PCMA/8000" in answer and "telephone-event" not in answer
    assert answer.endswith("a=sendonly\r\n")
