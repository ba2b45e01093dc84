"""History writes on the edge's real Redis: one command per attendance written (the script
does the rest inside Redis), the same data as before, and writes that survive a Redis which
lost its scripts (a restart, a failover)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from kemi_app.policy.attendance import Attendance, Event, new_attendance_id
from kemi_app.state import EdgeState, attendance, keys
from kemi_app.state.attendance import RECENT_PER_AGENT, Attendances, Writes
from kemi_app.state.dialogevents import DialogEvents

ORG = "histw"
RETENTION = 30 * 86400


def counting(state: EdgeState) -> tuple[redis.Redis, list[str]]:
    """A client on the same Redis that lists the commands it sends."""
    sent: list[str] = []
    base: type[redis.Connection] = state.r.connection_pool.connection_class

    class Counting(base):
        def pack_command(self, *args: Any) -> Any:
            sent.append(str(args[0]).upper())
            return super().pack_command(*args)

    client = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Counting,
                                                              **state.r.connection_pool.connection_kwargs))
    client.ping()  # connected (AUTH, PING) before counting
    return client, sent


def new_attendance(created_at: float | None = None) -> Attendance:
    now = time.time() if created_at is None else created_at
    return Attendance(new_attendance_id(now), ORG, "direct", "internal", now)


def story(history: Attendances, att_id: str) -> list[tuple[str, str, str, str]]:
    return [(e.event, e.actor, e.target, e.call_id) for e in history.attendance_history(att_id)]


def sent_without_pings(sent: list[str]) -> list[str]:
    commands = [c for c in sent if c != "PING"]  # health checks
    sent.clear()
    return commands


def test_each_history_write_is_one_command_per_attendance(state: EdgeState) -> None:
    client, sent = counting(state)
    history = Attendances(client, 30)
    a, b, warm = new_attendance(), new_attendance(), new_attendance()
    now = time.time()
    history.create_attendance(warm, "hw-w", Event(warm.id, "start", now, ORG))  # Redis has the script from now on
    sent.clear()

    history.create_attendance(a, "hw-a1", Event(a.id, "start", now, ORG, actor="1001", target="1002",
                                                call_id="hw-a1"))
    assert sent_without_pings(sent) == ["EVALSHA"]
    history.record_events(Event(a.id, "ring", now + 1, ORG, target="1002", call_id="hw-a1"),
                          Event(a.id, "answer", now + 2, ORG, target="1002", call_id="hw-a1"))
    assert sent_without_pings(sent) == ["EVALSHA"]
    history.link_leg(a.id, "hw-a2", Event(a.id, "conference", now + 3, ORG, actor="1001", target="1003",
                                          call_id="hw-a2"))
    assert sent_without_pings(sent) == ["EVALSHA"]
    history.link_transfer(a.id, "hw-a3", Event(a.id, "transfer", now + 4, ORG, actor="1002", target="1004",
                                               call_id="hw-a3"), transferred=True, queue="")
    assert sent_without_pings(sent) == ["EVALSHA"]
    history.continue_in_org(a.id, b, "hw-b1", Event(a.id, "transfer", now + 5, ORG, actor="1004", target="other",
                                                    call_id="hw-b1"),
                            Event(b.id, "start", now + 5, ORG, actor=ORG, target="1005", call_id="hw-b1"))
    assert sent_without_pings(sent) == ["EVALSHA"]  # writes of several attendances: still one script call
    history.record_events(Event(a.id, "end", now + 6, ORG, actor="1002", call_id="hw-a1"),
                          Event(b.id, "end", now + 6, ORG, actor="1005", call_id="hw-b1"))
    assert sent_without_pings(sent) == ["EVALSHA"]

    # Read back: legs by index, a Call-ID that is no leg kept as itself, the marks, the links.
    assert story(state.history, a.id) == [
        ("start", "1001", "1002", "hw-a1"), ("ring", "", "1002", "hw-a1"), ("answer", "", "1002", "hw-a1"),
        ("conference", "1001", "1003", "hw-a2"), ("transfer", "1002", "1004", "hw-a3"),
        ("transfer", "1004", "other", "hw-b1"), ("end", "1002", "", "hw-a1"),
    ]
    assert story(state.history, b.id) == [("start", ORG, "1005", "hw-b1"), ("end", "1005", "", "hw-b1")]
    record = state.history.attendance(a.id)
    assert record is not None
    assert record.legs == ["hw-a1", "hw-a2", "hw-a3"]
    assert (record.customer_call, record.transferred, record.transferred_to) == ("hw-a3", True, b.id)
    assert state.history.attendance_by_call("hw-b1") == state.history.attendance(b.id)
    assert 0 < state.r.ttl(keys.call_attendance("hw-a2")) <= RETENTION
    assert RETENTION - 5 < state.r.ttl(keys.attendance(a.id)) <= RETENTION
    for ext in ("1001", "1002", "1003", "1004"):
        assert state.history.recent_attendances(ORG, ext, 1) == [a.id]
    assert state.history.recent_attendances(ORG, "1005", 1) == [b.id]
    streamed = [f for _, f in state.r.xrevrange(keys.HISTORY, count=50) if f["attendance"] in (a.id, b.id)]
    assert len(streamed) == 9
    assert streamed[-1] == {"attendance": a.id, "event": "start", "at": str(now), "org": ORG, "actor": "1001",
                            "target": "1002", "call_id": "hw-a1"}


def test_an_agents_recent_list_has_each_attendance_once_newest_first(state: EdgeState) -> None:
    history = state.history
    recent = keys.recent(ORG, "1011")
    state.r.delete(recent)
    first, second = new_attendance(), new_attendance()
    history.create_attendance(first, "hw-r1", Event(first.id, "start", time.time(), ORG, actor="1011"))
    history.create_attendance(second, "hw-r2", Event(second.id, "start", time.time(), ORG, target="1011"))
    assert history.recent_attendances(ORG, "1011") == [second.id, first.id]
    history.record_events(Event(first.id, "transfer", time.time(), ORG, actor="1011"))
    assert history.recent_attendances(ORG, "1011") == [first.id, second.id]
    # Already first: it stays so.
    history.record_events(Event(first.id, "conference", time.time(), ORG, actor="1011"))
    assert history.recent_attendances(ORG, "1011") == [first.id, second.id]
    # A call's ring, answer and end name agents it named before: their lists stay as they are.
    state.r.expire(recent, 100)
    for name in ("ring", "answer", "end"):
        history.record_events(Event(second.id, name, time.time(), ORG, actor="1011", target="1011"))
    assert history.recent_attendances(ORG, "1011") == [first.id, second.id]
    assert 0 < state.r.ttl(recent) <= 100
    # Bounded: the oldest go.
    for _ in range(RECENT_PER_AGENT):
        att = new_attendance()
        history.create_attendance(att, "hw-r3", Event(att.id, "start", time.time(), ORG, actor="1011"))
    assert state.r.llen(recent) == RECENT_PER_AGENT
    assert first.id not in history.recent_attendances(ORG, "1011", RECENT_PER_AGENT)


def test_a_calls_ring_offer_answer_and_end_leave_the_ttls_to_its_start(state: EdgeState) -> None:
    """Retention counts from a call's start (or a later transfer): the events that follow a
    start spend no EXPIRE of their own."""
    history = state.history
    recent = keys.recent(ORG, "1031")
    att = new_attendance()
    history.create_attendance(att, "hw-t1", Event(att.id, "start", time.time(), ORG, actor="1030", target="1031"))
    for key in (keys.attendance(att.id), recent):
        state.r.expire(key, 100)
    history.record_events(Event(att.id, "ring", time.time(), ORG, target="1031"),
                          Event(att.id, "offer", time.time(), ORG, target="1031"),
                          Event(att.id, "answer", time.time(), ORG, target="1031"))
    history.record_events(Event(att.id, "end", time.time(), ORG, actor="1031"))
    assert 0 < state.r.ttl(keys.attendance(att.id)) <= 100 and 0 < state.r.ttl(recent) <= 100
    assert [e.event for e in history.attendance_history(att.id)] == ["start", "ring", "offer", "answer", "end"]
    history.record_events(Event(att.id, "transfer", time.time(), ORG, actor="1031"))
    assert state.r.ttl(keys.attendance(att.id)) > RETENTION - 5
    assert 0 < state.r.ttl(recent) <= 100  # renewed at most hourly (the next test)


def test_a_recent_list_gets_its_ttl_when_made_then_at_most_hourly_per_process(
    state: EdgeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list outlives its newest attendance by the retention less at most the renewal period:
    each process renews a list's TTL once per period, and a list a write makes gets it at once."""
    monkeypatch.setattr(attendance, "RECENT_RENEW_EVERY", 1.0)
    recent = keys.recent(ORG, "1041")
    state.r.delete(recent)
    one, other = Attendances(state.r, RETENTION // 86400), Attendances(state.r, RETENTION // 86400)

    def start(history: Attendances) -> None:
        att = new_attendance()
        history.create_attendance(att, f"hw-{att.id}", Event(att.id, "start", time.time(), ORG, actor="1041"))

    start(one)
    assert state.r.ttl(recent) > RETENTION - 5  # made: its TTL at once
    state.r.expire(recent, 100)
    start(one)
    assert 0 < state.r.ttl(recent) <= 100  # renewed by this process within the period
    start(other)
    assert state.r.ttl(recent) > RETENTION - 5  # another process's first renewal
    state.r.expire(recent, 100)
    time.sleep(1.1)
    start(one)
    assert state.r.ttl(recent) > RETENTION - 5  # the period is over
    state.r.delete(recent)  # gone (its org deleted) and made again within the period: a TTL at once
    start(one)
    assert state.r.ttl(recent) > RETENTION - 5 and state.r.llen(recent) == 1


def test_a_write_redis_refused_leaves_its_lists_due_for_renewal(state: EdgeState) -> None:
    history = Attendances(state.r, RETENTION // 86400)
    recent = keys.recent(ORG, "1042")
    state.r.set(recent, "not a list")  # the LPUSH fails: the batch is refused
    att = new_attendance()
    with pytest.raises(redis.ResponseError):
        history.create_attendance(att, "hw-refused", Event(att.id, "start", time.time(), ORG, actor="1042"))
    state.r.delete(recent)
    state.r.rpush(recent, "older")
    state.r.expire(recent, 100)
    history.create_attendance(att, "hw-refused", Event(att.id, "start", time.time(), ORG, actor="1042"))
    assert state.r.ttl(recent) > RETENTION - 5


def test_an_expired_attendance_is_not_revived_by_a_late_write(state: EdgeState) -> None:
    history = state.history
    att = new_attendance()
    history.create_attendance(att, "hw-x1", Event(att.id, "start", time.time(), ORG, actor="1021"))
    state.r.delete(keys.attendance(att.id))  # its retention ran out
    history.record_events(Event(att.id, "end", time.time(), ORG, actor="1021"))
    history.link_leg(att.id, "hw-x2", Event(att.id, "conference", time.time(), ORG, actor="1021"))
    history.link_transfer(att.id, "hw-x3", Event(att.id, "transfer", time.time(), ORG, actor="1021"),
                          transferred=True, queue="500")
    assert not state.r.exists(keys.attendance(att.id))
    assert history.attendance(att.id) is None


@pytest.fixture
def forgetful(state: EdgeState) -> Attendances:
    """History writes as after a Redis restart: Redis knows none of the edge's scripts."""
    state.r.script_flush()
    return state.history


def test_a_write_on_its_own_loads_a_lost_script(state: EdgeState, forgetful: Attendances) -> None:
    att = new_attendance()
    forgetful.create_attendance(att, "hw-s1", Event(att.id, "start", time.time(), ORG, actor="1031"))
    assert story(state.history, att.id) == [("start", "1031", "", "")]
    state.r.script_flush()
    other = new_attendance()
    forgetful.create_attendance(other, "hw-s2", Event(other.id, "start", time.time(), ORG, actor="1031"))
    state.r.script_flush()
    forgetful.record_events(Event(att.id, "end", time.time(), ORG, actor="1031"),
                            Event(other.id, "end", time.time(), ORG, actor="1031"))
    assert [e.event for e in state.history.attendance_history(att.id)] == ["start", "end"]
    assert [e.event for e in state.history.attendance_history(other.id)] == ["start", "end"]


def test_a_dialog_event_keeps_its_history_when_the_script_was_lost(state: EdgeState,
                                                                   forgetful: Attendances) -> None:
    """The rest of the dialog event's transaction went through without the history writes:
    they are written after it, and the caller gets every result."""
    att = new_attendance()
    state.history.create_attendance(att, "hw-d1", Event(att.id, "start", time.time(), ORG, actor="1041"))
    supervised = keys.supervised_call("hw-d1")
    state.r.sadd(supervised, "hw-sup")
    ended = DialogEvents(state.r, forgetful).record(None, Event(att.id, "end", time.time(), ORG, actor="1041",
                                                              call_id="hw-d1"), ended_call="hw-d1")
    assert ended.supervisors == ["hw-sup"]
    assert not state.r.exists(supervised)
    assert story(state.history, att.id) == [("start", "1041", "", ""), ("end", "1041", "", "hw-d1")]


class Captured:
    """A sink that keeps what it is handed (as the edge's history queue does)."""

    def __init__(self) -> None:
        self.writes: list[Writes] = []

    def put(self, writes: Writes) -> bool:
        self.writes.append(writes)
        return True

    def settle(self, dialogs_only: bool = False) -> None:
        pass


def calls_of_two_attendances(history: Attendances, a: Attendance, b: Attendance, now: float) -> None:
    """Two calls' histories, interleaved as a writer's batch may hold them."""
    history.create_attendance(a, "hw-b-a1", Event(a.id, "start", now, ORG, actor="1051", target="1052",
                                                  call_id="hw-b-a1"))
    history.create_attendance(b, "hw-b-b1", Event(b.id, "start", now, ORG, actor="1053", target="1051",
                                                  call_id="hw-b-b1"))
    history.record_events(Event(a.id, "answer", now + 1, ORG, target="1052", call_id="hw-b-a1"))
    history.link_leg(a.id, "hw-b-a2", Event(a.id, "conference", now + 2, ORG, actor="1051", target="1054",
                                            call_id="hw-b-a2"))
    history.record_events(Event(b.id, "end", now + 3, ORG, actor="1053", call_id="hw-b-b1"))
    history.record_events(Event(a.id, "end", now + 4, ORG, actor="1052", call_id="hw-b-a1"))


def test_a_batch_of_writes_leaves_the_same_history_as_the_writes_one_by_one(state: EdgeState) -> None:
    now = time.time()
    agents = ("1051", "1052", "1053", "1054")
    state.r.delete(*(keys.recent(ORG, ext) for ext in agents))
    one_by_one = (new_attendance(now), new_attendance(now))
    calls_of_two_attendances(state.history, *one_by_one, now)
    expected_lists = {ext: state.history.recent_attendances(ORG, ext) for ext in agents}

    state.r.delete(*(keys.recent(ORG, ext) for ext in agents))
    batched = (new_attendance(now), new_attendance(now))
    queued = Attendances(state.r, 30)
    queued.sink = Captured()
    calls_of_two_attendances(queued, *batched, now)
    assert not state.r.exists(keys.attendance(batched[0].id))  # nothing written yet
    client, sent = counting(state)
    sent.clear()
    Attendances(client, 30).write_batch(queued.sink.writes)
    assert sent_without_pings(sent) == ["EVALSHA"]

    for done, single in zip(batched, one_by_one, strict=True):
        assert story(state.history, done.id) == story(state.history, single.id)
        got, want = state.r.hgetall(keys.attendance(done.id)), state.r.hgetall(keys.attendance(single.id))
        assert {k: v for k, v in got.items() if k not in ("id",)} == {
            k: v.replace(single.id, done.id) for k, v in want.items() if k not in ("id",)}
    swap = {one_by_one[0].id: batched[0].id, one_by_one[1].id: batched[1].id}
    assert {ext: state.history.recent_attendances(ORG, ext) for ext in agents} == {
        ext: [swap[att] for att in atts] for ext, atts in expected_lists.items()}
    assert state.r.get(keys.call_attendance("hw-b-a2")) == batched[0].id
