"""A REGISTER's writes as one compare-and-set script against a real Redis: written when the
registration is still what the decision saw, decided again on what is there when it is not,
and only while the agent's HA1 is the one the REGISTER was authenticated with."""

from __future__ import annotations

import time

from kemi_app.policy.digest import ha1
from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.policy.session import LoginSession, SessionUpdate
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.org import Org
from kemi_app.state import EdgeState, keys
from kemi_app.state.registrations import RegisterWrite, Registration, binding_json, commit_call


def binding(contact: str, now: float) -> Binding:
    return Binding(contact=contact, received="sip:127.0.0.1:5;transport=udp", socket="udp:127.0.0.1:5060",
                   node="sip:127.0.0.1:5060", expires_at=now + 300, call_id="c1", cseq=1)


def _agent(state: EdgeState, ext: str, password: str = "pw") -> str:
    """An agent of org 'commit'; its HA1."""
    state.directory.save_org(Org("commit", "commit.test", "Commit tests"))
    digest = ha1(ext, "commit.test", password)
    state.directory.save_agent("commit", Agent(ext, digest))
    return digest


def test_stale_decision_is_made_again_on_what_redis_holds(state: EdgeState) -> None:
    now = time.time()
    h = _agent(state, "1001")
    session = LoginSession(started_at=now, call_id="c1", conn_id=0, block_calls_during_pause=True, company="x")
    seen: list[list[str]] = []

    def add(contact: str):
        def decide(current: Registration) -> RegisterWrite:
            seen.append(sorted(b.contact for b in current.bindings))
            after = [*current.bindings, binding(contact, now)]
            started = session if current.session is None else None
            return RegisterWrite(RegisterOutcome(200, "OK", after), SessionUpdate(now + 300, started))
        return decide

    regs = state.registrations
    regs.register("commit", "1001", h, Registration(), add("sip:a@x"))
    assert state.r.ttl(keys.bindings("commit", "1001")) == -1  # no TTL: the sweep removes them
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1001") == now + 300
    # Decided on an empty registration that is no longer empty: decided again, nothing lost.
    write = regs.register("commit", "1001", h, Registration(), add("sip:b@x"))
    assert write is not None and seen == [[], [], ["sip:a@x"]]
    assert sorted(b.contact for b in write.outcome.bindings) == ["sip:a@x", "sip:b@x"]
    stored = regs.registration("commit", "1001")
    assert sorted(b.contact for b in stored.bindings) == ["sip:a@x", "sip:b@x"]
    assert stored.session == session and float(stored.session_raw["online_until"]) == now + 300


def test_a_refusal_writes_nothing(state: EdgeState) -> None:
    refused = RegisterWrite(RegisterOutcome(423, "Interval Too Brief", [], min_expires=60))
    h = _agent(state, "1002")
    assert state.registrations.register("commit", "1002", h, Registration(), lambda _: refused) is refused
    assert state.registrations.registration("commit", "1002") == Registration()


def test_a_refresh_leaves_the_session_alone_and_is_not_decided_again(state: EdgeState) -> None:
    """The session is read and compared only for a login: a session change in between (*44 on
    another worker) neither makes a refresh decide again nor is lost."""
    now = time.time()
    regs = state.registrations
    h = _agent(state, "1003")
    first = binding("sip:a@x", now)
    session = LoginSession(started_at=now, call_id="c1", conn_id=0, block_calls_during_pause=False)
    regs.register("commit", "1003", h, Registration(), lambda _: RegisterWrite(
        RegisterOutcome(200, "OK", [first]), SessionUpdate(now + 300, session)))
    view = regs.register_view("commit", "1003", "127.0.0.1", now=now)
    assert view.registration.session_raw is None  # a live binding: no decision needs the session
    state.r.hset(keys.session("commit", "1003"), "auto_answer", "true")
    decided: list[Registration] = []

    def refresh(current: Registration) -> RegisterWrite:
        decided.append(current)
        fresher = binding("sip:a@x", now + 60)
        return RegisterWrite(RegisterOutcome(200, "OK", [fresher]), SessionUpdate(now + 360))

    regs.register("commit", "1003", h, view.registration, refresh)
    assert len(decided) == 1
    stored = regs.registration("commit", "1003")
    assert [b.expires_at for b in stored.bindings] == [now + 360]
    assert stored.session_raw is not None and stored.session_raw["auto_answer"] == "true"
    assert float(stored.session_raw["online_until"]) == now + 360
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1003") == now + 360


def test_scripts_redis_lost_are_loaded_again(state: EdgeState) -> None:
    """A restarted or failed-over Redis has no scripts: the read and the commit still run."""
    now = time.time()
    h = _agent(state, "1004")
    state.r.script_flush()
    view = state.registrations.register_view("commit", "1004", "127.0.0.1", now)
    assert view.auth.fresh and view.auth.ha1 == h and view.registration == Registration()
    state.r.script_flush()
    write = RegisterWrite(RegisterOutcome(200, "OK", [binding("sip:a@x", now)]), SessionUpdate(now + 300))
    state.registrations.register("commit", "1004", h, view.registration, lambda _: write)
    assert [b.contact for b in state.registrations.registration("commit", "1004").bindings] == ["sip:a@x"]


def test_refresh_on_cached_ha1_and_bindings_checks_both_before_writing(state: EdgeState) -> None:
    """REFRESH_REGISTER: one script call that writes only when the worker's cached HA1 is
    the stored one and the bindings are still the cached ones; otherwise it says why and
    writes nothing."""
    now = time.time()
    regs = state.registrations
    right = _agent(state, "1005")
    wrong = ha1("1005", "commit.test", "old")
    first = binding("sip:a@x", now)
    regs.register("commit", "1005", right, Registration(), lambda _: RegisterWrite(RegisterOutcome(200, "OK", [first])))
    cached = Registration({first.contact: binding_json(first)}, None)
    fresher = binding("sip:a@x", now + 60)
    write = RegisterWrite(RegisterOutcome(200, "OK", [fresher]), SessionUpdate(fresher.expires_at))

    def refresh(ha1_: str, current: Registration = cached) -> str:
        return regs.refresh("commit", "1005", commit_call("commit", "1005", ha1_, current, write)).verdict

    assert refresh(wrong) == "stale"
    assert regs.registration("commit", "1005").bindings == [first]
    assert refresh(right) == "ok"
    assert regs.registration("commit", "1005").bindings == [fresher]
    changed = regs.refresh("commit", "1005", commit_call("commit", "1005", right, cached, write))
    assert changed.verdict == "changed" and changed.registration.bindings == [fresher]
    assert changed.registration.session_raw is not None and changed.org_version is not None


def test_a_commit_after_the_password_changed_writes_nothing(state: EdgeState) -> None:
    """A password changed between a REGISTER's read and its write: nothing is written and the
    agent stays out of the index, so no node refreshes it on the HA1 it checked."""
    old = _agent(state, "1013")
    _agent(state, "1013", "new")
    write = RegisterWrite(RegisterOutcome(200, "OK", [binding("sip:a@x", time.time())]))
    assert state.registrations.register("commit", "1013", old, Registration(), lambda _: write) is None
    assert state.registrations.registration("commit", "1013").bindings == []
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1013") is None


def _registered(state: EdgeState, ext: str, now: float) -> Binding:
    """An agent of org 'commit' registered through the regular commit, one binding."""
    h = _agent(state, ext)
    first = binding("sip:a@x", now)
    state.registrations.register("commit", ext, h, Registration(), lambda _: RegisterWrite(
        RegisterOutcome(200, "OK", [first]), SessionUpdate(first.expires_at)))
    return first


def test_a_quick_refresh_writes_its_binding_and_index_entry_and_nothing_else(quiet_state: EdgeState) -> None:
    """Counted on a Redis of its own (no edge's timers beside it)."""
    state = quiet_state
    now = time.time()
    first = _registered(state, "1006", now)
    session = state.r.hgetall(keys.session("commit", "1006"))
    fresher = binding("sip:a@x", now + 60)
    before = state.r.info("commandstats")
    assert state.registrations.refresh_binding(
        "commit", "1006", (first.contact, binding_json(fresher), binding_json(first)), fresher.expires_at)
    after = state.r.info("commandstats")
    calls = {name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"] for name in after}
    assert {name: n for name, n in calls.items() if n and name != "cmdstat_info"} == {
        "cmdstat_hset": 1, "cmdstat_zadd": 1}
    assert state.registrations.registration("commit", "1006").bindings == [fresher]
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1006") == fresher.expires_at
    assert state.r.hgetall(keys.session("commit", "1006")) == session


def test_a_quick_refresh_of_a_binding_gone_meanwhile_is_undone(state: EdgeState) -> None:
    """Removed by another phone's REGISTER (or the agent deleted): the refresh must not bring
    it back; the regular path decides on what is there."""
    now = time.time()
    first = _registered(state, "1007", now)
    other = binding("sip:b@x", now)
    state.r.hset(keys.bindings("commit", "1007"), other.contact, binding_json(other))
    state.r.hdel(keys.bindings("commit", "1007"), first.contact)
    fresher = binding("sip:a@x", now + 60)
    assert not state.registrations.refresh_binding(
        "commit", "1007", (first.contact, binding_json(fresher), binding_json(first)), fresher.expires_at)
    assert state.registrations.registration("commit", "1007").bindings == [other]


def test_new_credentials_make_the_next_quick_refresh_undo_itself(state: EdgeState) -> None:
    """A password change moves the agent to the reauth set: a refresh checked against the HA1
    a node cached before is undone, the binding as it was; the next regular commit (checked
    against the new HA1) puts the agent back in the index."""
    now = time.time()
    first = _registered(state, "1008", now)
    new = _agent(state, "1008", "new")
    assert state.r.zscore(keys.REGISTRATIONS_REAUTH, "commit:1008") == first.expires_at
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1008") is None
    fresher = binding("sip:a@x", now + 60)
    assert not state.registrations.refresh_binding(
        "commit", "1008", (first.contact, binding_json(fresher), binding_json(first)), fresher.expires_at)
    assert state.registrations.registration("commit", "1008").bindings == [first]
    current = state.registrations.registration("commit", "1008")
    state.registrations.register("commit", "1008", new, current, lambda _: RegisterWrite(
        RegisterOutcome(200, "OK", [fresher]), SessionUpdate(fresher.expires_at)))
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1008") == fresher.expires_at
    assert state.r.zscore(keys.REGISTRATIONS_REAUTH, "commit:1008") is None
    # The same HA1 saved again is no change of credentials.
    _agent(state, "1008", "new")
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1008") == fresher.expires_at


def test_the_edges_sweep_expires_registrations_once_their_latest_binding_expired(state: EdgeState) -> None:
    """Offline at the latest expiry (online_until), out of the index, the bindings gone; an
    agent whose index entry lags behind a later binding is put back at it, not expired. A
    second sweep finds nothing left to do."""
    now = time.time()
    gone = _registered(state, "1009", now - 400)  # expired 100 s ago
    _registered(state, "1010", now)
    later = binding("sip:b@x", now + 200)
    state.r.hset(keys.bindings("commit", "1010"), later.contact, binding_json(later))
    state.r.zadd(keys.REGISTRATIONS, {"commit:1010": now - 1})  # lagging
    state.r.zadd(keys.REGISTRATIONS_REAUTH, {"commit:1011": now - 1})  # its bindings deleted with it
    deadline = time.monotonic() + 5  # the edge's own sweep, every second
    while state.r.zscore(keys.REGISTRATIONS, "commit:1010") != later.expires_at and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not state.r.exists(keys.bindings("commit", "1009"))
    assert float(state.r.hget(keys.session("commit", "1009"), "online_until")) == gone.expires_at
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1009") is None
    assert state.r.zscore(keys.REGISTRATIONS, "commit:1010") == later.expires_at
    assert len(state.registrations.registration("commit", "1010").bindings) == 2
    assert state.r.zscore(keys.REGISTRATIONS_REAUTH, "commit:1011") is None
    assert state.registrations.sweep(now) == 0


def test_failures_against_agents_are_listed_for_every_node_and_made_up_names_are_not(state: EdgeState) -> None:
    """The cluster's list of recent failures: what lets a node skip the lockout read on a refresh."""
    regs = state.registrations
    since = time.time() - 1
    regs.record_auth_failure("commit", "1006", "127.0.0.9", per_agent=True)
    regs.record_auth_failure("commit", "9999", "127.0.0.9", per_agent=False)
    assert "commit:1006" in regs.failed_since(since) and "commit:9999" not in regs.failed_since(since)
    assert "commit:1006" not in regs.failed_since(time.time() + 1)


def test_presence_is_offline_since_the_latest_binding_the_sweep_has_not_removed_yet(state: EdgeState) -> None:
    """A refresh leaves online_until as the login wrote it: until the sweep, the agent went
    offline when its latest binding expired."""
    now = time.time()
    _agent(state, "1012")
    lapsed = binding("sip:a@x", now - 400)  # expired 100 s ago; not in the index: no sweep takes it
    state.r.hset(keys.bindings("commit", "1012"), lapsed.contact, binding_json(lapsed))
    state.r.hset(keys.session("commit", "1012"), "online_until", repr(now - 500))
    (presence,) = state.agents.presence("commit", ["1012"])
    assert presence.state == "offline" and presence.since == lapsed.expires_at
