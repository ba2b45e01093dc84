"""A dialog event's agents' side against a real Redis: an answer or an end is one script call
that writes both agents' call records (same keys, values and TTLs as ever), keeps their
queues' free sets exact, takes what the end of a call stops, and still lands after Redis lost
its scripts (a restart or failover)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.registration import Binding
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import EdgeState, keys
from kemi_app.state.agentstate import CALL_ENDED_MEMORY, CALL_RECORD_TTL, CallEnd, CallsChange
from kemi_app.state.attendance import WRITE, Attendances
from kemi_app.state.dialogevents import DialogEvents
from tests.integration.test_history_writes import Captured
from tests.state_kit import put_agent

ORG = "dlgev"
QUEUE = "802"
NODE = "sip:127.0.0.9:5060"
DIALOG = "c1|ft|tt"


@pytest.fixture
def state(quiet_state: EdgeState) -> EdgeState:
    """A Redis of its own: the commands counted here are this module's alone."""
    return quiet_state


@pytest.fixture
def agents(state: EdgeState) -> list[str]:
    """Two registered agents, both members of one queue and free."""
    for key in state.r.scan_iter(f"edge:*:{ORG}:*"):
        state.r.delete(key)
    state.r.delete(keys.node_calls(NODE), keys.call_ended(DIALOG))
    state.directory.save_org(Org(ORG, "dlgev.test", "Dialog events"))
    exts = ["100", "200"]
    state.r.hset(keys.NODES, NODE, repr(time.time() + 300))
    for ext in exts:
        put_agent(state, ORG, ext, {"ha1": "x"})
        binding = Binding(f"sip:{ext}@127.0.0.1:7000", "sip:127.0.0.1:7000", "udp:127.0.0.1:5060", NODE,
                          time.time() + 300, f"reg-{ext}", 1)
        state.r.hset(keys.bindings(ORG, ext), binding.contact, json.dumps(asdict(binding)))
    state.directory.save_service(ORG, Service(QUEUE, "queue", "Q", members=exts, max_wait=60))
    return exts


def _free(state: EdgeState) -> list[str]:
    return sorted(state.r.zrange(keys.queue_free(ORG, QUEUE), 0, -1))


def _change(started: bool, now: float, exts: list[str]) -> CallsChange:
    return CallsChange(ORG, exts, "c1", now, started=started, node=NODE, dialog=DIALOG)


def _commands(state: EdgeState) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in state.r.info("commandstats").items()}


def test_an_answer_and_an_end_write_both_agents_calls(state: EdgeState, agents: list[str]) -> None:
    assert _free(state) == agents
    state.r.set(keys.offer(ORG, "100"), "att-q", px=25000)  # offered by a queue call, answered
    now = time.time()
    state.r.script_load(WRITE.text)  # as after any worker's first dialog event
    before = _commands(state)
    assert state.dialog_events.record(_change(True, now, agents)) == CallEnd()
    after = _commands(state)
    # One command from the worker (no MULTI, no script text); the rest runs inside the script.
    assert after["evalsha"] - before.get("evalsha", 0) == 1
    assert after.get("eval", 0) == before.get("eval", 0)
    for ext in agents:
        assert state.r.hgetall(keys.calls(ORG, ext)) == {"c1": json.dumps(now)}
        assert state.r.ttl(keys.calls(ORG, ext)) == -1  # the node's set lists it: its reconcile drops it
    assert state.r.smembers(keys.node_calls(NODE)) == {f"{ORG}|100|c1", f"{ORG}|200|c1"}
    assert not state.r.exists(keys.offer(ORG, "100"))
    assert _free(state) == []

    state.r.sadd(keys.supervised_call("c1"), "sup-2", "sup-1")
    state.r.set(keys.recording_call("c1"), "att-1")
    end = state.dialog_events.record(_change(False, now + 1, agents), ended_call="c1")
    assert end == CallEnd(["sup-1", "sup-2"], "att-1")
    for ext in agents:
        assert not state.r.exists(keys.calls(ORG, ext))
        assert state.r.get(keys.idle(ORG, ext)) == json.dumps(now + 1)
        assert CALL_RECORD_TTL - 5 < state.r.ttl(keys.idle(ORG, ext)) <= CALL_RECORD_TTL
    assert not state.r.exists(keys.node_calls(NODE), keys.supervised_call("c1"), keys.recording_call("c1"))
    assert state.r.get(keys.call_ended(DIALOG)) == "1"
    assert CALL_ENDED_MEMORY - 5 < state.r.ttl(keys.call_ended(DIALOG)) <= CALL_ENDED_MEMORY
    assert _free(state) == agents


def test_a_start_handled_after_its_end_records_no_call(state: EdgeState, agents: list[str]) -> None:
    """Two workers may handle the answer and the end of one dialog out of order."""
    state.r.set(keys.offer(ORG, "100"), "att-q", px=25000)
    now = time.time()
    state.dialog_events.record(_change(False, now, agents), ended_call="c1")
    state.dialog_events.record(_change(True, now, agents))
    assert not any(state.r.exists(keys.calls(ORG, ext)) for ext in agents)
    assert not state.r.exists(keys.node_calls(NODE), keys.offer(ORG, "100"))
    assert _free(state) == agents


def test_an_end_without_agents_still_stops_supervision_and_recording(state: EdgeState) -> None:
    state.r.sadd(keys.supervised_call("c9"), "sup-1")
    state.r.set(keys.recording_call("c9"), "att-9")
    assert state.dialog_events.record(None, ended_call="c9") == CallEnd(["sup-1"], "att-9")
    assert not state.r.exists(keys.supervised_call("c9"), keys.recording_call("c9"))


def test_scripts_redis_lost_are_loaded_again(state: EdgeState, agents: list[str]) -> None:
    """A restarted or failed-over Redis has no scripts: each write still lands, once."""
    now = time.time()
    state.r.script_flush()
    state.dialog_events.record(_change(True, now, agents))
    assert all(state.r.hlen(keys.calls(ORG, ext)) == 1 for ext in agents)
    assert _free(state) == []
    state.r.script_flush()
    state.dialog_events.record(_change(False, now, agents), ended_call="c1")
    assert _free(state) == agents
    state.r.script_flush()  # a status change: a transaction holding the script call
    state.agents.set_status(ORG, "100", AgentStatus(True, "Break", time.time()))
    assert state.agents.get_status(ORG, "100").paused
    assert _free(state) == ["200"]


def test_a_call_between_agents_in_no_queue_costs_few_commands(state: EdgeState, agents: list[str]) -> None:
    """Redis counts every command a script runs: an answer and an end of a call between two
    agents that belong to no queue (so hold no offer lock and need no idle time), neither
    supervised nor recorded, run 5 and 6 (plus the EVALSHA), and still write the same records."""
    state.directory.delete_service(ORG, QUEUE)
    now = time.time()
    state.r.script_load(WRITE.text)
    before = sum(_commands(state).values())
    state.dialog_events.record(_change(True, now, agents))
    assert sum(_commands(state).values()) - before - 1 == 6  # the INFO call itself counts once
    assert all(state.r.hlen(keys.calls(ORG, ext)) == 1 for ext in agents)
    before = sum(_commands(state).values())
    assert state.dialog_events.record(_change(False, now + 1, agents), ended_call="c1") == CallEnd()
    assert sum(_commands(state).values()) - before - 1 == 7
    assert not any(state.r.exists(keys.calls(ORG, ext), keys.idle(ORG, ext)) for ext in agents)
    assert not state.r.exists(keys.node_calls(NODE))


def test_queue_members_taken_busy_and_freed_by_a_call_cost_few_commands(state: EdgeState, agents: list[str]) -> None:
    """An answer takes both members out of their queue's free set: per member, its queues,
    its calls in progress (checked first: now busy) and the free set, nothing more."""
    state.r.script_load(WRITE.text)
    now = time.time()
    before = sum(_commands(state).values())
    state.dialog_events.record(_change(True, now, agents))
    assert sum(_commands(state).values()) - before - 1 == 7 + 3 * len(agents)
    assert _free(state) == []
    # The end frees them: their state is read once, the idle time just written is not read back.
    before = sum(_commands(state).values())
    state.dialog_events.record(_change(False, now + 1, agents), ended_call="c1")
    assert sum(_commands(state).values()) - before - 1 == 9 + 9 * len(agents)
    assert state.r.zrange(keys.queue_free(ORG, QUEUE), 0, -1, withscores=True) == [(e, now + 1) for e in agents]


def test_a_lone_agents_queues_are_read_once(state: EdgeState, agents: list[str]) -> None:
    """A call with one agent (outbound, from a carrier): its queues are read once and given to
    the queue update; in no queue, nothing more is read or deleted."""
    state.r.script_load(WRITE.text)
    before = sum(_commands(state).values())
    state.dialog_events.record(_change(True, time.time(), ["100"]))
    # the script, the queues, the ended marker, the record, the node's set, the offer lock,
    # the calls in progress, the free set
    assert sum(_commands(state).values()) - before - 1 == 8
    assert _free(state) == ["200"]
    state.directory.delete_service(ORG, QUEUE)
    before = sum(_commands(state).values())
    state.dialog_events.record(CallsChange(ORG, ["200"], "c2", time.time(), started=True, node=NODE, dialog="c2|a|b"))
    assert sum(_commands(state).values()) - before - 1 == 5
    assert state.r.hlen(keys.calls(ORG, "200")) == 1


def test_a_record_no_node_lists_expires_by_itself(state: EdgeState, agents: list[str]) -> None:
    """Written outside an edge node (no node's reconcile will drop it): it keeps a TTL."""
    state.dialog_events.record(CallsChange(ORG, ["100"], "c3", time.time(), started=True, dialog="c3|a|b"))
    assert CALL_RECORD_TTL - 5 < state.r.ttl(keys.calls(ORG, "100")) <= CALL_RECORD_TTL


def test_in_kamailio_a_dialog_event_is_handed_to_the_history_writer(state: EdgeState, agents: list[str]) -> None:
    """One hand-over per event, marked for the reads that wait on calls in progress; the start
    names the agents it makes busy. Nothing is written until the writer sends it."""
    history = Attendances(state.r, 30)
    history.sink = Captured()
    events = DialogEvents(state.r, history)
    now = time.time()
    assert events.record(_change(True, now, agents)) == CallEnd()
    assert events.record(_change(False, now + 1, agents), ended_call="c1") == CallEnd()
    start, end = history.sink.writes  # type: ignore[union-attr]
    assert start.dialog and start.started == (f"{ORG}:100", f"{ORG}:200")
    assert end.dialog and end.started == ()
    assert not any(state.r.exists(keys.calls(ORG, ext)) for ext in agents)
    history.write_batch([start, end])
    assert state.r.get(keys.call_ended(DIALOG)) == "1" and _free(state) == agents
