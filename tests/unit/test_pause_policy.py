"""Pause blocking: exhaustive over the inputs that matter, plus hypothesis over pause names."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.pause import (
    FREE_PAUSE,
    PAUSE_HEADER,
    AgentStatus,
    PauseType,
    pause_by_code,
    pause_refusal,
    paused_as,
)
from kemi_app.provisioning.agent_state import parse_status, pause_name
from kemi_app.provisioning.company import Company, parse_company
from kemi_app.provisioning.errors import ValidationError
from kemi_app.state.codec import decode, encode

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
    assert pause_refusal(parse_status({"status": "available"}, 5.0, []), True, False) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"status": "paused"}, "pause"), ({"status": "paused", "pause": ""}, "pause"),
     ({"status": "available", "pause": "Break"}, "pause"), ({"status": "gone"}, "status"),
     ({"status": "paused", "pause": "Break", "x": 1}, "x"), ([], "body")],
)
def test_status_validation(body: object, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_status(body, 1.0, [])
    assert e.value.field == field


def test_status_records_when_it_changed() -> None:
    assert parse_status({"status": "paused", "pause": "Meeting"}, 42.0, []) == AgentStatus(True, "Meeting", 42.0)


# -- pause types ---------------------------------------------------------------------------
LUNCH = PauseType("1", "Lunch", blocks_calls=False)
BREAK = PauseType("2", "Break")
TYPES = [LUNCH, BREAK]


def test_a_pause_type_that_does_not_block_lets_calls_out_in_a_blocking_session() -> None:
    assert pause_refusal(paused_as(LUNCH, 1.0), True, False) is None
    assert pause_refusal(paused_as(BREAK, 1.0), True, False) is not None


def test_statuses_stored_before_pause_types_still_block() -> None:
    old = decode(AgentStatus, {"paused": "true", "pause": "Break", "since": "3.0"})
    assert old == AgentStatus(True, "Break", 3.0, blocks=True)
    assert pause_refusal(old, True, False) is not None


@pytest.mark.parametrize(("code", "expected"), [("", LUNCH), ("1", LUNCH), ("2", BREAK), ("3", None)])
def test_pause_by_code_with_types(code: str, expected: PauseType | None) -> None:
    assert pause_by_code(TYPES, code) == expected


def test_pause_by_code_without_types_is_a_free_blocking_pause_or_nothing() -> None:
    assert pause_by_code([], "") == PauseType("", FREE_PAUSE, True)
    assert pause_by_code([], "1") is None


def test_a_company_with_pause_types_accepts_only_their_names() -> None:
    assert parse_status({"status": "paused", "pause": "Lunch"}, 7.0, TYPES) == AgentStatus(True, "Lunch", 7.0, False)
    with pytest.raises(ValidationError) as e:
        parse_status({"status": "paused", "pause": "Meeting"}, 7.0, TYPES)
    assert e.value.field == "pause" and "Lunch, Break" in e.value.message


@pytest.mark.parametrize(
    ("types", "field"),
    [("x", "pause_types"), ([{"code": "12", "name": "Lunch"}], "pause_types[0].code"),
     ([{"code": "1"}], "pause_types[0].name"), ([{"code": "1", "name": "Lunch\\r\\n"}], "pause_types[0].name"),
     ([{"code": "1", "name": "A"}, {"code": "1", "name": "B"}], "pause_types[1]"),
     ([{"code": "1", "name": "A"}, {"code": "2", "name": "A"}], "pause_types[1]"),
     ([{"code": str(i % 10), "name": f"P{i}"} for i in range(11)], "pause_types"),
     ([{"code": "1", "name": "A", "blocks_calls": "no"}], "pause_types[0].blocks_calls")],
)
def test_pause_type_validation_names_the_field(types: object, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_company("c", {"pause_types": types})
    assert e.value.field == field


def test_pause_types_survive_storage() -> None:
    company = parse_company("c", {"pause_types": [{"code": "1", "name": "Lunch", "blocks_calls": False}]})
    assert company.pause_types == [LUNCH]
    assert decode(Company, encode(company)) == company
    assert decode(Company, {"id": "old", "name": "Old"}) == Company("old", "Old")  # stored before pause types
