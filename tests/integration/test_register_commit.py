"""A REGISTER's writes as one compare-and-set script against a real Redis: written when the
registration is still what the decision saw, decided again on what is there when it is not."""

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


def test_stale_decision_is_made_again_on_what_redis_holds(state: EdgeState) -> None:
    now = time.time()
    session = LoginSession(started_at=now, call_id="c1", conn_id=0, block_calls_during_pause=True, company="x")
    seen: list[list[str]] = []

    def add(contact: str):
        def decide(current: Registration) -> RegisterWrite:
            seen.append(sorted(b.contact for b in current.bindings))
            after = [*current.bindings, binding(contact, now)]
            started = session if current.session is None else None
            return RegisterWrite(RegisterOutcome(200, "OK", after), SessionUpdate(now + 300, started),
                                 ("sip:node", "127.0.0.1:9", 300))
        return decide

    regs = state.registrations
    regs.register("commit", "1001", Registration(), add("sip:a@x"))
    assert state.r.get(keys.connection("sip:node", "127.0.0.1:9")) == "commit:1001"
    assert 0 < state.r.ttl(keys.bindings("commit", "1001")) <= 301
    # Decided on an empty registration that is no longer empty: decided again, nothing lost.
    write = regs.register("commit", "1001", Registration(), add("sip:b@x"))
    assert seen == [[], [], ["sip:a@x"]]
    assert sorted(b.contact for b in write.outcome.bindings) == ["sip:a@x", "sip:b@x"]
    stored = regs.registration("commit", "1001")
    assert sorted(b.contact for b in stored.bindings) == ["sip:a@x", "sip:b@x"]
    assert stored.session == session and float(stored.session_raw["online_until"]) == now + 300


def test_a_refusal_writes_nothing(state: EdgeState) -> None:
    refused = RegisterWrite(RegisterOutcome(423, "Interval Too Brief", [], min_expires=60))
    assert state.registrations.register("commit", "1002", Registration(), lambda _: refused) is refused
    assert state.registrations.registration("commit", "1002") == Registration()


def test_a_refresh_leaves_the_session_alone_and_is_not_decided_again(state: EdgeState) -> None:
    """The session is read and compared only for a login: a session change in between (*44 on
    another worker) neither makes a refresh decide again nor is lost."""
    now = time.time()
    regs = state.registrations
    first = binding("sip:a@x", now)
    session = LoginSession(started_at=now, call_id="c1", conn_id=0, block_calls_during_pause=False)
    regs.register("commit", "1003", Registration(), lambda _: RegisterWrite(
        RegisterOutcome(200, "OK", [first]), SessionUpdate(now + 300, session)))
    view = regs.register_view("commit", "1003", "127.0.0.1", now=now)
    assert view.registration.session_raw is None  # a live binding: no decision needs the session
    state.r.hset(keys.session("commit", "1003"), "auto_answer", "true")
    decided: list[Registration] = []

    def refresh(current: Registration) -> RegisterWrite:
        decided.append(current)
        fresher = binding("sip:a@x", now + 60)
        return RegisterWrite(RegisterOutcome(200, "OK", [fresher]), SessionUpdate(now + 360))

    regs.register("commit", "1003", view.registration, refresh)
    assert len(decided) == 1
    stored = regs.registration("commit", "1003")
    assert [b.expires_at for b in stored.bindings] == [now + 360]
    assert stored.session_raw is not None and stored.session_raw["auto_answer"] == "true"
    assert float(stored.session_raw["online_until"]) == now + 360
    assert 300 < state.r.ttl(keys.bindings("commit", "1003")) <= 361


def test_scripts_redis_lost_are_loaded_again(state: EdgeState) -> None:
    """A restarted or failed-over Redis has no scripts: the read and the commit still run."""
    now = time.time()
    state.r.script_flush()
    view = state.registrations.register_view("commit", "1004", "127.0.0.1", now)
    assert view.auth.fresh and view.registration == Registration()
    state.r.script_flush()
    write = RegisterWrite(RegisterOutcome(200, "OK", [binding("sip:a@x", now)]), SessionUpdate(now + 300))
    state.registrations.register("commit", "1004", view.registration, lambda _: write)
    assert [b.contact for b in state.registrations.registration("commit", "1004").bindings] == ["sip:a@x"]


def test_refresh_on_cached_ha1_and_bindings_checks_both_before_writing(state: EdgeState) -> None:
    """REFRESH_REGISTER: one script call that writes only when the worker's cached HA1 is
    the stored one and the bindings are still the cached ones; otherwise it says why and
    writes nothing."""
    now = time.time()
    regs = state.registrations
    state.directory.save_org(Org("commit", "commit.test", "Commit tests"))
    state.directory.save_agent("commit", Agent("1005", ha1("1005", "commit.test", "pw")))
    first = binding("sip:a@x", now)
    regs.register("commit", "1005", Registration(), lambda _: RegisterWrite(RegisterOutcome(200, "OK", [first])))
    cached = Registration({first.contact: binding_json(first)}, None)
    fresher = binding("sip:a@x", now + 60)
    write = RegisterWrite(RegisterOutcome(200, "OK", [fresher]), SessionUpdate(fresher.expires_at))
    right, wrong = ha1("1005", "commit.test", "pw"), ha1("1005", "commit.test", "old")

    def refresh(ha1_: str, current: Registration = cached) -> str:
        return regs.refresh("commit", "1005", commit_call("commit", "1005", current, write, now), ha1_).verdict

    assert refresh(wrong) == "stale"
    assert regs.registration("commit", "1005").bindings == [first]
    assert refresh(right) == "ok"
    assert regs.registration("commit", "1005").bindings == [fresher]
    changed = regs.refresh("commit", "1005", commit_call("commit", "1005", cached, write, now), right)
    assert changed.verdict == "changed" and changed.registration.bindings == [fresher]
    assert changed.registration.session_raw is not None and changed.org_version is not None


def test_failures_against_agents_are_listed_for_every_node_and_made_up_names_are_not(state: EdgeState) -> None:
    """The cluster's list of recent failures: what lets a node skip the lockout read on a refresh."""
    regs = state.registrations
    since = time.time() - 1
    regs.record_auth_failure("commit", "1006", "127.0.0.9", per_agent=True)
    regs.record_auth_failure("commit", "9999", "127.0.0.9", per_agent=False)
    assert "commit:1006" in regs.failed_since(since) and "commit:9999" not in regs.failed_since(since)
    assert "commit:1006" not in regs.failed_since(time.time() + 1)
