"""The compact per-queue state against a real Redis: every agent state change keeps the
queue's free set exact, an offer is one script call whatever the queue's size, a member who
comes free is handed to the longest-waiting call, and one free agent is never offered twice."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.queue import Waiter
from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import EdgeState, keys
from kemi_app.state.agentstate import CallsChange
from kemi_app.state.queues import PICK
from tests.state_kit import put_agent

ORG = "qstate"
QUEUE = "801"
NODE = "sip:127.0.0.9:5060"


@pytest.fixture
def state(quiet_state: EdgeState) -> EdgeState:
    """A Redis of its own: the commands counted here are this module's alone."""
    return quiet_state


def _exts(n: int) -> list[str]:
    return [str(5000 + i) for i in range(n)]


def _register(state: EdgeState, ext: str) -> None:
    binding = Binding(f"sip:{ext}@127.0.0.1:7000", "sip:127.0.0.1:7000", "udp:127.0.0.1:5060", NODE,
                      time.time() + 300, f"reg-{ext}", 1)
    state.r.hset(keys.bindings(ORG, ext), binding.contact, json.dumps(asdict(binding)))
    state.r.hset(keys.NODES, NODE, repr(time.time() + 300))  # its node is alive (policy.cluster)
    state.queues.agent_changed(ORG, ext)


@pytest.fixture
def queue_of(state: EdgeState):
    def make(n: int) -> list[str]:
        for key in state.r.scan_iter(f"edge:*:{ORG}:*"):
            state.r.delete(key)
        state.directory.save_org(Org(ORG, "qstate.test", "Queue state"))
        exts = _exts(n)
        for i, ext in enumerate(exts):
            put_agent(state, ORG, ext, {"ha1": "x"})
            state.r.set(keys.idle(ORG, ext), str(1000 + i))  # idle longest: the first one
        state.directory.save_service(ORG, Service(QUEUE, "queue", "Big", members=exts, max_wait=60))
        return exts

    return make


def _free(state: EdgeState) -> list[str]:
    return state.r.zrange(keys.queue_free(ORG, QUEUE), 0, -1)


def test_every_state_change_keeps_the_free_set_exact(state: EdgeState, queue_of) -> None:
    a, b = queue_of(2)
    assert _free(state) == []  # provisioned, nobody registered
    _register(state, a)
    _register(state, b)
    assert _free(state) == [a, b]  # longest idle first
    state.agents.set_status(ORG, a, AgentStatus(True, "Break", time.time()))
    assert _free(state) == [b]
    state.agents.set_status(ORG, a, AgentStatus(False, "", time.time()))
    assert _free(state) == [b, a]  # free again from now on: idle shorter than b
    state.directory.set_dnd(ORG, b, True)
    assert _free(state) == [a]
    state.directory.set_dnd(ORG, b, False)
    agent = state.directory.get_agent(ORG, b)
    state.directory.save_agent(ORG, type(agent)(**{**agent.__dict__, "dnd": True}))  # DND through the API
    assert _free(state) == [a]
    state.directory.set_dnd(ORG, b, False)
    state.dialog_events.record(CallsChange(ORG, [a], "call-1", time.time(), started=True, dialog="d1"))
    assert _free(state) == [b]
    state.dialog_events.record(CallsChange(ORG, [a], "call-1", time.time(), started=False, dialog="d1"))
    assert _free(state) == [b, a]
    state.registrations.update_bindings(ORG, a, lambda current: RegisterOutcome(200, "OK", []))
    assert _free(state) == [b]
    state.directory.save_service(ORG, Service(QUEUE, "queue", "Big", members=[a]))
    assert _free(state) == []  # b left the queue, a is not registered


def _calls(stats: dict, command: str) -> int:
    return int(stats.get(command, {}).get("calls", 0))  # a command not run yet is not listed


@pytest.mark.parametrize("size", [5, 500])
def test_an_offer_is_one_script_call_whatever_the_queue_size(state: EdgeState, queue_of, size: int) -> None:
    exts = queue_of(size)
    for ext in exts:
        _register(state, ext)
    state.r.script_load(PICK)  # as after the edge's first pick: its NOSCRIPT and load are once per Redis
    before = state.r.info("commandstats")
    picked = state.queues.pick(QUEUE, ORG, "att-1", 25000, [])
    after = state.r.info("commandstats")
    assert picked is not None and picked[0] == exts[0]
    scripts = [f"cmdstat_{c}" for c in ("eval", "evalsha")]  # a script call, by its text or its SHA1
    assert sum(_calls(after, c) - _calls(before, c) for c in scripts) == 1
    # Redis work inside the script does not walk the members either.
    inner = sum(v["calls"] for k, v in after.items()) - sum(v["calls"] for k, v in before.items())
    assert inner < 20, inner


def test_an_agent_whose_node_died_is_not_offered_a_call(state: EdgeState, queue_of) -> None:
    (a,) = queue_of(1)
    _register(state, a)
    state.r.hset(keys.NODES, NODE, repr(time.time() - 1))  # its heartbeat lapsed
    try:
        assert state.queues.pick(QUEUE, ORG, "att-1", 25000, []) is None
    finally:
        state.r.hset(keys.NODES, NODE, repr(time.time() + 300))


def test_one_free_agent_is_never_offered_two_calls(state: EdgeState, queue_of) -> None:
    (a,) = queue_of(1)
    _register(state, a)
    assert state.queues.pick(QUEUE, ORG, "att-1", 25000, []) is not None
    assert state.queues.pick(QUEUE, ORG, "att-2", 25000, []) is None
    state.queues.release_offer(ORG, a, "att-1", offer_again=False)  # it did not answer
    assert state.queues.pick(QUEUE, ORG, "att-2", 25000, [])[0] == a
    # It answers: locked until its call is recorded, then busy; free again when it ends.
    state.dialog_events.record(CallsChange(ORG, [a], "call-2", time.time(), started=True, dialog="d2"))
    assert state.r.get(keys.offer(ORG, a)) is None
    assert state.queues.pick(QUEUE, ORG, "att-3", 25000, []) is None
    state.dialog_events.record(CallsChange(ORG, [a], "call-2", time.time(), started=False, dialog="d2"))
    assert state.queues.pick(QUEUE, ORG, "att-3", 25000, [])[0] == a


def test_a_member_coming_free_is_handed_to_the_longest_waiting_call(state: EdgeState, queue_of) -> None:
    (a,) = queue_of(1)
    state.r.delete(keys.wakes(NODE))
    gone = Waiter(NODE, ORG, QUEUE, 0, 0, "att-0", 25000, time.time() - 1)  # its node died long ago
    assert state.queues.pick(QUEUE, ORG, gone.attendance, 25000, [], waiter=gone, waiter_arrived=50.0) is None
    first, second = (Waiter(NODE, ORG, QUEUE, i, i, f"att-{i}", 25000, time.time() + 60) for i in (1, 2))
    assert state.queues.pick(QUEUE, ORG, first.attendance, 25000, [], waiter=first, waiter_arrived=100.0) is None
    assert state.queues.pick(QUEUE, ORG, second.attendance, 25000, [], waiter=second, waiter_arrived=200.0) is None
    assert state.queues.waiting(ORG, QUEUE)[0] == 3
    _register(state, a)  # the state change that frees the member hands it over at once
    assert state.queues.next_wakes(NODE, 0.1, 10) == [(first, a)]
    assert state.r.get(keys.offer(ORG, a)) == first.attendance
    assert state.queues.waiting(ORG, QUEUE)[0] == 1
    assert state.queues.leave(ORG, QUEUE, second.attendance)
    assert state.queues.waiting(ORG, QUEUE) == (0, 0.0)
