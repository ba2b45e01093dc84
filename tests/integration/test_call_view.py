"""An agent's call view against a real Redis: the node list comes from a short per-worker
cache, yet a callee registered on a node that just joined is reachable at once, and a node
that left stops counting within the cache's life."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from kemi_app.policy.pause import AgentStatus, pause_refusal
from kemi_app.policy.registration import Binding
from kemi_app.policy.session import LoginSession
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.org import Org
from kemi_app.state import EdgeState, keys
from kemi_app.state.callview import NODES_CACHE_SECONDS, CallViews
from kemi_app.state.codec import encode
from tests.state_kit import put_agent

ORG = "cview"


@pytest.fixture
def state(quiet_state: EdgeState) -> EdgeState:
    """A Redis of its own: the commands counted here are this module's alone."""
    return quiet_state


def _bind(state: EdgeState, ext: str, node: str) -> None:
    binding = Binding(f"sip:{ext}@127.0.0.1:7000", "sip:127.0.0.1:7000", "udp:127.0.0.1:5060", node,
                      time.time() + 300, f"reg-{ext}", 1)
    state.r.hset(keys.bindings(ORG, ext), binding.contact, json.dumps(asdict(binding)))


def _commands(state: EdgeState) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in state.r.info("commandstats").items()}


def test_the_node_list_is_cached_but_a_joining_node_is_seen_at_once(state: EdgeState) -> None:
    for key in state.r.scan_iter(f"edge:*:{ORG}:*"):
        state.r.delete(key)
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    old, new = "sip:127.0.0.11:5060", "sip:127.0.0.12:5060"
    state.r.hdel(keys.NODES, new)
    state.r.hset(keys.NODES, old, repr(time.time() + 300))
    for ext in ("1000", "2000", "3000"):
        put_agent(state, ORG, ext, {"ha1": "x"})
    _bind(state, "2000", old)
    views = CallViews(state.r)
    assert [b.node for b in views.call_view(ORG, "1000", "127.0.0.1", "2000", "").callee_bindings] == [old]

    before = _commands(state)
    assert [b.node for b in views.call_view(ORG, "1000", "127.0.0.1", "2000", "").callee_bindings] == [old]
    after = _commands(state)
    # One script call: status and session hashes, the failure counts with the versions (one
    # MGET), the bindings. The node list and both agents came from the worker's copies.
    assert {c: n - before.get(c, 0) for c, n in after.items() if n != before.get(c, 0)} == {
        "evalsha": 1, "hgetall": 2, "mget": 1, "hvals": 1, "info": 1}

    _bind(state, "3000", new)
    state.r.hset(keys.NODES, new, repr(time.time() + 300))
    assert [b.node for b in views.call_view(ORG, "1000", "127.0.0.1", "3000", "").callee_bindings] == [new]
    state.r.hdel(keys.NODES, new)  # the node left: its bindings stop counting within the cache's life
    time.sleep(NODES_CACHE_SECONDS + 0.1)
    assert views.call_view(ORG, "1000", "127.0.0.1", "3000", "").callee_bindings == []
    state.r.hdel(keys.NODES, old, new)


def test_a_call_view_still_answers_after_redis_lost_its_scripts(state: EdgeState) -> None:
    """A restarted or failed-over Redis has no scripts: the view is loaded again and the nonce
    use is claimed once."""
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    put_agent(state, ORG, "1000", {"ha1": "x"})
    state.r.delete(keys.nonce_use("cview-n1"))
    state.r.script_flush()
    views = CallViews(state.r)
    view = views.call_view(ORG, "1000", "127.0.0.1", "700", "cview-n1")
    assert view.auth.ha1 == "x" and view.auth.fresh and view.caller is not None
    assert not views.call_view(ORG, "1000", "127.0.0.1", "700", "cview-n1").auth.fresh  # a replay
    state.r.delete(keys.nonce_use("cview-n1"))


BREAK = AgentStatus(True, "Break", blocks=True)


@pytest.mark.parametrize(("pause", "session_blocks", "blocking", "refusable", "read"), [
    (BREAK, True, (), True, False),  # refused: the callee is not needed
    (BREAK, True, (), False, True),  # a MESSAGE: the pause rule does not apply
    (AgentStatus(True, "Lunch", blocks=False), True, (), True, True),  # a pause that lets calls through
    (BREAK, False, ("sales",), True, True),  # the session does not block: the company's setting is not asked
    (AgentStatus(), True, (), True, True),  # available
    (None, True, (), True, True),  # no status stored: available
    (BREAK, None, ("other", "sales"), True, False),  # no session: the company blocks
    (BREAK, None, ("other",), True, True),  # no session, a company that does not block
])
def test_the_callee_is_left_unread_only_when_the_callers_pause_refuses_the_call(
        state: EdgeState, pause: AgentStatus | None, session_blocks: bool | None, blocking: tuple[str, ...],
        refusable: bool, read: bool) -> None:
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    put_agent(state, ORG, "1000", {"ha1": "x", "company": "sales"})
    put_agent(state, ORG, "2000", {"ha1": "x"})
    _bind(state, "2000", "sip:127.0.0.11:5060")
    state.r.delete(keys.status(ORG, "1000"), keys.session(ORG, "1000"))
    if pause is not None:
        state.agents.set_status(ORG, "1000", pause)
    if session_blocks is not None:
        state.r.hset(keys.session(ORG, "1000"), mapping=encode(LoginSession(1.0, "reg-1000", 0, session_blocks)))
    view = CallViews(state.r).call_view(ORG, "1000", "127.0.0.1", "2000", "", refusable=refusable,
                                        blocking_companies=blocking)
    assert view.callee_read is read
    assert (view.callee is not None) is read
    assert view.status == (pause or AgentStatus())
    blocks = view.session.block_calls_during_pause if view.session else "sales" in blocking
    with_pause = pause_refusal(view.status, blocks, emergency=False)
    assert (with_pause is not None and refusable) is not read  # the script and the rule agree


def test_a_change_of_an_agent_is_seen_at_once_and_only_its_copies_are_read_again(state: EdgeState) -> None:
    """The worker's copy of an agent holds while that agent is unchanged: another agent's
    write (a DND toggle, a new password) costs it no read."""
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    state.directory.save_agent(ORG, Agent("1000", "a" * 32))
    state.directory.save_agent(ORG, Agent("2000", "b" * 32))
    _bind(state, "2000", "sip:127.0.0.11:5060")
    state.r.hset(keys.NODES, "sip:127.0.0.11:5060", repr(time.time() + 300))
    views = CallViews(state.r)
    first = views.call_view(ORG, "1000", "127.0.0.1", "2000", "")
    assert (first.auth.ha1, first.callee) == ("a" * 32, Agent("2000", "b" * 32))
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "") == first  # from the copies

    state.directory.set_dnd(ORG, "2000", True)
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "").callee == Agent("2000", "b" * 32, dnd=True)
    state.directory.save_agent(ORG, Agent("1000", "c" * 32))  # a new password
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "").auth.ha1 == "c" * 32
    put_agent(state, ORG, "3000", {"ha1": "d" * 32})  # another agent of the org
    state.directory.set_dnd(ORG, "3000", True)
    before = _commands(state)
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "").caller == Agent("1000", "c" * 32)
    assert _commands(state)["hgetall"] - before["hgetall"] == 2  # status and session: both copies held
    state.directory.delete_agent(ORG, "1000")
    assert not state.r.exists(keys.agent_version(ORG, "1000"))
    gone = views.call_view(ORG, "1000", "127.0.0.1", "2000", "")
    assert (gone.caller, gone.auth.ha1) == (None, None)
    assert not state.r.exists(keys.agent_version(ORG, "1000"))  # none made for an agent that is not there


def test_the_copied_callers_company_still_decides_the_pause_rule(state: EdgeState) -> None:
    """With no login session the caller's company decides whether its pause blocks calls: the
    script takes it from the worker's copy when it does not read the hash."""
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    state.directory.save_company(ORG, Company(id="sales", name="Sales"))
    state.directory.save_agent(ORG, Agent("1000", "a" * 32, company="sales"))
    state.directory.save_agent(ORG, Agent("2000", "b" * 32))
    state.r.delete(keys.session(ORG, "1000"))
    state.agents.set_status(ORG, "1000", BREAK)
    views = CallViews(state.r)
    for _ in range(2):  # read, then copied
        view = views.call_view(ORG, "1000", "127.0.0.1", "2000", "", refusable=True, blocking_companies=("sales",))
        assert not view.callee_read
    state.agents.set_status(ORG, "1000", AgentStatus())


def test_agents_written_before_versions_existed_get_one_at_their_first_read(state: EdgeState) -> None:
    """Agents saved by a release without versions: the first call view gives each one, so the
    worker's next calls use its copies, and a later write of the agent still replaces it."""
    state.directory.save_org(Org(ORG, "cview.test", "Call view"))
    state.directory.save_agent(ORG, Agent("1000", "a" * 32))
    state.directory.save_agent(ORG, Agent("2000", "b" * 32))
    _bind(state, "2000", "sip:127.0.0.11:5060")
    state.r.hset(keys.NODES, "sip:127.0.0.11:5060", repr(time.time() + 300))
    state.r.delete(keys.agent_version(ORG, "1000"), keys.agent_version(ORG, "2000"))
    views = CallViews(state.r)
    first = views.call_view(ORG, "1000", "127.0.0.1", "2000", "")
    given = state.r.mget(keys.agent_version(ORG, "1000"), keys.agent_version(ORG, "2000"))
    assert all(given) and first.auth.ha1 == "a" * 32 and first.callee == Agent("2000", "b" * 32)
    before = _commands(state)
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "") == first
    after = _commands(state)
    assert after["hgetall"] - before["hgetall"] == 2  # status and session: no agent hash
    assert state.r.mget(keys.agent_version(ORG, "1000"), keys.agent_version(ORG, "2000")) == given
    state.directory.save_agent(ORG, Agent("1000", "c" * 32))
    assert views.call_view(ORG, "1000", "127.0.0.1", "2000", "").auth.ha1 == "c" * 32
