from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace
from typing import cast

import pytest
import redis

from kemi_app.policy.attendance import END, REFUSED, START, Attendance, Event
from kemi_app.state import keys
from kemi_app.state.attendance import Attendances, HistorySink, Writes, recent_lists


def test_a_write_goes_to_each_named_agents_recent_list_once() -> None:
    events = [
        Event("att-1", "start", 1.0, "demo", actor="1001", target="1002"),
        Event("att-1", "ring", 2.0, "demo", target="1002"),
        Event("att-1", "answer", 3.0, "demo", actor="1002", target="1002"),
        Event("att-1", "transfer", 4.0, "demo", actor="customer", target="+5511987654321"),
        Event("att-1", "offer", 5.0, "demo", actor="", target="500"),  # a service, not an agent
        Event("att-1", "conference", 6.0, "demo", actor="10003", target="*44"),
    ]
    assert recent_lists(events) == [keys.recent("demo", "1001"), keys.recent("demo", "1002"),
                                    keys.recent("demo", "10003")]


def test_a_calls_ring_answer_and_end_name_agents_already_listed() -> None:
    """Their agents joined the attendance by an earlier event (start, offer, transfer,
    conference): no list to push to, none to read."""
    later = [Event("att-1", name, 1.0, "demo", actor="1001", target="1002") for name in ("ring", "answer", "end")]
    assert recent_lists(later) == []
    assert recent_lists([*later, Event("att-1", "offer", 2.0, "demo", target="1003")]) == [keys.recent("demo", "1003")]


def test_no_agent_named_means_no_recent_list() -> None:
    assert recent_lists([Event("att-1", "end", 1.0, "demo", actor="customer", result="ended")]) == []
    assert recent_lists([]) == []


def test_each_org_has_its_own_lists() -> None:
    events = [Event("att-1", "transfer", 1.0, "a", actor="1001"), Event("att-1", "start", 2.0, "b", target="1001")]
    assert recent_lists(events) == [keys.recent("a", "1001"), keys.recent("b", "1001")]


def test_stream_fields_and_record_are_what_asdict_gives() -> None:
    event = Event("att-1", "end", 12.25, "demo", actor="1001", result="ended", call_id="c1")
    assert event.to_fields() == {k: str(v) for k, v in asdict(event).items() if v not in ("", None)}
    assert list(event.to_fields()) == ["attendance", "event", "at", "org", "actor", "result", "call_id"]
    att = Attendance("att-1", "demo", "queue", "inbound", 12.5, queue="800", entered_through_queue=True,
                     legs=["c1", "c2"])
    expected = {k: ("1" if v is True else "0" if v is False else str(v)) for k, v in asdict(att).items()
                if k != "legs" and v != ""}
    assert att.to_record() == expected
    assert list(att.to_record()) == list(expected)


@pytest.mark.parametrize(("call_id", "actor", "target", "rule", "reason"), [
    ("c1@host", "1001", "1002", "pause", "Calls blocked during pause: Break"),
    ("c2", "1001", "1001", "pause", 'Calls blocked during pause: "Lunch" \u00e9'),  # calls itself
    ("c3", "1001", "+5511987654321", "country", "Country Not Allowed"),
    ("c4", "1001", "", "country", ""),
    ("", "", "800", "", ""),
])
def test_a_refused_call_is_written_as_its_three_events_would_be(call_id: str, actor: str, target: str, rule: str,
                                                                 reason: str) -> None:
    now = 1796069367.667598
    att = Attendance("att-1", "demo", "outbound", "outbound", now)
    events = (Event(att.id, START, now, "demo", actor=actor, target=target, call_id=call_id),
              Event(att.id, REFUSED, now, "demo", actor=actor, target=target, result=rule, reason=reason,
                    call_id=call_id),
              Event(att.id, END, now, "demo", actor=actor, result="refused", call_id=call_id))
    history = Attendances(redis.Redis(), 30)  # never connects: the sink takes the writes
    kept: list[Writes] = []
    history.sink = cast(HistorySink, SimpleNamespace(put=lambda writes: kept.append(writes) or True))
    history.create_attendance(att, call_id, *events)
    history.create_refused(att, call_id, actor, target, rule, reason)
    general, refused = kept
    assert refused.keys == general.keys
    ours, theirs = json.loads(refused.json), json.loads(general.json)
    assert abs(int(ours.pop("minid")[:-2]) - int(theirs.pop("minid")[:-2])) < 1000  # the age cut, made apart
    assert ours == theirs


@pytest.mark.parametrize("event", [
    Event("att-1", "start", 1796069367.667598, "demo", actor="1001", target="1002", call_id="c1"),
    Event("att-1", "refused", 12.0, "demo", actor="1001", target="", result="pause",
          reason='Calls blocked during pause: "Caf\u00e9" \\ \u2603 \U0001f600\n'),
    Event("att-1", "end", 0.0005, "", detail="did +5511"),
    Event("att-1", "transfer", 1e16, "demo", actor="customer"),
])
def test_the_compact_event_is_the_json_array_it_always_was(event: Event) -> None:
    values = [event.event, round(event.at, 3), event.org, event.actor, event.target, event.result, event.reason,
              event.detail]
    while values[-1] == "":
        values.pop()
    assert event.compact_tail() == json.dumps(values, separators=(",", ":"))[1:]
    assert Event.from_compact(event.attendance, '["c1",' + event.compact_tail(), ["c1"]).reason == event.reason
