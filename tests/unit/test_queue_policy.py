from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.queue import QueueMember, offer_order, offerable, try_next_agent, when_nobody_left

FREE = QueueMember("1001", registered=True, state="available", dnd=False, active_calls=0, idle_since=100.0)


def test_only_registered_available_free_agents_are_offered() -> None:
    assert offerable(FREE)
    for blocked in (
        replace(FREE, registered=False),
        replace(FREE, state="paused"),
        replace(FREE, state="in-call"),
        replace(FREE, state="offline"),
        replace(FREE, dnd=True),
        replace(FREE, active_calls=1),
        replace(FREE, reserved=True),
    ):
        assert not offerable(blocked), blocked


def test_longest_idle_first_and_tried_agents_skipped() -> None:
    members = [replace(FREE, ext="1003", idle_since=50.0), FREE, replace(FREE, ext="1002", idle_since=10.0),
               replace(FREE, ext="1004", idle_since=1.0, state="paused")]
    assert offer_order(members) == ["1002", "1003", "1001"]
    assert offer_order(members, frozenset({"1002"})) == ["1003", "1001"]


member = st.builds(
    QueueMember,
    ext=st.from_regex(r"[1-9][0-9]{3}", fullmatch=True),
    registered=st.booleans(),
    state=st.sampled_from(["available", "paused", "in-call", "offline"]),
    dnd=st.booleans(),
    active_calls=st.integers(0, 3),
    idle_since=st.floats(0, 1e9),
    reserved=st.booleans(),
)


@given(st.lists(member, max_size=12, unique_by=lambda m: m.ext),
       st.frozensets(st.from_regex(r"[1-9][0-9]{3}", fullmatch=True), max_size=4))
def test_offer_order_properties(members: list[QueueMember], tried: frozenset[str]) -> None:
    order = offer_order(members, tried)
    by_ext = {m.ext: m for m in members}
    assert set(order) == {m.ext for m in members if offerable(m) and m.ext not in tried}
    idles = [by_ext[ext].idle_since for ext in order]
    assert idles == sorted(idles)


def test_overflow_goes_to_ivr_or_480() -> None:
    assert when_nobody_left("sip:ivr@10.0.0.1").target_uri == "sip:ivr@10.0.0.1"
    nobody = when_nobody_left("")
    assert (nobody.status, nobody.reason) == (480, "No Agent Available")


def test_next_agent_on_no_answer_busy_decline_but_not_after_caller_cancel() -> None:
    for status in (408, 480, 486, 603, 500, 503):
        assert try_next_agent(status, caller_cancelled=False)
    assert not try_next_agent(487, caller_cancelled=True)
    assert not try_next_agent(404, caller_cancelled=False)
