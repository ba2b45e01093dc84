from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.attendance import Attendance, Event, in_message_order, is_attendance_id, new_attendance_id


def test_ids_are_unique_sortable_and_recognised() -> None:
    a, b = new_attendance_id(1000.0), new_attendance_id(2000.0)
    assert a < b and a != new_attendance_id(1000.0)
    assert is_attendance_id(a)
    for bad in ("", "att-1-2", "att-zzzzzzzzzzzz-000000000000", "../etc/passwd", a + "x"):
        assert not is_attendance_id(bad)


@given(
    org=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    origin=st.sampled_from(["queue", "direct", "outbound", "transfer"]),
    queue=st.from_regex(r"([0-9]{3})?", fullmatch=True),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    linked=st.sampled_from(["", new_attendance_id()]),
    legs=st.lists(st.from_regex(r"[a-z0-9]{4,12}", fullmatch=True), unique=True, max_size=4),
)
def test_record_round_trip(org: str, origin: str, queue: str, flags: tuple[bool, bool, bool], linked: str,
                           legs: list[str]) -> None:
    att = Attendance(new_attendance_id(), org, origin, "inbound", 12.5, queue, entered_through_queue=flags[0],
                     interorg_transferred=flags[1], transferred=flags[2], customer_call="c1",
                     transferred_from=linked, transferred_to=linked[::-1], legs=sorted(legs))
    record = att.to_record()
    assert all(isinstance(v, str) for v in record.values())
    assert Attendance.from_record(record, legs) == att


def test_event_fields_drop_empty_values_and_round_trip() -> None:
    event = Event("att-1", "transfer", 3.25, "demo", actor="1001", target="1002", result="ok")
    fields = event.to_fields()
    assert "reason" not in fields and fields["at"] == "3.25"
    assert Event.from_fields(fields) == event


@given(
    event=st.sampled_from(["start", "ring", "answer", "end", "refused"]),
    texts=st.lists(st.text(max_size=12), min_size=5, max_size=5),
    leg=st.sampled_from(["", "c1@host", "c2@host", "not/a leg"]),
)
def test_compact_event_round_trip(event: str, texts: list[str], leg: str) -> None:
    """What the store keeps: the tail the store completes with the leg's index, the Call-ID
    when it is no leg, or null."""
    legs = ["c1@host", "c2@host"]
    original = Event("att-1", event, 1764480000.123, "cc", *texts[:4], call_id=leg, detail=texts[4])
    ref = str(legs.index(leg)) if leg in legs else json.dumps(leg) if leg else "null"
    stored = "[" + ref + "," + original.compact_tail()
    assert Event.from_compact("att-1", stored, legs) == original


def test_compact_event_is_short() -> None:
    """Small enough for Redis to keep the attendance's hash in its listpack encoding (64 bytes)."""
    answer = Event("att-1", "answer", 1764480000.1234567, "demo", target="1002", call_id="x")
    assert len("[0," + answer.compact_tail()) <= 64
    assert answer.compact_tail().endswith('"demo","","1002"]')


def test_an_answer_written_before_its_own_ring_is_read_after_it() -> None:
    def ev(event: str, target: str, call_id: str = "c1") -> Event:
        return Event("att", event, 1.0, "org", target=target, call_id=call_id)

    raced = [ev("offer", "3001"), ev("answer", "3001"), ev("ring", "3001"), ev("end", "3001")]
    assert [e.event for e in in_message_order(raced)] == ["offer", "ring", "answer", "end"]
    # Another agent's ring, or another leg's, is a later step of the story: left where it is.
    other = [ev("answer", "3001"), ev("ring", "3002")]
    assert in_message_order(other) == other
    leg = [ev("answer", "3001"), ev("ring", "3001", call_id="c2")]
    assert in_message_order(leg) == leg
