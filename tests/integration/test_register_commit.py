"""A REGISTER's writes as one compare-and-set script against a real Redis: written when the
registration is still what the decision saw, decided again on what is there when it is not."""

from __future__ import annotations

import time

from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.policy.session import LoginSession, SessionUpdate
from kemi_app.state import EdgeState, keys
from kemi_app.state.registrations import RegisterWrite, Registration


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
