"""Pause blocking: exhaustive over the inputs that matter, plus hypothesis over pause names."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.pause import PAUSE_HEADER, AgentStatus, pause_refusal
from kemi_app.provisioning.agent_state import parse_status, pause_name
from kemi_app.provisioning.errors import ValidationError

PAUSE_NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}\Z")


@pytest.mark.parametrize(("paused", "blocks", "emergency"), list(itertools.product([False, True], repeat=3)))
def test_blocked_exactly_when_paused_blocking_and_not_emergency(paused: bool, blocks: bool, emergency: bool) -> None:
    status = AgentStatus(paused=paused, pause="Break" if paused else "", since=1.0)
    refusal = pause_refusal(status, blocks, emergency)
    assert (refusal is not None) == (paused and blocks and not emergency)
    if refusal is not None:
        assert refusal.status == 403
        assert refusal.reason == "Calls blocked during pause: Break"
        assert refusal.headers == (f"{PAUSE_HEADER}: Break",)


@given(PAUSE_NAMES, st.booleans(), st.booleans())
def test_refusal_always_names_the_pause(name: str, blocks: bool, emergency: bool) -> None:
    refusal = pause_refusal(AgentStatus(paused=True, pause=pause_name(name)), blocks, emergency)
    if refusal is None:
        assert not blocks or emergency
    else:
        assert refusal.reason.endswith(": " + name) and refusal.headers == (f"{PAUSE_HEADER}: {name}",)
        assert "\r" not in refusal.reason and "\n" not in refusal.reason


@given(st.text(max_size=40))
def test_pause_names_are_safe_sip_text_or_refused(name: str) -> None:
    try:
        checked = pause_name(name)
    except ValidationError as e:
        assert e.field == "pause"
    else:
        assert checked == name and 1 <= len(name) <= 32 and name.isprintable() and name.isascii()


def test_available_never_blocks() -> None:
    assert pause_refusal(parse_status({"status": "available"}, 5.0), True, False) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"status": "paused"}, "pause"), ({"status": "paused", "pause": ""}, "pause"),
     ({"status": "available", "pause": "Break"}, "pause"), ({"status": "gone"}, "status"),
     ({"status": "paused", "pause": "Break", "x": 1}, "x"), ([], "body")],
)
def test_status_validation(body: object, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_status(body, 1.0)
    assert e.value.field == field


def test_status_records_when_it_changed() -> None:
    assert parse_status({"status": "paused", "pause": "Meeting"}, 42.0) == AgentStatus(True, "Meeting", 42.0)
