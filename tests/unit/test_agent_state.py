"""Login sessions and presence, derived from plain data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.presence import derive
from kemi_app.policy.registration import Binding
from kemi_app.policy.session import LoginSession, SessionUpdate, session_update, starts_session
from kemi_app.provisioning.company import DEFAULT_COMPANY, Company

NOW = 1000.0


def binding(call_id: str = "a", conn_id: int = 0, expires_at: float = NOW + 300) -> Binding:
    return Binding(contact=f"sip:x@{call_id}", received="sip:127.0.0.1:5", socket="udp:127.0.0.1:5060",
                   node="sip:127.0.0.1:5060", expires_at=expires_at, call_id=call_id, cseq=1, conn_id=conn_id)


def session(call_id: str = "a", conn_id: int = 0, started: float = 10.0) -> LoginSession:
    return LoginSession(started_at=started, call_id=call_id, conn_id=conn_id, block_calls_during_pause=False)


def test_first_registration_starts_a_session() -> None:
    assert starts_session([], [binding()], None) == binding()


def test_refresh_while_registered_does_not() -> None:
    assert starts_session([binding()], [binding()], session()) is None
    assert starts_session([binding("a")], [binding("a"), binding("b")], session()) is None  # a second device


def test_new_call_id_or_new_connection_after_logout_does() -> None:
    assert starts_session([], [binding("b")], session("a")) is not None
    assert starts_session([], [binding("a", conn_id=7)], session("a", conn_id=3)) is not None


def test_same_client_back_after_a_lapse_keeps_its_session() -> None:
    assert starts_session([], [binding("a")], session("a")) is None


def test_unregistering_never_starts_one() -> None:
    assert starts_session([binding()], [], session()) is None
    assert starts_session([], [], None) is None


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
def test_sessions_start_only_from_no_registration(before: list[str], after: list[str]) -> None:
    started = starts_session([binding(c) for c in before], [binding(c) for c in after], None)
    assert (started is not None) == (not before and bool(after))


AVAILABLE = AgentStatus()


def presence(status=AVAILABLE, bindings=(), calls=None, online_until=0.0, sess=None, dnd=False):
    return derive("1001", status, dnd, list(bindings), online_until, calls or {}, sess, NOW)


def test_offline_without_live_bindings_even_if_stored() -> None:
    p = presence(bindings=[binding(expires_at=NOW - 1)], online_until=NOW - 1)
    assert (p.state, p.since, p.seconds_in_state) == ("offline", NOW - 1, 1.0)


def test_never_registered_has_no_time_in_state() -> None:
    assert presence().since is None and presence().seconds_in_state is None


def test_available_since_login_or_last_change_whichever_is_later() -> None:
    p = presence(AgentStatus(False, "", 50.0), [binding()], sess=session(started=400.0))
    assert (p.state, p.since) == ("available", 400.0)
    p = presence(AgentStatus(True, "Break", 900.0), [binding()], sess=session(started=400.0))
    assert (p.state, p.pause, p.since, p.seconds_in_state) == ("paused", "Break", 900.0, 100.0)


def test_in_call_wins_and_counts_calls() -> None:
    p = presence(AgentStatus(True, "Break", 1.0), [binding()], calls={"x": 990.0, "y": 995.0})
    assert (p.state, p.calls, p.since, p.pause) == ("in-call", 2, 990.0, "Break")
    assert presence(calls={"x": 990.0}).state == "in-call"  # a call outlives a lapsed registration


def test_json_shape() -> None:
    assert set(presence(dnd=True).to_json()) == {"ext", "state", "pause", "dnd", "calls", "since", "seconds_in_state"}


def test_a_new_login_snapshots_the_company_and_says_until_when_online() -> None:
    company = Company(id="c1", name="C", block_calls_during_pause=True)
    update = session_update([], [binding("b")], session("a"), company, NOW)
    assert update is not None and update.online_until == NOW + 300
    assert update.started == LoginSession(started_at=NOW, call_id="b", conn_id=0, block_calls_during_pause=True,
                                          company="c1")


def test_a_refresh_or_unregister_only_moves_online_until() -> None:
    assert session_update([binding()], [binding()], session(), DEFAULT_COMPANY, NOW) == SessionUpdate(NOW + 300)
    assert session_update([binding()], [], session(), DEFAULT_COMPANY, NOW) == SessionUpdate(NOW)
    assert session_update([], [], session(), DEFAULT_COMPANY, NOW) is None


def test_a_refresh_needs_no_company_but_a_login_does() -> None:
    assert session_update([binding()], [binding()], session(), None, NOW) == SessionUpdate(NOW + 300)
    with pytest.raises(ValueError):
        session_update([], [binding("b")], session("a"), None, NOW)
