from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.attendance import Attendance, Event, is_attendance_id, new_attendance_id


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
    flags=st.tuples(st.booleans(), st.booleans()),
    legs=st.lists(st.from_regex(r"[a-z0-9]{4,12}", fullmatch=True), unique=True, max_size=4),
)
def test_record_round_trip(org: str, origin: str, queue: str, flags: tuple[bool, bool], legs: list[str]) -> None:
    att = Attendance(new_attendance_id(), org, origin, "inbound", 12.5, queue, flags[0], flags[1], "c1", sorted(legs))
    record = att.to_record()
    assert all(isinstance(v, str) for v in record.values())
    assert Attendance.from_record(record, legs) == att


def test_event_fields_drop_empty_values_and_round_trip() -> None:
    event = Event("att-1", "transfer", 3.25, "demo", actor="1001", target="1002", result="ok")
    fields = event.to_fields()
    assert "reason" not in fields and fields["at"] == "3.25"
    assert Event.from_fields(fields) == event
