"""What call history costs in Redis: a size budget per typical call (agent to agent, rung,
answered, ended), measured on the edge's real Redis, and the global stream's caps."""

from __future__ import annotations

import collections
import time

from kemi_app.policy.attendance import Attendance, Event, new_attendance_id
from kemi_app.state import EdgeState, keys
from kemi_app.state.agentstate import CALL_RECORD_TTL
from kemi_app.state.attendance import EVENTS_PER_ATTENDANCE
from tests.integration.helpers import DEMO, PASSWORDS, register
from tests.integration.rtp import wait_for
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

CALLS = 20
# Kept for the whole retention period: one key per call, well under 1 KB (it was 3 keys and
# about 5.4 KB). Right after the calls, keys that expire within CALL_RECORD_TTL add to it.
RETAINED_KEYS_PER_CALL = 1
RETAINED_BYTES_PER_CALL = 1024
# The attendance, its Call-ID's (13 h), the dialog's end marker (60 s), the INVITE's nonce
# claim (310 s, against replays).
KEYS_PER_CALL = 4
PER_AGENT_KEYS = 10  # recent calls, idle since, registration: a few per agent, not per call
BYTES_PER_CALL = 2048


def all_keys(state: EdgeState) -> set[str]:
    return set(state.r.scan_iter(count=1000))


def stream_bytes(state: EdgeState) -> int:
    return state.r.memory_usage(keys.HISTORY, samples=0) or 0


def ended(state: EdgeState, att_ids: list[str]) -> bool:
    return all(any(e.event == "end" for e in state.history.attendance_history(a)) for a in att_ids)


def test_a_typical_call_stays_within_its_history_budget(state: EdgeState, sipp: Sipp) -> None:
    drop_bindings(state, "demo", "1002")
    port = sipp.next_port()
    assert register(sipp, "1002", port).ok
    before_recent = set(state.history.recent_attendances("demo", "1002", 50))
    before_keys = all_keys(state)
    before_stream = stream_bytes(state)

    phone = sipp.start("uas.xml", [], port=port, calls=CALLS)
    time.sleep(0.3)
    result = sipp.run("uac_call.xml", [["1001", DEMO, PASSWORDS["1001"], "1002"]], calls=CALLS,
                      values={"expect": 200, "hold_ms": 100}, extra=["-au", "1001", "-ap", PASSWORDS["1001"]])
    phone.communicate(timeout=30)
    assert result.ok, result.output + result.errors
    def new_attendances() -> list[str]:
        return [a for a in state.history.recent_attendances("demo", "1002", 50) if a not in before_recent]

    assert wait_for(lambda: len(new_attendances()) == CALLS)
    made = new_attendances()
    assert wait_for(lambda: ended(state, made))

    new_keys = all_keys(state) - before_keys
    # Per agent (bounded lists), not per call: the first calls of a session create them.
    agents = {keys.recent("demo", "1001"), keys.recent("demo", "1002")}
    retained = [k for k in new_keys - agents if state.r.ttl(k) > CALL_RECORD_TTL]
    retained_bytes = sum(state.r.memory_usage(k, samples=0) or 0 for k in retained)
    # Every new key, and what the calls added to the (capped) global stream.
    grown = sum(state.r.memory_usage(k, samples=0) or 0 for k in new_keys - {keys.HISTORY})
    grown += stream_bytes(state) - before_stream
    assert sorted(retained) == sorted(keys.attendance(a) for a in made)
    assert len(retained) / CALLS <= RETAINED_KEYS_PER_CALL
    assert retained_bytes / CALLS <= RETAINED_BYTES_PER_CALL, retained_bytes / CALLS
    kinds = collections.Counter(k.split(":")[1] for k in new_keys)
    assert len(new_keys) <= KEYS_PER_CALL * CALLS + PER_AGENT_KEYS, kinds
    assert grown / CALLS <= BYTES_PER_CALL, grown / CALLS
    # Compact, and still the whole story.
    assert [e.event for e in state.history.attendance_history(made[0])] == ["start", "ring", "answer", "end"]


def test_the_global_stream_is_capped_by_length_and_age(state: EdgeState) -> None:
    capped = EdgeState(state.r)
    capped.history.history_maxlen = 300
    att = Attendance(new_attendance_id(), "demo", "direct", "internal", time.time())
    capped.history.create_attendance(att, "budget-1", Event(att.id, "start", time.time(), "demo", call_id="budget-1"))
    for i in range(2000):
        capped.history.record_events(Event(att.id, "ring", time.time(), "demo", target=f"t{i}"))
    # Approximate trimming drops whole stream nodes (100 entries each by default).
    assert 300 <= state.r.xlen(keys.HISTORY) <= 300 + 100
    # The attendance keeps its latest events.
    assert len(capped.history.attendance_history(att.id)) == EVENTS_PER_ATTENDANCE
    # Age: entries older than the retention go when the next attendance starts.
    time.sleep(1.1)
    capped.history.retention = 1
    other = Attendance(new_attendance_id(), "demo", "direct", "internal", time.time())
    first = Event(other.id, "start", time.time(), "demo", call_id="budget-2")
    capped.history.create_attendance(other, "budget-2", first)
    assert state.r.xlen(keys.HISTORY) <= 100
