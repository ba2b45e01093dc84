"""A REGISTER's commit script call: what a refresh and a login send (only what changed)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.policy.session import LoginSession, SessionUpdate
from kemi_app.state import keys
from kemi_app.state.queues import PREFIX, WAKE_MEMORY
from kemi_app.state.registrations import RegisterWrite, Registration, binding_json, commit_call

NOW = 1_000_000.0
A = Binding(contact="sip:a@h", received="sip:1.2.3.4:5;transport=udp", socket="udp:127.0.0.1:5060",
            node="sip:127.0.0.1:5060", expires_at=NOW + 100, call_id="c1", cseq=1)
B = replace(A, contact="sip:b@h")


HA1 = "0123456789abcdef0123456789abcdef"


def args_after_keys(args: list[str]) -> list[str]:
    """The lists and flags after the fixed arguments, which name the HA1 by its SHA1."""
    assert args[:5] == [PREFIX, "org", "100", str(WAKE_MEMORY), hashlib.sha1(HA1.encode()).hexdigest()]
    return args[5:]


def test_a_refresh_sends_its_binding_latest_expiry_and_online_until_and_no_queue_update() -> None:
    current = Registration({A.contact: binding_json(A)}, None)  # session not read: not compared
    fresher = replace(A, expires_at=NOW + 300, call_id="c2", cseq=2)
    write = RegisterWrite(RegisterOutcome(200, "OK", [fresher]), SessionUpdate(NOW + 300))
    keys_, args = commit_call("org", "100", HA1, current, write)
    assert keys_ == [keys.bindings("org", "100"), keys.session("org", "100"), keys.REGISTRATIONS,
                     keys.REGISTRATIONS_REAUTH, keys.agent("org", "100")]
    assert args_after_keys(args) == [
        "2", A.contact, binding_json(A),  # expected bindings
        "-1",  # expected session: not compared
        "2", A.contact, binding_json(fresher), "0",  # bindings set, none deleted
        repr(NOW + 300), "0", "2", "online_until", str(NOW + 300),  # index entry, session kept, its fields set
        "0"]  # availability unchanged


def test_an_unchanged_binding_is_not_sent_and_an_expired_one_is_deleted() -> None:
    expired = replace(B, expires_at=NOW - 1)
    current = Registration({A.contact: binding_json(A), B.contact: binding_json(expired)}, None)
    c = replace(A, contact="sip:c@h")
    write = RegisterWrite(RegisterOutcome(200, "OK", [A, c]), SessionUpdate(NOW + 100))
    rest = args_after_keys(commit_call("org", "100", HA1, current, write)[1])
    assert rest[5:12] == ["-1", "2", c.contact, binding_json(c), "1", B.contact, repr(NOW + 100)]


def test_a_login_replaces_the_compared_session_and_updates_the_queues() -> None:
    session = LoginSession(started_at=NOW, call_id="c1", conn_id=0, block_calls_during_pause=False)
    current = Registration({}, {"online_until": "5"})
    write = RegisterWrite(RegisterOutcome(200, "OK", [A]), SessionUpdate(NOW + 100, session))
    rest = args_after_keys(commit_call("org", "100", HA1, current, write)[1])
    assert rest[:3] == ["0", "2", "online_until"]  # no bindings, the session as read
    assert rest[rest.index(repr(NOW + 100)) + 1] == "1"  # the session is replaced
    assert rest[-3:] == ["online_until", str(NOW + 100), "1"]  # and the queues look


def test_the_last_binding_going_deletes_the_bindings_and_updates_the_queues() -> None:
    current = Registration({A.contact: binding_json(A)}, None)
    write = RegisterWrite(RegisterOutcome(200, "OK", []), SessionUpdate(NOW))
    rest = args_after_keys(commit_call("org", "100", HA1, current, write)[1])
    assert rest[4:8] == ["0", "1", A.contact, "0"]  # nothing set, A deleted, expiry 0: no bindings left
    assert rest[-1] == "1"
